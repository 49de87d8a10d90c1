"""Task bodies shared by every adapter.

Each framework registers three tiny tasks that call these helpers:

* ``noop``    -- count one job done (see below); no Redis call in the task.
* ``sleep10`` -- record the first start time (SET NX, once per process), sleep
  10 ms, count one job done.
* ``lat(t)``  -- push ``time.time() - t`` (enqueue->start seconds) and INCR the
  done counter at once (one job per 5 ms: nothing to batch).

Counting done jobs: a no-op job must cost the framework's own work only, so
``noop`` and ``sleep10`` add 1 to a counter in the worker process, and a
daemon thread per process adds what was counted to ``bench:done`` in Redis
every ``FLUSH_S`` (one ``INCRBY`` plus one ``INCR bench:flushes`` in one
round trip).  The harness learns completion from ``bench:done`` at most
``FLUSH_S`` late and subtracts exactly ``2 x bench:flushes`` commands when it
reports "framework commands per job".  (Until 2026-11-23 each job sent its own
INCR: a round trip per job that capped every async framework near the rate
one client can send commands, and hid the frameworks' own batching.)

Worker processes read the Redis URL from ``BENCH_REDIS_URL`` and create one
client per process (sync) or per event loop (async), lazily.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

DONE_KEY = "bench:done"
FLUSHES_KEY = "bench:flushes"
LAT_KEY = "bench:lat"
T0_KEY = "bench:t0"
SLEEP_S = 0.010
FLUSH_S = 0.005

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
    _done.add()


def sleep_sync() -> None:
    _mark_t0()
    time.sleep(SLEEP_S)
    _done.add()


def lat_sync(t_enq: float) -> None:
    d = time.time() - float(t_enq)
    p = _sync().pipeline(transaction=False)
    p.rpush(LAT_KEY, repr(d))
    p.incr(DONE_KEY)
    p.execute()


# ------------------------------------------------------- done-job counting
class _DoneCounter:
    """Jobs done in this process, added to DONE_KEY by a daemon thread every FLUSH_S.

    Invariant: ``flushed <= counted``, and every job counted reaches Redis
    within FLUSH_S (plus one round trip) while the process lives.  Re-created
    after a fork (pool processes of prefork frameworks).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counted = 0
        self.pid: int | None = None

    def add(self) -> None:
        if self.pid != os.getpid():
            self._start()
        with self.lock:
            self.counted += 1

    def _start(self) -> None:
        with _start_lock:  # two threads of a new process: one flusher
            if self.pid == os.getpid():
                return
            self.lock = threading.Lock()
            self.counted = 0
            self.pid = os.getpid()
            threading.Thread(target=self._flush_forever, name="bench-done", daemon=True).start()

    def _flush_forever(self) -> None:
        # A bare socket and hand-written RESP: the thread takes the GIL from
        # the worker for a few microseconds per flush, not a client's worth.
        url = urlsplit(redis_url())
        sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379))
        flushed = 0
        pid = self.pid
        while self.pid == pid:
            time.sleep(FLUSH_S)
            with self.lock:
                delta = self.counted - flushed
            if delta:
                sock.sendall(_resp("INCRBY", DONE_KEY, str(delta)) + _resp("INCR", FLUSHES_KEY))
                replies = b""
                while replies.count(b"\r\n") < 2:  # two integer replies
                    chunk = sock.recv(64)
                    if not chunk:
                        raise ConnectionError("redis closed the done counter's connection")
                    replies += chunk
                if not replies.startswith(b":"):
                    raise RuntimeError(f"done counter flush failed: {replies!r}")
                flushed += delta


def _resp(*words: str) -> bytes:
    out = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


_start_lock = threading.Lock()
_done = _DoneCounter()
_t0_pid: int | None = None


def _mark_t0() -> None:
    """SET NX the first start time, once per process (the earliest process wins)."""
    global _t0_pid
    if _t0_pid != os.getpid():
        _t0_pid = os.getpid()
        _sync().set(T0_KEY, repr(time.time()), nx=True)


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
    _done.add()


async def sleep_async() -> None:
    _mark_t0()
    await asyncio.sleep(SLEEP_S)
    _done.add()


async def lat_async(t_enq: float) -> None:
    d = time.time() - float(t_enq)
    p = _async().pipeline(transaction=False)
    p.rpush(LAT_KEY, repr(d))
    p.incr(DONE_KEY)
    await p.execute()
