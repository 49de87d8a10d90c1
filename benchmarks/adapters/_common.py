"""Task bodies shared by every adapter.

Each framework registers three tiny tasks that call these helpers:

* ``noop``    -- INCR the done counter (the only way the harness learns completion).
* ``sleep10`` -- record the first start time (SET NX), sleep 10 ms, INCR the counter.
* ``lat(t)``  -- push ``time.time() - t`` (enqueue->start seconds) and INCR the counter.

Worker processes read the Redis URL from ``BENCH_REDIS_URL`` and create one
client per process (sync) or per event loop (async), lazily.  The harness
subtracts the one INCR per job when it reports "framework commands per job".
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

DONE_KEY = "bench:done"
LAT_KEY = "bench:lat"
T0_KEY = "bench:t0"
SLEEP_S = 0.010

ENV_URL = "BENCH_REDIS_URL"
ENV_CONCURRENCY = "BENCH_CONCURRENCY"


def redis_url() -> str:
    url = os.environ.get(ENV_URL)
    if not url:
        raise RuntimeError(f"{ENV_URL} is not set (the harness sets it for its own redis-server)")
    return url


def concurrency(default: int) -> int:
    return int(os.environ.get(ENV_CONCURRENCY) or default)


# ---------------------------------------------------------------- sync side
_sync_client: Any = None
_sync_pid: int | None = None


def _sync() -> Any:
    global _sync_client, _sync_pid
    if _sync_client is None or _sync_pid != os.getpid():  # re-create after fork
        import redis

        _sync_client = redis.Redis.from_url(redis_url())
        _sync_pid = os.getpid()
    return _sync_client


def noop_sync() -> None:
    _sync().incr(DONE_KEY)


def sleep_sync() -> None:
    r = _sync()
    r.set(T0_KEY, repr(time.time()), nx=True)
    time.sleep(SLEEP_S)
    r.incr(DONE_KEY)


def lat_sync(t_enq: float) -> None:
    d = time.time() - float(t_enq)
    p = _sync().pipeline(transaction=False)
    p.rpush(LAT_KEY, repr(d))
    p.incr(DONE_KEY)
    p.execute()


# --------------------------------------------------------------- async side
_async_clients: dict[tuple[int, int], Any] = {}


def _async() -> Any:
    loop = asyncio.get_running_loop()
    key = (os.getpid(), id(loop))
    c = _async_clients.get(key)
    if c is None:
        import redis.asyncio

        c = redis.asyncio.Redis.from_url(redis_url())
        _async_clients[key] = c
    return c


async def noop_async() -> None:
    await _async().incr(DONE_KEY)


async def sleep_async() -> None:
    r = _async()
    await r.set(T0_KEY, repr(time.time()), nx=True)
    await asyncio.sleep(SLEEP_S)
    await r.incr(DONE_KEY)


async def lat_async(t_enq: float) -> None:
    d = time.time() - float(t_enq)
    p = _async().pipeline(transaction=False)
    p.rpush(LAT_KEY, repr(d))
    p.incr(DONE_KEY)
    await p.execute()
