"""The App that worker subprocesses of the fault tests run.

A worker is started as ``python -m rtask worker tests.faults.apps:app …`` with
``RTASK_TEST_URL`` and ``RTASK_TEST_PREFIX`` set; the module attribute ``app`` is
built from them on first access. Test code builds the same App with
``build_app(url, prefix)`` to enqueue jobs and read their records.

Every task records what it does under ``<prefix>:t:…`` (see ``record_key``) so a
test can observe worker processes from outside. Records go through clients of
their own that retry on connection errors, so a Redis restart does not make
the instrumentation fail a job:

    ran           list   one "<job id> <pid> <attempt> <task>" per run, at its start
    done          list   task name, appended when a run of capped/free returns
    running       string capped runs in progress now, across every process
    max           zset   member "capped": the highest value `running` reached
    sleep_override string when set, sleepy/sleepy_sync sleep this long instead
    barrier:<n>   string runs of barrier(<n>, …) that arrived so far
    spans         list   one "<job id> <start ms> <end ms>" per run of ticker

A worker process also declares the schedules of ``RTASK_TEST_SCHEDULES`` when
set: a JSON list of `app.schedule` keyword arguments for the task ``ticker``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from functools import cache
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from rtask import App, current_job

CAP = 3  # concurrency cap of the "capped" task
RATE = (5, 0.5)  # rate limit of the "limited" task: 5 starts per 0.5 s
BARRIER_TIMEOUT_S = 15.0


def record_key(prefix: str, name: str) -> str:
    """A key for what the tasks record (outside rtask's own key space)."""
    return f"{prefix}:t:{name}"


_async_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}
_sync_clients: dict[str, redis.Redis] = {}


def _recorder(url: str) -> redis.asyncio.Redis:
    """The recording client of the running loop."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = redis.asyncio.Redis.from_url(
            url, retry=AsyncRetry(NoBackoff(), 3), retry_on_error=[redis.ConnectionError]
        )
    return client


def _sync_recorder(url: str) -> redis.Redis:
    client = _sync_clients.get(url)
    if client is None:
        client = _sync_clients[url] = redis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 3), retry_on_error=[redis.ConnectionError]
        )
    return client


def build_app(url: str, prefix: str) -> App:
    """An App on `url` and `prefix` with the tasks of the fault tests."""
    app = App(url, prefix=prefix)

    def k(name: str) -> str:
        return record_key(prefix, name)

    def entry() -> str:
        job = current_job()
        return f"{job.id} {os.getpid()} {job.attempt} {job.task}"

    async def sleep_for(r: Any, seconds: float) -> float:
        override = await r.get(k("sleep_override"))
        return float(override) if override is not None else seconds

    @app.task(name="capped", concurrency=CAP)
    async def capped(seconds: float) -> int:
        r = _recorder(url)
        await r.rpush(k("ran"), entry())
        now_running = await r.incr(k("running"))
        await r.zadd(k("max"), {"capped": now_running}, gt=True)
        try:
            await asyncio.sleep(seconds)
        finally:
            await r.decr(k("running"))
        await r.rpush(k("done"), "capped")
        return os.getpid()

    @app.task(name="limited", rate_limit=RATE)
    async def limited() -> int:
        r = _recorder(url)
        await r.rpush(k("ran"), entry())
        return os.getpid()

    @app.task(name="free")
    async def free() -> int:
        r = _recorder(url)
        await r.rpush(k("ran"), entry())
        await r.rpush(k("done"), "free")
        return os.getpid()

    @app.task(name="sleepy")
    async def sleepy(seconds: float) -> int:
        r = _recorder(url)
        await r.rpush(k("ran"), entry())
        await asyncio.sleep(await sleep_for(r, seconds))
        return os.getpid()

    @app.task(name="sleepy_sync")  # a sync function: runs in a thread, ignores cancellation
    def sleepy_sync(seconds: float) -> int:
        r = _sync_recorder(url)
        r.rpush(k("ran"), entry())
        override = r.get(k("sleep_override"))
        time.sleep(float(override) if override is not None else seconds)
        return os.getpid()

    @app.task(name="barrier")
    async def barrier(n: int, name: str) -> int:
        """Returns once `n` runs of barrier(n, name) have started, in any processes."""
        r = _recorder(url)
        await r.rpush(k("ran"), entry())
        await r.incr(k(f"barrier:{name}"))
        deadline = time.monotonic() + BARRIER_TIMEOUT_S
        while int(await r.get(k(f"barrier:{name}")) or 0) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"barrier {name}: fewer than {n} runs arrived")
            await asyncio.sleep(0.01)
        return os.getpid()

    _schedule_tasks(app, url, prefix)
    return app


def _schedule_tasks(app: App, url: str, prefix: str) -> None:
    @app.task(name="ticker")
    async def ticker(seconds: float) -> None:
        """A schedule's task: records its run and how long it took."""
        r = _recorder(url)
        job = current_job()
        await r.rpush(record_key(prefix, "ran"), f"{job.id} {os.getpid()} {job.attempt} {job.task}")
        start = int(time.time() * 1000)
        await asyncio.sleep(seconds)
        await r.rpush(record_key(prefix, "spans"), f"{job.id} {start} {int(time.time() * 1000)}")


@cache
def _env_app() -> App:
    app = build_app(os.environ["RTASK_TEST_URL"], os.environ["RTASK_TEST_PREFIX"])
    for spec in json.loads(os.environ.get("RTASK_TEST_SCHEDULES") or "[]"):
        app.schedule(app.tasks["ticker"], **spec)
    return app


def __getattr__(name: str) -> Any:
    # `app` is built on first access, so test code can import this module
    # without the environment of a worker process.
    if name == "app":
        return _env_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
