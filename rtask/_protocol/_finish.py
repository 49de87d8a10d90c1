"""finish: `finish.lua`, the outcomes of runs, and how long finished jobs are
kept (`Retention`, also used by recover.lua and cancel.lua)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from .._keys import QueueKeys
from .._scripts import script
from ._call import _EMPTY, Call, _now_arg


class OutcomeCode(IntEnum):
    """What a run produced; the numbers are finish.lua's codes."""

    SUCCEEDED = 1
    RETRY = 2
    FAILED = 3
    SNOOZED = 4
    CANCELLED = 5
    RELEASED = 6


class FinishResult(IntEnum):
    """finish.lua's answer per outcome."""

    APPLIED = 1
    CANCELLED_MEANWHILE = 2
    NOT_FOUND = -1
    LEASE_LOST = -2
    TASK_NOT_PASSED = -3


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished run, as reported to finish.lua."""

    id: str
    token: str
    code: OutcomeCode
    delay_ms: int = 0
    blob: bytes = _EMPTY
    # A schedule's job: its schedule's next tick (ms), or timing.STOP / IDLE;
    # None when not computed (plan.lua then plans the next job).
    next: int | None = None


_OUTCOME_SETTERS = tuple(
    getattr(Outcome, name).__set__ for name in ("id", "token", "code", "delay_ms", "blob", "next")
)


def succeeded(job_id: str, token: str, blob: bytes) -> Outcome:
    """`Outcome(job_id, token, OutcomeCode.SUCCEEDED, 0, blob)`, built faster
    (slots set directly, as in `_claimed_job`): one per job that succeeds."""
    s_id, s_token, s_code, s_delay, s_blob, s_next = _OUTCOME_SETTERS
    outcome = object.__new__(Outcome)
    s_id(outcome, job_id)
    s_token(outcome, token)
    s_code(outcome, OutcomeCode.SUCCEEDED)
    s_delay(outcome, 0)
    s_blob(outcome, blob)
    s_next(outcome, None)
    return outcome


@dataclass(frozen=True, slots=True)
class Retention:
    """How long finished jobs are kept: by age (seconds) and count; 0 = no limit."""

    succeeded_s: float = 3600.0
    succeeded_max: int = 10_000
    failed_s: float = 7 * 24 * 3600.0
    failed_max: int = 100_000
    cancelled_s: float = 24 * 3600.0
    cancelled_max: int = 10_000

    def args(self) -> list[int]:
        """Age (ms) and count of succeeded, failed, cancelled: finish.lua's ARGV[3..8]."""
        return [
            int(self.succeeded_s * 1000),
            self.succeeded_max,
            *self.failed_args(),
            *self.cancelled_args(),
        ]

    def failed_args(self) -> list[int]:
        return [int(self.failed_s * 1000), self.failed_max]

    def cancelled_args(self) -> list[int]:
        return [int(self.cancelled_s * 1000), self.cancelled_max]


DEFAULT_RETENTION = Retention()


@dataclass(frozen=True, slots=True)
class FinishReply:
    now_ms: int
    results: list[FinishResult]


def _decode_finish(reply: list[Any]) -> FinishReply:
    return FinishReply(int(reply[0]), [FinishResult(int(code)) for code in reply[1:]])


def finish(
    keys: QueueKeys,
    outcomes: Sequence[Outcome],
    *,
    tasks: Sequence[tuple[str, int]],
    retention: Retention,
    now_ms: int | None = None,
    events: bool = False,
) -> Call[FinishReply]:
    """Report `outcomes` of jobs of `tasks` ((name, cap) pairs) in one call."""
    script_keys: list[str | bytes] = [
        keys.jobs,
        keys.running,
        keys.active,
        keys.succeeded,
        keys.failed,
        keys.cancelled,
        keys.schedules,
        keys.pending_schedules,
    ]
    args: list[str | bytes | int | float] = [_now_arg(now_ms), keys.wake_channel]
    args += retention.args()
    args.append(len(tasks))
    for name, cap in tasks:
        script_keys += (keys.scheduled(name), keys.ready(name))
        args += (name, cap)
    script_keys += (keys.unique, keys.done, keys.unique_exp, keys.retrying)
    script_keys += (keys.throughput(0), keys.throughput(1), *keys.index_keys)
    if events:
        script_keys.append(keys.events)
    for o in outcomes:
        args += (o.id, o.token, int(o.code), o.delay_ms, o.blob, "" if o.next is None else o.next)
    return Call(script("finish"), script_keys, args, _decode_finish)


def error_entry(
    *, attempt: int, type: str, message: str, traceback: str = "", worker: str = ""
) -> bytes:
    """An error JSON object for finish.lua/cancel.lua (the script stamps "at")."""
    entry: dict[str, Any] = {"attempt": attempt, "type": type, "message": message}
    if traceback:
        entry["traceback"] = traceback
    if worker:
        entry["worker"] = worker
    return orjson.dumps(entry)
