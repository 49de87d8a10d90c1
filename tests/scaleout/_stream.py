"""A stream of jobs through worker processes while a test kills a Redis primary.

`run_stream` enqueues small batches (each acknowledged by one round trip),
keeps the workers' backlog short so jobs are in flight at every moment,
calls `kill()` part-way, then waits for every acknowledged job to reach a
final status and counts the runs recorded on the separate record Redis.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from rtask import JobStatus, SyncJob
from rtask._task import Task
from tests.faults._harness import wait_until
from tests.scaleout.apps import ran_key

FINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


@dataclass
class StreamReport:
    acked: int  # jobs whose enqueue was acknowledged
    statuses: Counter[JobStatus]
    ran_twice: int  # jobs that started more than once
    write_pause_s: float  # kill → first enqueue acknowledged after it
    flow_pause_s: float  # kill → first run of a job enqueued after it

    def __str__(self) -> str:
        return (
            f"acked={self.acked} statuses={dict(self.statuses)} ran_twice={self.ran_twice} "
            f"write_pause={self.write_pause_s:.2f}s flow_pause={self.flow_pause_s:.2f}s"
        )


def _runs(record: redis.Redis, prefix: str) -> list[tuple[str, float]]:
    out = []
    for raw in record.lrange(ran_key(prefix), 0, -1):
        job_id, _pid, _attempt, at = raw.decode().split()
        out.append((job_id, float(at)))
    return out


def run_stream(
    tasks: Sequence[Task[Any, Any]],
    record: redis.Redis,
    prefix: str,
    kill: Callable[[], None],
    *,
    batches: int = 40,
    per_batch: int = 5,
    kill_at: int = 15,
    backlog: int = 10,
    on_timeout: Callable[[], str] | None = None,
) -> StreamReport:
    jobs: list[SyncJob[Any]] = []
    after_kill: set[str] = set()
    killed_at = first_ack_after = 0.0
    for b in range(batches):
        if b == kill_at:
            killed_at = time.time()
            kill()
        task = tasks[b % len(tasks)]
        batch = task.enqueue_many_sync([(0.01,)] * per_batch)
        if b >= kill_at:
            first_ack_after = first_ack_after or time.time()
            after_kill.update(job.id for job in batch)
        jobs.extend(batch)
        want = len(jobs) - backlog
        wait_until(
            lambda want=want: record.llen(ran_key(prefix)) >= want,  # type: ignore[misc]
            90,
            f"{want} runs",
            on_timeout=on_timeout,
        )

    def all_final() -> list[JobStatus] | None:
        statuses = [job.info().status for job in jobs]
        return statuses if all(s in FINAL for s in statuses) else None

    statuses = wait_until(all_final, 90, "every acknowledged job to finish", interval=0.2)
    runs = _runs(record, prefix)
    counts = Counter(job_id for job_id, _ in runs)
    flow = min(at for job_id, at in runs if job_id in after_kill)
    return StreamReport(
        acked=len(jobs),
        statuses=Counter(statuses),
        ran_twice=sum(1 for n in counts.values() if n > 1),
        write_pause_s=first_ack_after - killed_at,
        flow_pause_s=flow - killed_at,
    )
