"""huey with RedisHuey: calling the task enqueues it (one LPUSH); worker via the
`huey_consumer` CLI with thread workers (`-k thread -w T`).

Defaults kept: blocking BRPOP dequeue (read_timeout 1 s), results stored only
for non-None return values, scheduler thread.  `-q` drops per-task INFO logs.
huey's `task.map()` enqueues one by one, so there is no bulk enqueue.
"""

from __future__ import annotations

import os

from huey import RedisHuey

from . import _common as c
from .base import BaseAdapter

huey = RedisHuey("bench", url=os.environ.get(c.ENV_URL, "redis://unset:1/0"))


@huey.task()
def noop() -> None:
    c.noop_sync()


@huey.task()
def sleep10() -> None:
    c.sleep_sync()


@huey.task()
def lat(t: float) -> None:
    c.lat_sync(t)


KINDS = {"noop": noop, "sleep": sleep10}


class Adapter(BaseAdapter):
    name = "huey"
    dist = "huey"
    drain_concurrency = 1
    concurrency_unit = "-w worker threads, huey default (1)"
    bulk_na = "no bulk enqueue API (task.map() enqueues one by one)"

    def enqueue_one(self, n: int, kind: str = "noop") -> None:
        task = KINDS[kind]
        for _ in range(n):
            task()

    def enqueue_lat(self, t_enq: float) -> None:
        lat(t_enq)

    def worker_command(self, concurrency: int) -> list[str]:
        return [
            self.bin("huey_consumer"),
            "benchmarks.adapters.huey.huey",
            "-k",
            "thread",
            "-w",
            str(concurrency),
            "-q",
        ]

    def c_concurrency(self, wanted: int) -> tuple[int, str]:
        return wanted, "-k thread -w 100 (OS threads)"
