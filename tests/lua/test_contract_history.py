"""Execution history: every run that did not succeed leaves an error entry
stamped with its start (finish, recover, cancel, cancel_many), a rerun keeps
the succeeded run it overwrites in `<id>:x`, retention deletes that field, and
`JobInfo.executions` composes the whole list at read time."""

from __future__ import annotations

from rtask import _protocol as proto
from rtask import _protocol_manage as manage
from rtask._client import SyncClient
from rtask._history import ExecutionOutcome as O
from rtask._job import JobInfo
from rtask._keys import QueueKeys
from tests.lua._state import (
    LEASE_MS,
    NOW,
    assert_invariants,
    cancel,
    claim,
    enqueue,
    finish,
    new_job,
    outcome,
    recover,
)

TASKS = ("t",)
C = proto.OutcomeCode


def info(client: SyncClient, keys: QueueKeys, job_id: str, now: int) -> JobInfo:
    return JobInfo.from_raw(job_id, "q", client.run(proto.read_job(keys, job_id, now)))


def runs(client: SyncClient, keys: QueueKeys, job_id: str, now: int) -> list[tuple[object, ...]]:
    return [
        (
            e.attempt,
            e.outcome,
            e.worker,
            e.started_at and int(e.started_at.timestamp() * 1000),
            e.finished_at and int(e.finished_at.timestamp() * 1000),
        )
        for e in info(client, keys, job_id, now).executions
    ]


def test_failed_then_succeeded_runs(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("a")])
    (job,) = claim(client, keys, 1, now=NOW + 10, worker="w1").jobs
    assert runs(client, keys, "a", NOW + 20) == [(1, O.RUNNING, "w1", NOW + 10, None)]
    finish(client, keys, [outcome(job, C.RETRY)], now=NOW + 50)
    state = assert_invariants(client, keys, TASKS)
    assert state.errors("a")[0]["started"] == NOW + 10
    assert state.errors("a")[0]["at"] == NOW + 50
    (job,) = claim(client, keys, 1, now=NOW + 100, worker="w2").jobs
    finish(client, keys, [outcome(job, C.SUCCEEDED)], now=NOW + 130)
    assert runs(client, keys, "a", NOW + 200) == [
        (1, O.FAILED, None, NOW + 10, NOW + 50),
        (2, O.SUCCEEDED, "w2", NOW + 100, NOW + 130),
    ]
    first = info(client, keys, "a", NOW + 200).executions[0]
    assert (first.error_type, first.message) == ("ValueError", "boom")


def test_timeout_and_lost_lease_runs(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("a", max_attempts=2)])
    (job,) = claim(client, keys, 1, now=NOW, worker="w1").jobs
    blob = proto.error_entry(attempt=1, type="timeout", message="too slow", worker="w1")
    finish(client, keys, [outcome(job, C.RETRY, blob=blob)], now=NOW + 5)
    claim(client, keys, 1, now=NOW + 10, worker="w2")
    recover(client, keys, now=NOW + 10 + LEASE_MS + 1)
    assert runs(client, keys, "a", NOW + LEASE_MS + 100) == [
        (1, O.TIMED_OUT, "w1", NOW, NOW + 5),
        (2, O.LOST, "w2", NOW + 10, NOW + 10 + LEASE_MS + 1),
    ]
    assert info(client, keys, "a", NOW + LEASE_MS + 100).status.value == "failed"


def test_cancel_while_running_is_a_run_cancel_while_waiting_is_not_started(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("a"), new_job("b", delay_ms=10_000)])
    claim(client, keys, 1, now=NOW + 5, worker="w1")
    cancel(client, keys, "a", now=NOW + 20)
    cancel(client, keys, "b", now=NOW + 30)
    assert runs(client, keys, "a", NOW + 40) == [(1, O.CANCELLED, "w1", NOW + 5, NOW + 20)]
    assert runs(client, keys, "b", NOW + 40) == [(0, O.CANCELLED, None, None, NOW + 30)]


def test_cancel_many_stamps_running_jobs(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("a"), new_job("b")])
    claim(client, keys, 1, now=NOW + 5, worker="w1")
    for source in ("ready", "running"):
        call = manage.cancel_many(
            keys, "t", source, statuses=["queued", "running"], reason="stop", now_ms=NOW + 9
        )
        client.run(call)
    assert runs(client, keys, "a", NOW + 10) == [(1, O.CANCELLED, "w1", NOW + 5, NOW + 9)]
    assert runs(client, keys, "b", NOW + 10) == [(0, O.CANCELLED, None, None, NOW + 9)]


def test_rerun_keeps_the_succeeded_run_and_retention_deletes_it(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("a", max_attempts=1)])
    (job,) = claim(client, keys, 1, now=NOW + 1, worker="w1").jobs
    finish(client, keys, [outcome(job, C.SUCCEEDED, blob=b"r")], now=NOW + 2)
    assert client.run(manage.rerun(keys, "t", ["a"], now_ms=NOW + 3)) == [1]
    state = assert_invariants(client, keys, TASKS)
    assert state.runs("a") == [
        {"at": NOW + 2, "started": NOW + 1, "attempt": 1, "worker": "w1", "outcome": "succeeded"}
    ]
    (job,) = claim(client, keys, 1, now=NOW + 4, worker="w2").jobs
    assert runs(client, keys, "a", NOW + 5) == [
        (1, O.SUCCEEDED, "w1", NOW + 1, NOW + 2),
        (2, O.RUNNING, "w2", NOW + 4, None),
    ]
    finish(client, keys, [outcome(job, C.SUCCEEDED)], now=NOW + 6)
    # a second rerun appends
    client.run(manage.rerun(keys, "t", ["a"], now_ms=NOW + 7))
    assert [r["worker"] for r in assert_invariants(client, keys, TASKS).runs("a")] == ["w1", "w2"]
    (job,) = claim(client, keys, 1, now=NOW + 8, worker="w3").jobs
    finish(client, keys, [outcome(job, C.SUCCEEDED)], now=NOW + 9)
    # retention keeps no succeeded job: every field of the record goes, `:x` too
    enqueue(client, keys, [new_job("b")], now=NOW + 10)
    (job,) = claim(client, keys, 1, now=NOW + 10).jobs
    keep_none = proto.Retention(0, 1, 0, 0, 0, 0)
    finish(client, keys, [outcome(job, C.SUCCEEDED)], now=NOW + 11, retention=keep_none)
    state = assert_invariants(client, keys, TASKS)
    assert state.fields_of("a") == set()
    assert "b" in state.jobs
