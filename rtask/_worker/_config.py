"""Worker settings."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from .._errors import ConfigError
from .._keys import check_queue
from .._protocol import MAX_BATCH

# Jobs shorter than this on average get the larger automatic prefetch.
SHORT_JOB_S = 0.05


def default_worker_id() -> str:
    """host:pid:random, unique per worker process."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(2).hex()}"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How one worker process runs.

    concurrency  most jobs this process runs at once
    prefetch     jobs claimed ahead of free slots, so a slot that frees starts
                 its next job without a round trip (0 = none). They hold a
                 lease while they wait; on shutdown they are handed back
                 unrun. Default (None): automatic, concurrency // 2, and
                 2 * concurrency while the jobs run short (see
                 prefetch_for)
    lease_s      how long a claim lasts without a heartbeat; a dead worker's jobs
                 are retried this long after its last heartbeat
    grace_s      on shutdown, how long running jobs may take to finish before
                 they are handed back (without using an attempt)
    heartbeat_s  interval of lease renewals (default lease_s / 3)
    recover_s    interval of expired-lease sweeps (one worker of the fleet sweeps)
    idle_poll_s  longest wait for work without a wake-up signal
    batch_max    most jobs per claim call
    threads      threads for blocking (sync) tasks (default min(concurrency, 64))
    """

    queues: tuple[str, ...] = ("default",)
    concurrency: int = 100
    prefetch: int | None = None
    lease_s: float = 30.0
    grace_s: float = 20.0
    heartbeat_s: float | None = None
    recover_s: float = 1.0
    idle_poll_s: float = 5.0
    batch_max: int = 1000
    threads: int | None = None
    worker_id: str = field(default_factory=default_worker_id)
    handle_signals: bool = True

    def __post_init__(self) -> None:
        if not self.queues:
            raise ConfigError("a worker needs at least one queue")
        for queue in self.queues:
            check_queue(queue)
        if self.concurrency < 1:
            raise ConfigError("concurrency must be >= 1")
        if self.prefetch is not None and self.prefetch < 0:
            raise ConfigError("prefetch must be >= 0")
        if self.lease_s <= 0 or self.grace_s < 0 or self.recover_s <= 0 or self.idle_poll_s <= 0:
            raise ConfigError("lease_s, recover_s and idle_poll_s must be > 0; grace_s >= 0")
        if self.heartbeat_s is not None and not 0 < self.heartbeat_s < self.lease_s:
            raise ConfigError("heartbeat_s must be > 0 and < lease_s")
        if not 1 <= self.batch_max <= MAX_BATCH:
            raise ConfigError(f"batch_max must be in [1, {MAX_BATCH}]")

    @property
    def heartbeat_interval_s(self) -> float:
        return self.heartbeat_s if self.heartbeat_s is not None else self.lease_s / 3

    def prefetch_for(self, average_run_s: float) -> int:
        """Jobs to claim ahead of free slots, for jobs that run `average_run_s`
        on average: the set `prefetch`, or else concurrency // 2, and
        2 * concurrency for jobs under SHORT_JOB_S (larger claims and
        finishes, fewer round trips and Redis commands per job; jobs that
        short wait little in a prefetch, so they are not held from other
        workers for long)."""
        if self.prefetch is not None:
            return self.prefetch
        if average_run_s < SHORT_JOB_S:
            return 2 * self.concurrency
        return self.concurrency // 2

    @property
    def thread_count(self) -> int:
        return self.threads if self.threads is not None else min(self.concurrency, 64)
