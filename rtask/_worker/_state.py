"""In-process state of one worker, per queue."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

from .._context import JobContext
from .._keys import QueueKeys
from .._progress import Report
from .._protocol import ClaimedJob, Outcome
from .._timing import Timing

# Why a running job's asyncio task was cancelled; decides what is reported.
LOST, CANCELLED, SHUTDOWN = "lost", "cancelled", "shutdown"


@dataclass(slots=True)
class Running:
    """A job this process holds: executing (`task` set) or prefetched, waiting
    for a free slot (`task` None)."""

    job: ClaimedJob
    context: JobContext
    task: asyncio.Task[None] | None = None
    stop_reason: str | None = None
    timing: Timing | None = None  # a schedule's job: its schedule's timing


@dataclass(slots=True)
class QueueState:
    """What the worker tracks for one queue.

    Invariant: a job is in `running` from its claim until its outcome is put in
    `outcomes` (or it is dropped as lost); an outcome leaves `outcomes` only in
    a finish call whose reply was received.
    """

    name: str
    keys: QueueKeys
    tasks: list[tuple[str, int]]  # (name, cap) of every task claimed from this queue
    running: dict[str, Running] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    may_have_work: bool = True
    wake_seq: int = 0  # bumped by every wake-up signal
    next_due: float | None = None  # loop time of the earliest scheduled job
    rotation: int = 0
    claiming: int = 0  # slots reserved by claims under way
    last_heartbeat_ok: float = 0.0
    clock_offset_ms: float = 0.0  # Redis's clock minus the local clock
    # rate limits of its tasks: name -> (limit, period_ms), checked by claim.lua
    rates: dict[str, tuple[int, int]] = field(default_factory=dict)
    # progress/log reports of settled jobs, sent just before their outcomes
    reports: list[Report] = field(default_factory=list)
    # a sharded queue's capped tasks: name -> PermitPool (shared by its shards)
    pools: dict[str, Any] = field(default_factory=dict)
    # ... and the wake_seq at which each claim group was found drained
    drained: dict[str, int] = field(default_factory=dict)
    # ... and the loop time each group's earliest scheduled job is due
    dues: dict[str, float] = field(default_factory=dict)
    # loop time of its last claim that read the scheduled sets (_claims.claim_call)
    promoted_at: float = -math.inf
    # the tasks its last claim got no job of, and whether that claim got all
    # it asked (_claims.claim_tasks)
    dry: frozenset[str] = frozenset()
    busy: bool = False

    def task_names(self) -> list[str]:
        return [name for name, _ in self.tasks]

    def add_task(self, name: str, cap: int) -> None:
        if name not in self.task_names():
            self.tasks.append((name, cap))
