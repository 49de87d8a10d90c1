"""cancel.lua: waiting jobs are cancelled at once, running ones marked for their worker."""

from __future__ import annotations

from rtask import _protocol as proto
from rtask._client import SyncClient
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
    snapshot,
)

Result = proto.CancelResult
TASKS = ("t", "u")


def cancel_entry(
    at: int, reason: str = "no longer needed", attempt: int = 0, started: int | None = None
) -> dict[str, object]:
    """A cancel's error entry; with the run's claim time and worker when it was running."""
    entry: dict[str, object] = {"at": at, "attempt": attempt, "type": "cancelled"}
    entry["message"] = reason
    return entry if started is None else {**entry, "started": started, "worker": "w1"}


def test_scheduled_job_is_cancelled(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1", delay_ms=5000), new_job("j2", delay_ms=6000)])
    before = assert_invariants(client, keys, TASKS)

    assert cancel(client, keys, "j1", now=NOW + 10, reason="changed my mind") == Result.CANCELLED

    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**before.job("j1"), "s": "cancelled", "ft": NOW + 10}
    assert state.errors("j1") == [cancel_entry(NOW + 10, "changed my mind")]
    assert state.scheduled() == {"j2": NOW + 6000}
    assert state.zset(keys.cancelled) == {"j1": NOW + 10}
    assert state.payload("j1") == b"payload-j1"


def test_ready_job_is_cancelled(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2")])
    before = assert_invariants(client, keys, TASKS)

    assert cancel(client, keys, "j2", now=NOW + 10) == Result.CANCELLED

    state = assert_invariants(client, keys, TASKS)
    assert state.job("j2") == {**before.job("j2"), "s": "cancelled", "ft": NOW + 10}
    assert state.errors("j2") == [cancel_entry(NOW + 10)]
    assert list(state.ready()) == ["j1"]
    assert state.zset(keys.cancelled) == {"j2": NOW + 10}


def test_retrying_job_keeps_its_errors_and_gets_one_more(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.RETRY, delay_ms=9000)], now=NOW + 5)
    assert assert_invariants(client, keys, TASKS).scheduled() == {"j1": NOW + 9005}

    assert cancel(client, keys, "j1", now=NOW + 10) == Result.CANCELLED

    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["s"] == "cancelled"
    assert [(e["type"], e["at"]) for e in state.errors("j1")] == [
        ("ValueError", NOW + 5),
        ("cancelled", NOW + 10),
    ]
    assert state.scheduled() == {} and state.ready() == {}
    assert state.zset(keys.cancelled) == {"j1": NOW + 10}


def test_running_job_is_marked_and_keeps_its_slot(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs

    assert cancel(client, keys, "j1", now=NOW + 10) == Result.REQUESTED

    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "cancelled", "ft": NOW + 10}
    assert state.errors("j1") == [cancel_entry(NOW + 10, attempt=1, started=NOW)]
    assert state.running == {"j1": NOW + LEASE_MS}  # lease untouched
    assert state.active == {"t": 1}
    assert state.zset(keys.cancelled) == {}  # indexed once the slot is released


def test_finished_job_is_left_untouched(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2"), new_job("j3")])
    jobs = {job.id: job for job in claim(client, keys, 3).jobs}
    finish(
        client,
        keys,
        [
            outcome(jobs["j1"], proto.OutcomeCode.SUCCEEDED, blob=b"r"),
            outcome(jobs["j2"], proto.OutcomeCode.FAILED),
            outcome(jobs["j3"], proto.OutcomeCode.CANCELLED),
        ],
        now=NOW + 5,
    )
    before = snapshot(client, keys)

    for job_id in ("j1", "j2", "j3"):
        assert cancel(client, keys, job_id, now=NOW + 10) == Result.ALREADY_FINISHED
        assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)


def test_second_cancel_of_a_running_job_changes_nothing(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1")])
    claim(client, keys, 1)
    cancel(client, keys, "j1", now=NOW + 10)
    before = snapshot(client, keys)

    assert cancel(client, keys, "j1", now=NOW + 20) == Result.ALREADY_FINISHED
    assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)


def test_missing_job(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    before = snapshot(client, keys)

    assert cancel(client, keys, "nope", now=NOW + 10) == Result.NOT_FOUND
    assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)


def test_other_task_does_nothing(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2", delay_ms=100)])
    enqueue(client, keys, [new_job("k1", "u")])
    claim(client, keys, 1, tasks=(("u", 0),))
    before = snapshot(client, keys)

    assert cancel(client, keys, "j1", task="u", now=NOW + 10) == Result.OTHER_TASK
    assert cancel(client, keys, "j2", task="u", now=NOW + 10) == Result.OTHER_TASK
    assert cancel(client, keys, "k1", task="t", now=NOW + 10) == Result.OTHER_TASK
    assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)


def test_cancelled_index_keeps_its_retention(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job(f"j{i}") for i in range(6)])
    keep_three = proto.Retention(cancelled_s=0, cancelled_max=3)

    for i in range(6):
        call = proto.cancel(
            keys, f"j{i}", task="t", reason="r", retention=keep_three, now_ms=NOW + i
        )
        assert client.run(call) == Result.CANCELLED

    state = assert_invariants(client, keys, TASKS)
    # the three newest stay; the others' whole records are gone
    assert state.zset(keys.cancelled) == {"j3": NOW + 3, "j4": NOW + 4, "j5": NOW + 5}
    assert set(state.jobs) == {"j3", "j4", "j5"}
    assert all(state.fields_of(f"j{i}") == set() for i in range(3))
