"""RQ: `Queue.enqueue` per job; bulk via `Queue.enqueue_many` + `Queue.prepare_data`
(one pipeline); worker via the `rq worker` CLI.

RQ runs one job at a time per worker process.  Its default `Worker` forks a
work horse per job; we use the documented `rq.worker.SimpleWorker`, which runs
jobs in the worker process itself and is the fastest option for short jobs.
Defaults kept otherwise (result_ttl 500 s).  `--quiet` drops per-job INFO logs.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue

from . import _common as c
from .base import BaseAdapter


def noop() -> None:
    c.noop_sync()


def sleep10() -> None:
    c.sleep_sync()


def lat(t: float) -> None:
    c.lat_sync(t)


KINDS = {"noop": noop, "sleep": sleep10}


class Adapter(BaseAdapter):
    name = "rq"
    dist = "rq"
    drain_concurrency = 1
    concurrency_unit = "one job at a time per worker process (SimpleWorker)"
    bulk_na = None
    bulk_how = "Queue.enqueue_many([Queue.prepare_data(f) ...]) (one pipeline)"
    notes = ["rq.worker.SimpleWorker (no fork per job)"]

    def setup(self) -> None:
        self.q = Queue("bench", connection=Redis.from_url(self.redis_url))

    def close(self) -> None:
        self.q.connection.close()

    def enqueue_one(self, n: int, kind: str = "noop") -> None:
        fn, enqueue = KINDS[kind], self.q.enqueue
        for _ in range(n):
            enqueue(fn)

    def enqueue_bulk(self, n: int, kind: str = "noop") -> None:
        fn = KINDS[kind]
        self.q.enqueue_many([Queue.prepare_data(fn) for _ in range(n)])

    def enqueue_lat(self, t_enq: float) -> None:
        self.q.enqueue(lat, t_enq)

    def worker_command(self, concurrency: int) -> list[str]:
        return [
            self.bin("rq"),
            "worker",
            "bench",
            "--url",
            self.redis_url,
            "--worker-class",
            "rq.worker.SimpleWorker",
            "--quiet",
        ]

    def c_concurrency(self, wanted: int) -> tuple[int, str]:
        return 1, "rq has no in-process concurrency: 1 job at a time per worker process"
