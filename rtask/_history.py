"""A job's execution history, composed at read time from what the scripts
keep anyway, so the hot path writes nothing more for it.

* Every run that did not succeed left one entry in the job's error list
  (`<id>:e`): finish.lua (failed, retried, timed out, aborted, cancelled by
  its task), recover.lua (lost lease), cancel / cancel_many (cancelled). The
  entry carries `at` (ended, ms), `started` (the claim time, ms; absent for
  a job cancelled while waiting, which never started), `attempt`, `type`,
  `message`, and from a worker `worker` and `traceback`.
* A succeeded run that a rerun overwrote is kept in `<id>:x` (rerun.lua).
* The current run is the state itself: `st` / `w` stamped by claim.lua,
  `ft` by finish.lua: running, or succeeded.

Snoozed and released runs give their attempt back and leave no entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class ExecutionOutcome(StrEnum):
    """How one execution (run) of a job ended."""

    RUNNING = "running"  # not ended yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the task raised (the job retried after it, or failed)
    TIMED_OUT = "timed_out"
    LOST = "lost"  # its worker stopped renewing the lease
    CANCELLED = "cancelled"  # also for a job cancelled before it started


_BY_TYPE = {
    "cancelled": ExecutionOutcome.CANCELLED,
    "lost": ExecutionOutcome.LOST,
    "timeout": ExecutionOutcome.TIMED_OUT,
}


def _dt(ms: Any) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(int(ms) / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution of a job, oldest first in `JobInfo.executions`.
    `error_type` is the error entry's type ("error", "timeout", "retry",
    "aborted", "lost", "cancelled", ...; None for a success or a run still
    going)."""

    attempt: int
    outcome: ExecutionOutcome
    worker: str | None
    started_at: datetime | None
    finished_at: datetime | None
    error_type: str | None = None
    message: str | None = None
    traceback: str | None = None


def _from_error(entry: dict[str, Any]) -> Execution:
    kind = entry.get("type")
    return Execution(
        attempt=int(entry.get("attempt") or 0),
        outcome=_BY_TYPE.get(str(kind), ExecutionOutcome.FAILED),
        worker=entry.get("worker"),
        started_at=_dt(entry.get("started")),
        finished_at=_dt(entry.get("at")),
        error_type=kind,
        message=entry.get("message"),
        traceback=entry.get("traceback"),
    )


def _from_run(entry: dict[str, Any]) -> Execution:
    return Execution(
        attempt=int(entry.get("attempt") or 0),
        outcome=ExecutionOutcome.SUCCEEDED,
        worker=entry.get("worker"),
        started_at=_dt(entry.get("started")),
        finished_at=_dt(entry.get("at")),
    )


def executions(
    state: dict[str, Any], errors: list[dict[str, Any]], runs: list[dict[str, Any]]
) -> list[Execution]:
    """The job's executions, oldest first (by end time, then attempt)."""
    ended = [(e.get("at") or 0, _from_error(e)) for e in errors]
    ended += [(r.get("at") or 0, _from_run(r)) for r in runs]
    ended.sort(key=lambda pair: (int(pair[0]), pair[1].attempt))
    out = [e for _, e in ended]
    status = state.get("s")
    if status in ("running", "succeeded") and state.get("st") is not None:
        out.append(
            Execution(
                attempt=int(state.get("a") or 0),
                outcome=ExecutionOutcome(status),
                worker=state.get("w"),
                started_at=_dt(state.get("st")),
                finished_at=_dt(state.get("ft")) if status == "succeeded" else None,
            )
        )
    return out
