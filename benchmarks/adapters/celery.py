"""Celery with the Redis broker: `task.delay()` per job; worker via `celery worker`.

No result backend (so no result writes), `-l WARNING`, and the documented
`--without-gossip --without-mingle --without-heartbeat` switches for a lean
worker.  B/D: the default prefork pool; "P worker processes" = one celery node
with `-c P` (a supervisor process plus P pool processes, each running one task
at a time, default prefetch multiplier 4).  C: `--pool threads -c 100`.
Celery has group()/chunks(), but group() publishes one message per task and
chunks() packs several calls into one task, so there is no like-for-like bulk.
"""

from __future__ import annotations

import os

from celery import Celery

from . import _common as c
from .base import BaseAdapter

app = Celery("bench", broker=os.environ.get(c.ENV_URL, "redis://unset:1/0"))
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
)


@app.task(name="noop")
def noop() -> None:
    c.noop_sync()


@app.task(name="sleep10")
def sleep10() -> None:
    c.sleep_sync()


@app.task(name="lat")
def lat(t: float) -> None:
    c.lat_sync(t)


KINDS = {"noop": noop, "sleep": sleep10}


class Adapter(BaseAdapter):
    name = "celery"
    dist = "celery"
    drain_concurrency = 1
    concurrency_unit = "prefork pool process (1 task at a time each), celery default pool"
    bulk_na = "no bulk enqueue API (group() publishes one by one)"

    def setup(self) -> None:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=3)

    def enqueue_one(self, n: int, kind: str = "noop") -> None:
        delay = KINDS[kind].delay
        for _ in range(n):
            delay()

    def enqueue_lat(self, t_enq: float) -> None:
        lat.delay(t_enq)

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        base = [
            self.bin("celery"),
            "-A",
            "benchmarks.adapters.celery",
            "worker",
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if concurrency == 1:  # B/D: default prefork pool, P pool processes in one node
            return [[*base, "--pool", "prefork", "-c", str(processes)]]
        return [[*base, "--pool", "threads", "-c", str(concurrency)] for _ in range(processes)]

    def c_concurrency(self, wanted: int) -> tuple[int, str]:
        return wanted, "--pool threads -c 100 (prefork would need 100 processes)"
