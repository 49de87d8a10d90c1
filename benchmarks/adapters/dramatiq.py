"""dramatiq with its RedisBroker: `actor.send()` per job (one Lua `enqueue` script
call); worker via the `dramatiq` CLI (`--processes 1 --threads T` per process).

Defaults kept: 8 worker threads per process, default middleware, no result
backend.  dramatiq has `group(...).run()`, but it sends messages one by one, so
there is no bulk enqueue.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from . import _common as c
from .base import BaseAdapter

broker = RedisBroker(url=os.environ.get(c.ENV_URL, "redis://unset:1/0"))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench")
def noop() -> None:
    c.noop_sync()


@dramatiq.actor(queue_name="bench")
def sleep10() -> None:
    c.sleep_sync()


@dramatiq.actor(queue_name="bench")
def lat(t: float) -> None:
    c.lat_sync(t)


KINDS = {"noop": noop, "sleep": sleep10}


class Adapter(BaseAdapter):
    name = "dramatiq"
    dist = "dramatiq"
    drain_concurrency = 8
    concurrency_unit = "--threads per process, dramatiq default"
    bulk_na = "no bulk enqueue API (group().run() sends one by one)"

    def enqueue_one(self, n: int, kind: str = "noop") -> None:
        send = KINDS[kind].send
        for _ in range(n):
            send()

    def enqueue_lat(self, t_enq: float) -> None:
        lat.send(t_enq)

    def worker_command(self, concurrency: int) -> list[str]:
        return [
            self.bin("dramatiq"),
            "benchmarks.adapters.dramatiq",
            "--processes",
            "1",
            "--threads",
            str(concurrency),
        ]

    def c_concurrency(self, wanted: int) -> tuple[int, str]:
        return wanted, "--threads 100 (OS threads)"
