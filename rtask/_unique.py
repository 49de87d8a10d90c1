"""Uniqueness: at most one job per identity in chosen statuses.

A `Unique` rule names an identity (the task, a key, or both) and the statuses
in which an existing job with that identity makes a new enqueue a duplicate.
enqueue.lua checks and takes the identity in the same call, so two producers
racing get one job. The semantics are rexecutor's `UniquenessCriteria`
(statuses, a window around the new job's time, on-conflict replace of chosen
fields for chosen statuses; the existing job's id is returned), plus an
idempotency key with a TTL and the BullMQ-style presets below.

An identity is held by one job at a time (a field of the queue's `unique`
hash): the newest job that was not a duplicate. A job releases it when it
finishes, unless the rule holds it for some time after (`after_finish`,
`ttl`) or holds it in finished statuses.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import orjson

from ._errors import InvalidInput
from ._job import JobStatus

WAITING = frozenset({JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RETRYING})
ACTIVE = WAITING | {JobStatus.RUNNING}
ALL = frozenset(JobStatus)
FINISHED = ALL - ACTIVE

REPLACEABLE = frozenset({"args", "due", "priority", "max_attempts", "tags"})


@dataclass(frozen=True, slots=True)
class Replace:
    """On conflict, overwrite these fields of the existing job with the new job's,
    when the existing job's status is in `statuses` (rexecutor's `Replace`).

    Fields: "args", "due" (its time: delay or at), "priority", "max_attempts",
    "tags". A waiting job moves to its new place in line.
    """

    fields: Collection[str]
    statuses: Collection[JobStatus | str] = frozenset({JobStatus.SCHEDULED, JobStatus.QUEUED})

    def __post_init__(self) -> None:
        if isinstance(self.fields, str):
            raise InvalidInput("Replace fields are a collection of names, not one string")
        unknown = set(self.fields) - REPLACEABLE
        if unknown or not self.fields:
            raise InvalidInput(f"Replace fields are some of {sorted(REPLACEABLE)}, got {unknown}")
        object.__setattr__(self, "fields", frozenset(self.fields))
        object.__setattr__(self, "statuses", _statuses(self.statuses))


@dataclass(frozen=True, slots=True)
class Unique:
    """A uniqueness rule for `task.options(unique=...)`.

    - `key`: the identity within the task (or the queue with `by_task=False`);
      None = the task itself.
    - `statuses`: an existing job with the identity in one of these makes the
      new job a duplicate (default: scheduled or queued, as in rexecutor).
    - `within`: seconds; only when the existing job's time is within this
      window around the new job's time (inclusive).
    - `after_finish`: seconds the identity stays held after the job finishes
      (the job must be in a finished status among `statuses` to conflict).
    - `ttl`: seconds after enqueue when the identity is released whatever the
      status (an idempotency key).
    - `replace`: on conflict, overwrite fields of the existing job.

    A duplicate enqueue stores nothing and returns a handle on the existing
    job with `job.duplicate` True (and `job.replaced` if fields were replaced).
    """

    key: str | None = None
    by_task: bool = True
    statuses: Collection[JobStatus | str] = frozenset({JobStatus.SCHEDULED, JobStatus.QUEUED})
    within: float | None = None
    after_finish: float | None = None
    ttl: float | None = None
    replace: Replace | None = None
    _spec: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.key is not None and (not isinstance(self.key, str) or not self.key):
            raise InvalidInput(f"Unique key must be a non-empty string, got {self.key!r}")
        if self.key is None and not self.by_task:
            raise InvalidInput("Unique needs a key, or by_task=True")
        object.__setattr__(self, "statuses", _statuses(self.statuses))
        for name in ("within", "after_finish", "ttl"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise InvalidInput(f"Unique {name} must be seconds >= 0, got {value!r}")
        if self.replace is not None and not self.by_task:
            raise InvalidInput("Unique replace needs by_task=True (the jobs must share a task)")
        statuses = _statuses(self.statuses)
        if self.after_finish and not statuses & FINISHED:
            raise InvalidInput("Unique after_finish needs finished statuses among statuses")
        # How long the identity outlives the job: -1 while its record exists
        # (finished statuses conflict), else after_finish, else 0.
        if self.after_finish:
            hold = int(self.after_finish * 1000)
        else:
            hold = -1 if statuses & FINISHED else 0
        spec: dict[str, object] = {
            "s": sorted(statuses),
            "h": hold,
            "e": int((self.ttl or 0) * 1000),
        }
        if self.within is not None:
            spec["w"] = int(self.within * 1000)
        if self.replace is not None:
            spec["r"] = sorted(self.replace.fields)
            spec["rs"] = sorted(_statuses(self.replace.statuses))
        object.__setattr__(self, "_spec", spec)

    # ---- presets (BullMQ-style modes)

    @classmethod
    def while_queued(cls, key: str | None = None) -> Unique:
        """One waiting job per identity; once it runs, a new one may be enqueued."""
        return cls(key, statuses=WAITING)

    @classmethod
    def while_running(cls, key: str | None = None) -> Unique:
        """One job per identity until it finishes (waiting or running)."""
        return cls(key, statuses=ACTIVE)

    @classmethod
    def throttle(cls, key: str | None, seconds: float) -> Unique:
        """One job per identity until `seconds` after it finished."""
        return cls(key, statuses=ALL, after_finish=seconds)

    @classmethod
    def idempotent(cls, key: str, ttl: float) -> Unique:
        """An idempotency key: one job per key for `ttl` seconds after enqueue,
        whatever it became."""
        return cls(key, statuses=ALL, ttl=ttl)

    @classmethod
    def debounce(cls, key: str | None = None) -> Unique:
        """A newer enqueue replaces the arguments and time of a still-waiting job."""
        return cls(key, statuses=WAITING, replace=Replace({"args", "due"}, statuses=WAITING))

    def spec(self, task: str) -> bytes:
        """The spec JSON enqueue.lua reads, for a job of `task`."""
        identity = (task if self.by_task else "*") + "|" + (self.key or "")
        return orjson.dumps({"k": identity, **self._spec})


def _statuses(values: Iterable[JobStatus | str]) -> frozenset[JobStatus]:
    if isinstance(values, str):
        raise InvalidInput("statuses are a collection of statuses, not one string")
    try:
        out = frozenset(JobStatus(v) for v in values)
    except ValueError as exc:
        raise InvalidInput(f"unknown job status: {exc}") from None
    if not out:
        raise InvalidInput("give at least one status")
    return out
