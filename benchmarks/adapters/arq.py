"""arq: `ArqRedis.enqueue_job` (WATCH + EXISTS + MULTI/EXEC per job);
worker via `arq.worker.run_worker`.

Defaults kept (max_jobs=10, keep_result=3600 s, queue_read_limit=100) except
``poll_delay``: arq's worker sleeps ``poll_delay`` (default 0.5 s) between polls
and reads at most ``queue_read_limit`` (100) job ids per poll, which caps a
default worker at ~200 jobs/s and gives ~250 ms median pickup latency.  We set
the documented ``poll_delay`` to 0.01 s (override: BENCH_ARQ_POLL_DELAY) so the
measurement shows arq's processing cost rather than its idle sleep.

The worker is started through arq's documented ``run_worker(WorkerSettings)``
API rather than the ``arq`` CLI only because the CLI forces INFO logging of
every job.
"""

from __future__ import annotations

import os

from arq import create_pool
from arq.connections import RedisSettings

from . import _common as c
from .base import AsyncAdapter


async def noop(ctx):
    await c.noop_async()


async def sleep10(ctx):
    await c.sleep_async()


async def lat(ctx, t):
    await c.lat_async(t)


class WorkerSettings:
    functions = [noop, sleep10, lat]
    max_jobs = c.concurrency(10)
    poll_delay = float(os.environ.get("BENCH_ARQ_POLL_DELAY", "0.01"))

    @staticmethod
    def _redis() -> RedisSettings:
        return RedisSettings.from_dsn(c.redis_url())


KINDS = {"noop": "noop", "sleep": "sleep10"}


class Adapter(AsyncAdapter):
    name = "arq"
    dist = "arq"
    drain_concurrency = 10
    concurrency_unit = "max_jobs (asyncio tasks), arq default"
    bulk_na = "no bulk enqueue API (enqueue_job only)"
    notes = [
        "poll_delay lowered 0.5 s -> 0.01 s (with the default a worker is capped near"
        " 100 jobs per 0.5 s poll = ~200 jobs/s, and median pickup is ~250 ms)"
    ]

    async def aopen(self) -> None:
        self.pool = await create_pool(RedisSettings.from_dsn(self.redis_url))

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def aenqueue_one(self, n: int, kind: str) -> None:
        fn = KINDS[kind]
        enqueue = self.pool.enqueue_job
        for _ in range(n):
            await enqueue(fn)

    async def aenqueue_lat(self, t_enq: float) -> None:
        await self.pool.enqueue_job("lat", t_enq)

    def worker_command(self, concurrency: int) -> list[str]:
        return self.py(
            "from arq.worker import run_worker\n"
            "from benchmarks.adapters.arq import WorkerSettings as S\n"
            "S.redis_settings = S._redis()\n"
            f"run_worker(S, max_jobs={concurrency})\n"
        )
