"""The App that worker subprocesses of the sharded-queue cluster test run.

``python -m rtask worker tests.cluster.shard_apps:app …`` with
``RTASK_TEST_URL`` (the cluster), ``RTASK_TEST_PREFIX`` and
``RTASK_TEST_RECORD_URL`` (a plain Redis where the tasks record what they do,
so the test observes every process from outside):

    running  string  capped runs in progress now, across every process
    max      string  the highest value `running` reached
    ran      list    "<pid> <task> <queue>" per run
"""

from __future__ import annotations

import asyncio
import os
from functools import cache
from typing import Any

import redis.asyncio

from rtask import App, current_job

QUEUE = "mail"
SHARDS = 6
CAP = 3

_recorders: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}


def record_key(prefix: str, name: str) -> str:
    return f"{prefix}:t:{name}"


def _recorder(url: str) -> redis.asyncio.Redis:
    loop = asyncio.get_running_loop()
    if loop not in _recorders:
        _recorders[loop] = redis.asyncio.Redis.from_url(url)
    return _recorders[loop]


def build_app(url: str, prefix: str, record_url: str) -> App:
    """An App with `capped` (cap CAP) and `free` on QUEUE spread over SHARDS shards."""
    app = App(url, prefix=prefix, shards={QUEUE: SHARDS})

    def k(name: str) -> str:
        return record_key(prefix, name)

    @app.task(name="capped", queue=QUEUE, concurrency=CAP)
    async def capped(seconds: float) -> int:
        r = _recorder(record_url)
        await r.rpush(k("ran"), f"{os.getpid()} capped {current_job().queue}")
        now = await r.incr(k("running"))
        # the highest value seen: a Lua max keeps it exact under concurrency
        await r.eval(
            "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then"
            " redis.call('SET', KEYS[1], ARGV[1]) end",
            1,
            k("max"),
            now,
        )
        try:
            await asyncio.sleep(seconds)
        finally:
            await r.decr(k("running"))
        return os.getpid()

    @app.task(name="free", queue=QUEUE)
    async def free() -> int:
        r = _recorder(record_url)
        await r.rpush(k("ran"), f"{os.getpid()} free {current_job().queue}")
        return os.getpid()

    return app


@cache
def _app() -> App:
    return build_app(
        os.environ["RTASK_TEST_URL"],
        os.environ["RTASK_TEST_PREFIX"],
        os.environ["RTASK_TEST_RECORD_URL"],
    )


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(name)
