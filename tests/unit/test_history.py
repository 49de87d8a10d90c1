"""rtask._history.executions: composing a job's runs from its state, error
list and kept runs (pure; the scripts' side is in tests/lua/test_contract_history.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from rtask._history import ExecutionOutcome as O
from rtask._history import executions


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def test_error_entries_kept_runs_and_the_current_run_in_order() -> None:
    state = {"s": "running", "a": 4, "w": "w4", "st": 400}
    errors = [
        {"at": 150, "started": 100, "attempt": 1, "type": "error", "message": "m", "worker": "w1"},
        {"at": 350, "started": 300, "attempt": 3, "type": "lost", "message": "gone"},
    ]
    runs = [{"at": 250, "started": 200, "attempt": 2, "worker": "w2", "outcome": "succeeded"}]
    out = executions(state, errors, runs)
    assert [(e.attempt, e.outcome) for e in out] == [
        (1, O.FAILED),
        (2, O.SUCCEEDED),
        (3, O.LOST),
        (4, O.RUNNING),
    ]
    assert (out[0].started_at, out[0].finished_at, out[0].worker) == (ms(100), ms(150), "w1")
    assert (out[3].started_at, out[3].finished_at) == (ms(400), None)


def test_entries_without_a_start_and_timeouts() -> None:
    # an entry written before runs were stamped, a timeout, then a cancel while waiting
    errors = [
        {"at": 10, "attempt": 1, "type": "error", "message": "old"},
        {"at": 20, "started": 15, "attempt": 2, "type": "timeout", "message": "slow"},
        {"at": 30, "attempt": 2, "type": "cancelled", "message": "stop"},
    ]
    state = {"s": "cancelled", "a": 2, "w": "w1", "st": 15, "ft": 30}
    out = executions(state, errors, [])
    assert [(e.outcome, e.started_at) for e in out] == [
        (O.FAILED, None),
        (O.TIMED_OUT, ms(15)),
        (O.CANCELLED, None),
    ]
    assert out[1].error_type == "timeout" and out[2].message == "stop"


def test_a_job_that_never_ran_has_no_executions() -> None:
    assert executions({"s": "scheduled", "a": 0}, [], []) == []
    done = executions({"s": "succeeded", "a": 1, "w": "w", "st": 5, "ft": 9}, [], [])
    assert [(e.outcome, e.finished_at) for e in done] == [(O.SUCCEEDED, ms(9))]
