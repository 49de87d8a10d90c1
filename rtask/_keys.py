"""Key names. Every key of a queue carries the queue's hash tag `{<queue>}`,
so one queue is one cluster slot and every script touches one slot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ._errors import InvalidInput

_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")
# Task names default to module.qualname, which may hold <locals>.
_TASK = re.compile(r"[A-Za-z0-9_.:\-<>]{1,200}")
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
# A job's record fields are <id>, <id>:p, <id>:r, <id>:e, <id>:g, <id>:l and
# <id>:x (see lua/README.md).
_RESERVED_SUFFIXES = (":p", ":r", ":e", ":g", ":l", ":x")


def check_queue(name: str) -> str:
    """The queue name, or `InvalidInput` if it holds characters outside `[A-Za-z0-9_.:-]`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid queue name {name!r}: use 1-200 of [A-Za-z0-9_.:-]")
    return name


def check_task_name(name: str) -> str:
    """The task name, or `InvalidInput`."""
    if not isinstance(name, str) or not _TASK.fullmatch(name):
        raise InvalidInput(f"invalid task name {name!r}: use 1-200 of [A-Za-z0-9_.:<>-]")
    return name


def check_job_id(job_id: str) -> str:
    """The job id, or `InvalidInput` (ids name hash fields, so `:` suffixes are reserved)."""
    if not isinstance(job_id, str) or not _ID.fullmatch(job_id):
        raise InvalidInput(f"invalid job id {job_id!r}: use 1-128 of [A-Za-z0-9_.:-]")
    if job_id[-2:] in _RESERVED_SUFFIXES:
        suffixes = ", ".join(_RESERVED_SUFFIXES)
        raise InvalidInput(f"invalid job id {job_id!r}: ids may not end in {suffixes}")
    return job_id


def check_prefix(prefix: str) -> str:
    """The key prefix, or `InvalidInput`."""
    if not _NAME.fullmatch(prefix):
        raise InvalidInput(f"invalid key prefix {prefix!r}: use 1-200 of [A-Za-z0-9_.:-]")
    return prefix


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue (see lua/README.md). `index_created`: the scripts
    that create and delete jobs keep the queue's `created` index (an App
    option: `App(index_created=True)`)."""

    base: str
    index_created: bool = False

    @property
    def jobs(self) -> str:
        return self.base + "jobs"

    @property
    def running(self) -> str:
        return self.base + "running"

    @property
    def active(self) -> str:
        return self.base + "active"

    @property
    def tasks(self) -> str:
        return self.base + "tasks"

    @property
    def succeeded(self) -> str:
        return self.base + "succeeded"

    @property
    def failed(self) -> str:
        return self.base + "failed"

    @property
    def cancelled(self) -> str:
        return self.base + "cancelled"

    @property
    def unique(self) -> str:
        return self.base + "unique"

    @property
    def unique_exp(self) -> str:
        return self.base + "unique_exp"

    @property
    def retrying(self) -> str:
        """Task -> number of its jobs with status retrying (hash)."""
        return self.base + "retrying"

    @property
    def created(self) -> str:
        """Every job of the queue by created time (zset, score = created ms)."""
        return self.base + "created"

    @property
    def index_keys(self) -> list[str | bytes]:
        """The optional keys that turn the created index on in the scripts
        that create or delete jobs (none when it is off)."""
        return [self.created] if self.index_created else []

    @property
    def done(self) -> str:
        """Zset of job ids someone waits for; also the channel their ids are published on."""
        return self.base + "done"

    @property
    def workers(self) -> str:
        return self.base + "workers"

    @property
    def recover_gate(self) -> str:
        return self.base + "recover"

    def throughput(self, parity: int) -> str:
        """Jobs finished per task in one minute (hash); two of them, by minute parity."""
        return self.base + f"throughput:{parity}"

    @property
    def schedules(self) -> str:
        return self.base + "schedules"

    @property
    def pending_schedules(self) -> str:
        return self.base + "schedules:pending"

    def parked(self, task: str) -> str:
        """Workers standing ready for a hand-off of `task`'s jobs (zset, see park.lua)."""
        return self.base + "parked:" + task

    @property
    def handoff(self) -> str:
        """Jobs handed off to parked workers, popped by their BLPOP (list)."""
        return self.base + "handoff"

    def unpark(self, worker: str) -> str:
        """A list `worker` pops along with `handoff`: a push there ends its pop."""
        return self.base + "unpark:" + worker

    @property
    def wake_channel(self) -> str:
        return self.base + "wake"

    @property
    def events(self) -> str:
        return self.base + "events"

    def rate(self, task: str) -> str:
        return self.base + "rate:" + task

    def permits(self, task: str) -> str:
        return self.base + "permits:" + task

    def scheduled(self, task: str) -> str:
        return self.base + "scheduled:" + task

    def ready(self, task: str) -> str:
        return self.base + "ready:" + task


@lru_cache(maxsize=1024)
def queue_keys(prefix: str, queue: str, *, index_created: bool = False) -> QueueKeys:
    """The keys of `queue` under `prefix`."""
    return QueueKeys(f"{prefix}:{{{queue}}}:", index_created)
