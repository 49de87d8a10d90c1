"""rtask: `await Task.enqueue` (one enqueue_plain.lua call per job, on rtask's
lean pipelined connection), and `Task.enqueue_sync` for A's sync figure (the
same call on the sync client's connection), `Task.enqueue_many` (1,000 jobs per
enqueue_plain.lua call, pipelined); worker via `rtask worker`.

Settings: the worker's default lease/heartbeat; concurrency 100 asyncio tasks
per process for B/D (claims and finishes are batched up to that many jobs per
round trip).
"""

from __future__ import annotations

import os
import sys

import rtask

from . import _common as c
from .base import AsyncAdapter

app = rtask.App(os.environ.get(c.ENV_URL) or "memory://bench", prefix="bench")


@app.task(name="noop")
async def noop() -> None:
    await c.noop_async()


@app.task(name="sleep10")
async def sleep10() -> None:
    await c.sleep_async()


@app.task(name="lat")
async def lat(t: float) -> None:
    await c.lat_async(t)


KINDS = {"noop": noop, "sleep": sleep10}


class Adapter(AsyncAdapter):
    name = "rtask"
    dist = "rtask"
    drain_concurrency = 100
    concurrency_unit = "concurrency (asyncio tasks); batched claim/finish"
    bulk_na = None
    bulk_how = "Task.enqueue_many: 1,000 jobs per enqueue_plain.lua call, pipelined"
    has_sync_one = True

    async def aopen(self) -> None:
        self.app = rtask.App(self.redis_url, prefix="bench")
        self.tasks = {kind: self.app.task(name=t.name)(t.fn) for kind, t in KINDS.items()}
        self.lat = self.app.task(name="lat")(lat.fn)

    async def aclose(self) -> None:
        await self.app.aclose()

    async def aenqueue_one(self, n: int, kind: str) -> None:
        enqueue = self.tasks[kind].enqueue
        for _ in range(n):
            await enqueue()

    def enqueue_one_sync(self, n: int, kind: str = "noop") -> None:
        enqueue = self.tasks[kind].enqueue_sync
        for _ in range(n):
            enqueue()

    async def aenqueue_bulk(self, n: int, kind: str) -> None:
        await self.tasks[kind].enqueue_many([()] * n)

    async def aenqueue_lat(self, t_enq: float) -> None:
        await self.lat.enqueue(t_enq)

    def worker_command(self, concurrency: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "rtask",
            "--log-level",
            "WARNING",
            "worker",
            "benchmarks.adapters.rtask:app",
            "--concurrency",
            str(concurrency),
        ]
