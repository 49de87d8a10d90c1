# The image of docker-compose.yml: rtask, the example apps, and the servers
# the producer example needs (fastapi, uvicorn: not dependencies of rtask).
#   docker build -t rtask-example .
#   docker run --rm -e RTASK_REDIS_URL=redis://redis:6379/0 rtask-example   # a worker
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv

COPY pyproject.toml README.md ./
COPY rtask ./rtask
COPY lua ./lua
RUN pip install . fastapi "uvicorn[standard]"
COPY examples ./examples

# no root in the container; the worker answers probes on 8001
USER nobody
EXPOSE 8000 8001
# SIGTERM (docker stop) lets running jobs finish within --grace, then hands
# the rest back: keep the stop timeout above it (stop_grace_period)
CMD ["rtask", "worker", "examples.fastapi_producer.tasks:app", "--queues", "default,emails", \
     "--health-port", "8001"]
