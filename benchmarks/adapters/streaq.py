"""streaq: Redis-streams queue on coredis/anyio.  `task.enqueue()` awaited per job;
bulk via `Worker.enqueue_many` (one pipeline); worker via `Worker.run_sync()`.

Defaults kept: concurrency=16 (prefetch = 2 x concurrency), results kept with
streaq's default TTL.  The worker is started through the documented
``run_sync()`` API rather than ``streaq run`` only because the CLI configures
INFO logging of every task.
"""

from __future__ import annotations

import asyncio
import os

from streaq import Worker

from . import _common as c
from .base import AsyncAdapter

worker = Worker(
    redis_url=os.environ.get(c.ENV_URL, "redis://unset:1/0"), concurrency=c.concurrency(16)
)


@worker.task
async def noop() -> None:
    await c.noop_async()


@worker.task
async def sleep10() -> None:
    await c.sleep_async()


@worker.task
async def lat(t: float) -> None:
    await c.lat_async(t)


KINDS = {"noop": noop, "sleep": sleep10}


class Adapter(AsyncAdapter):
    name = "streaq"
    dist = "streaq"
    drain_concurrency = 16
    concurrency_unit = "concurrency (anyio tasks), streaq default"
    bulk_na = None
    bulk_how = "Worker.enqueue_many([task.enqueue() ...]) (one pipeline)"

    async def aopen(self) -> None:
        # `async with worker:` must stay open for all enqueues; hold it in a task
        # that lives on this adapter's persistent event loop.
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()

        async def hold() -> None:
            async with worker:
                self._ready.set()
                await self._stop.wait()

        self._holder = asyncio.create_task(hold())
        await self._ready.wait()

    async def aclose(self) -> None:
        self._stop.set()
        await self._holder

    async def aenqueue_one(self, n: int, kind: str) -> None:
        task = KINDS[kind]
        for _ in range(n):
            await task.enqueue()

    async def aenqueue_bulk(self, n: int, kind: str) -> None:
        task = KINDS[kind]
        await worker.enqueue_many([task.enqueue() for _ in range(n)])

    async def aenqueue_lat(self, t_enq: float) -> None:
        await lat.enqueue(t_enq)

    def worker_command(self, concurrency: int) -> list[str]:
        return self.py("from benchmarks.adapters.streaq import worker\nworker.run_sync()\n")
