"""taskiq + taskiq-redis: `RedisStreamBroker` (the broker taskiq-redis recommends,
with acknowledgements); `task.kiq()` per job; worker via the `taskiq worker` CLI.

No result backend (fire-and-forget, like the other frameworks' no-op jobs).
Defaults kept: max-async-tasks=100 per worker process.  `taskiq worker --workers P`
forks P worker processes under one supervisor process.
"""

from __future__ import annotations

import os

from taskiq_redis import RedisStreamBroker

from . import _common as c
from .base import AsyncAdapter

# Built from BENCH_REDIS_URL, which the harness sets for itself and its workers.
broker = RedisStreamBroker(url=os.environ.get(c.ENV_URL, "redis://unset:1/0"))


@broker.task(task_name="noop")
async def noop() -> None:
    await c.noop_async()


@broker.task(task_name="sleep10")
async def sleep10() -> None:
    await c.sleep_async()


@broker.task(task_name="lat")
async def lat(t: float) -> None:
    await c.lat_async(t)


KINDS = {"noop": noop, "sleep": sleep10}


class Adapter(AsyncAdapter):
    name = "taskiq"
    dist = "taskiq"
    drain_concurrency = 100
    concurrency_unit = "--max-async-tasks (asyncio tasks), taskiq default"
    bulk_na = "no bulk enqueue API (kiq() per task)"

    async def aopen(self) -> None:
        await broker.startup()  # as taskiq documents for the producer side

    async def aclose(self) -> None:
        await broker.shutdown()

    def on_flush(self) -> None:
        # startup() declared the consumer group (created at "$"); the harness'
        # FLUSHALL deleted it, so declare it again as a freshly started producer would.
        self.run(broker._declare_consumer_group())

    async def aenqueue_one(self, n: int, kind: str) -> None:
        kiq = KINDS[kind].kiq
        for _ in range(n):
            await kiq()

    async def aenqueue_lat(self, t_enq: float) -> None:
        await lat.kiq(t_enq)

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        return [
            [
                self.bin("taskiq"),
                "worker",
                "benchmarks.adapters.taskiq:broker",
                "--workers",
                str(processes),
                "--max-async-tasks",
                str(concurrency),
                "--log-level",
                "WARNING",
            ]
        ]
