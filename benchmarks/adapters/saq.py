"""saq: `Queue.enqueue` (one Lua script call per job); worker via `python -m saq <settings>`.

Defaults kept: concurrency=10, saq's own upkeep/sweep timers, job TTL defaults.
saq has `Queue.map`, but it waits for results, so it is not a bulk enqueue.
"""

from __future__ import annotations

import os

from saq import Queue

from . import _common as c
from .base import AsyncAdapter


async def noop(ctx):
    await c.noop_async()


async def sleep10(ctx):
    await c.sleep_async()


async def lat(ctx, *, t):
    await c.lat_async(t)


settings = None
if os.environ.get(c.ENV_URL):  # worker side: build the settings dict saq's CLI imports
    settings = {
        "queue": Queue.from_url(c.redis_url(), name="bench"),
        "functions": [noop, sleep10, lat],
        "concurrency": c.concurrency(10),
    }

KINDS = {"noop": "noop", "sleep": "sleep10"}


class Adapter(AsyncAdapter):
    name = "saq"
    dist = "saq"
    drain_concurrency = 10
    concurrency_unit = "concurrency (asyncio tasks), saq default"
    bulk_na = "no bulk enqueue API (Queue.map waits for results)"

    async def aopen(self) -> None:
        self.queue = Queue.from_url(self.redis_url, name="bench")
        await self.queue.connect()

    async def aclose(self) -> None:
        await self.queue.disconnect()

    async def aenqueue_one(self, n: int, kind: str) -> None:
        fn = KINDS[kind]
        enqueue = self.queue.enqueue
        for _ in range(n):
            await enqueue(fn)

    async def aenqueue_lat(self, t_enq: float) -> None:
        await self.queue.enqueue("lat", t=t_enq)

    def worker_command(self, concurrency: int) -> list[str]:
        return [self.py("")[0], "-m", "saq", "benchmarks.adapters.saq.settings"]
