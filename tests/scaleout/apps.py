"""The App that worker subprocesses of the scale-out tests run.

``python -m rtask worker tests.scaleout.apps:app …`` with ``RTASK_TEST_URL``
(the App's URL: sentinel, cluster, TLS …), ``RTASK_TEST_PREFIX`` and
``RTASK_TEST_RECORD_URL`` set. Runs are recorded on that separate, plain
Redis, which no failover touches:

    <prefix>:ran   list   "<job id> <pid> <attempt> <unix time>" per run, at its start
"""

from __future__ import annotations

import asyncio
import os
import time
from functools import cache
from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from rtask import App, current_job

_recorders: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}


def ran_key(prefix: str) -> str:
    return f"{prefix}:ran"


def build_app(url: str, prefix: str, record_url: str, queues: tuple[str, ...] = ()) -> App:
    """An App with a task `work` (and `work.<queue>` for each of `queues`)."""
    app = App(url, prefix=prefix)

    def recorder() -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if loop not in _recorders:
            _recorders[loop] = redis.asyncio.Redis.from_url(
                record_url, retry=Retry(NoBackoff(), 3), retry_on_error=[redis.ConnectionError]
            )
        return _recorders[loop]

    async def work(seconds: float = 0.01) -> int:
        job = current_job()
        entry = f"{job.id} {os.getpid()} {job.attempt} {time.time():.6f}"
        await recorder().rpush(ran_key(prefix), entry)
        await asyncio.sleep(seconds)
        return os.getpid()

    app.task(name="work", max_attempts=10, backoff=0.1)(work)
    for queue in queues:
        app.task(name=f"work.{queue}", queue=queue, max_attempts=10, backoff=0.1)(work)
    return app


@cache
def _app() -> App:
    queues = tuple(q for q in os.environ.get("RTASK_TEST_QUEUES", "").split(",") if q)
    return build_app(
        os.environ["RTASK_TEST_URL"],
        os.environ["RTASK_TEST_PREFIX"],
        os.environ["RTASK_TEST_RECORD_URL"],
        queues,
    )


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(name)
