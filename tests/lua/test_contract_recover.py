"""recover.lua: expired leases go through retry-or-fail with a "lost" error; the gate."""

from __future__ import annotations

from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import (
    NOW,
    assert_invariants,
    cancel,
    claim,
    enqueue,
    finish,
    new_job,
    outcome,
    ready_score,
    recover,
    snapshot,
    wake_listener,
)

TASKS = ("t", "u")
LEASE = 1000


def start(
    client: SyncClient,
    keys: QueueKeys,
    *jobs: proto.NewJob,
    now: int = NOW,
    lease_ms: int = LEASE,
    worker: str = "w1",
) -> dict[str, proto.ClaimedJob]:
    enqueue(client, keys, jobs, now=now)
    tasks = sorted({job.task for job in jobs})
    reply = claim(
        client,
        keys,
        len(jobs),
        tasks=[(t, 0) for t in tasks],
        now=now,
        lease_ms=lease_ms,
        worker=worker,
    )
    assert len(reply.jobs) == len(jobs)
    return {job.id: job for job in reply.jobs}


def lost_entry(attempt: int, at: int, worker: str = "w1", started: int = NOW) -> dict[str, object]:
    return {
        "at": at,
        "started": started,
        "attempt": attempt,
        "type": "lost",
        "worker": worker,
        "message": f"lease expired: worker {worker} stopped renewing it",
    }


def test_expired_lease_is_retried_with_a_lost_error(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1", priority=4))["j1"]

    with wake_listener(client, keys) as wake:
        reply = recover(client, keys, now=NOW + LEASE + 1)
        assert wake.published() == [b"1"]

    assert reply == proto.RecoverReply(NOW + LEASE + 1, True, 1, 0, 0)
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "retrying", "due": NOW + LEASE + 1}
    assert state.job("j1")["a"] == 1  # the lost run counts as an attempt
    assert state.ready() == {"j1": ready_score(4, NOW + LEASE + 1)}
    assert state.errors("j1") == [lost_entry(1, NOW + LEASE + 1)]
    assert state.running == {}
    assert state.active == {"t": 0}


def test_lease_ending_now_is_not_expired(client: SyncClient, keys: QueueKeys) -> None:
    start(client, keys, new_job("j1"), new_job("j2"), lease_ms=LEASE)
    start(client, keys, new_job("j3"), now=NOW + 500, lease_ms=LEASE)
    before = snapshot(client, keys)

    assert recover(client, keys, now=NOW + LEASE) == proto.RecoverReply(NOW + LEASE, True, 0, 0, 0)
    assert snapshot(client, keys) == before

    reply = recover(client, keys, now=NOW + LEASE + 1)
    assert (reply.requeued, reply.failed) == (2, 0)
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {"j3": NOW + 500 + LEASE}  # not yet expired: untouched
    assert state.job("j3") == before.job("j3")
    assert state.active == {"t": 1}


def test_every_lost_attempt_is_recorded_then_the_job_fails(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1", max_attempts=3)])
    for attempt in (1, 2, 3):
        claimed_at = NOW + 10_000 * attempt
        worker = f"w{attempt}"
        (job,) = claim(client, keys, 1, now=claimed_at, worker=worker, lease_ms=LEASE).jobs
        assert job.attempt == attempt
        reply = recover(client, keys, now=claimed_at + LEASE + 1)
        state = assert_invariants(client, keys, TASKS)
        assert len(state.errors("j1")) == attempt
        assert state.errors("j1")[-1] == lost_entry(
            attempt, claimed_at + LEASE + 1, worker, claimed_at
        )

    assert (reply.requeued, reply.failed) == (0, 1)
    ended = NOW + 30_000 + LEASE + 1
    assert state.job("j1")["s"] == "failed"
    assert state.job("j1")["ft"] == ended
    assert state.zset(keys.failed) == {"j1": ended}
    assert state.ready() == {} and state.running == {}
    assert state.active == {"t": 0}


def test_last_attempt_fails(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1", max_attempts=1))["j1"]

    with wake_listener(client, keys) as wake:
        reply = recover(client, keys, now=NOW + 5000)
        assert wake.published() == []  # nothing was requeued

    assert reply == proto.RecoverReply(NOW + 5000, True, 0, 1, 0)
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "failed", "ft": NOW + 5000}
    assert state.errors("j1") == [lost_entry(1, NOW + 5000)]
    assert state.zset(keys.failed) == {"j1": NOW + 5000}
    assert state.active == {"t": 0}


def test_cancelled_running_job_is_released(client: SyncClient, keys: QueueKeys) -> None:
    start(client, keys, new_job("j1"))
    assert cancel(client, keys, "j1", now=NOW + 100) == proto.CancelResult.REQUESTED
    cancelled = assert_invariants(client, keys, TASKS)

    reply = recover(client, keys, now=NOW + 5000)

    assert reply == proto.RecoverReply(NOW + 5000, True, 0, 0, 0)
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == cancelled.job("j1")
    assert state.errors("j1") == cancelled.errors("j1")  # no "lost" entry
    assert state.running == {}
    assert state.zset(keys.cancelled) == {"j1": NOW + 100}  # scored by ft, the cancel time
    assert state.ready() == {}
    assert state.active == {"t": 0}


def test_job_of_a_task_not_passed_is_skipped(client: SyncClient, keys: QueueKeys) -> None:
    start(client, keys, new_job("t1", "t"), new_job("u1", "u"))
    before = snapshot(client, keys)

    reply = recover(client, keys, tasks=["t"], now=NOW + 5000)

    assert reply == proto.RecoverReply(NOW + 5000, True, 1, 0, 1)
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {"u1": NOW + LEASE}
    assert state.job("u1") == before.job("u1")
    assert state.errors("u1") == []
    assert state.active == {"t": 0, "u": 1}
    assert state.job("t1")["s"] == "retrying"


def test_cancelled_job_of_a_task_not_passed_is_still_released(
    client: SyncClient, keys: QueueKeys
) -> None:
    start(client, keys, new_job("u1", "u"))
    cancel(client, keys, "u1", task="u", now=NOW + 1)

    reply = recover(client, keys, tasks=["t"], now=NOW + 5000)

    assert (reply.requeued, reply.failed, reply.skipped) == (0, 0, 0)
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {}
    assert state.zset(keys.cancelled) == {"u1": NOW + 1}  # scored by ft, the cancel time
    assert state.active == {"u": 0}


def test_limit_handles_the_earliest_deadlines_first(client: SyncClient, keys: QueueKeys) -> None:
    start(client, keys, new_job("a"), now=NOW)
    start(client, keys, new_job("b"), now=NOW + 10)
    start(client, keys, new_job("c"), now=NOW + 20)

    reply = recover(client, keys, now=NOW + 5000, limit=2)

    assert reply.requeued == 2
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {"c": NOW + 20 + LEASE}
    assert list(state.ready()) == ["a", "b"]


def test_gate_lets_one_sweep_through_per_interval(client: SyncClient, keys: QueueKeys) -> None:
    start(client, keys, new_job("j1"))
    first = recover(client, keys, now=NOW + 5000, gate_ms=60_000)
    assert first == proto.RecoverReply(NOW + 5000, True, 1, 0, 0)
    state = assert_invariants(client, keys, TASKS)
    assert state.string(keys.recover_gate) == "1"
    assert 0 < client.redis.pttl(keys.recover_gate) <= 60_000

    start(client, keys, new_job("j2"), now=NOW + 5000)
    before = snapshot(client, keys)
    closed = recover(client, keys, now=NOW + 10_000, gate_ms=60_000)

    assert closed == proto.RecoverReply(NOW + 10_000, False, 0, 0, 0)
    assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)


def test_gate_zero_always_runs(client: SyncClient, keys: QueueKeys) -> None:
    start(client, keys, new_job("j1"), new_job("j2"))
    recover(client, keys, now=NOW, gate_ms=60_000)  # closes the gate, nothing expired yet
    assert client.redis.exists(keys.recover_gate) == 1

    reply = recover(client, keys, now=NOW + 5000, gate_ms=0)

    assert reply == proto.RecoverReply(NOW + 5000, True, 2, 0, 0)
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {}
    assert recover(client, keys, now=NOW + 5001, gate_ms=0).swept


def test_gate_zero_does_not_create_the_gate(client: SyncClient, keys: QueueKeys) -> None:
    recover(client, keys, now=NOW, gate_ms=0)
    recover(client, keys, now=NOW + 1, gate_ms=0)

    assert snapshot(client, keys).key_names == set()


def test_errors_from_finish_and_recover_share_one_list(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1", max_attempts=3)])
    (run1,) = claim(client, keys, 1, now=NOW, lease_ms=LEASE).jobs
    finish(client, keys, [outcome(run1, proto.OutcomeCode.RETRY)], now=NOW + 10)
    (run2,) = claim(client, keys, 1, now=NOW + 20, lease_ms=LEASE, worker="w2").jobs
    recover(client, keys, now=NOW + 20 + LEASE + 1)
    (run3,) = claim(client, keys, 1, now=NOW + 5000, lease_ms=LEASE).jobs
    assert (run1.attempt, run2.attempt, run3.attempt) == (1, 2, 3)
    finish(client, keys, [outcome(run3, proto.OutcomeCode.FAILED)], now=NOW + 5010)

    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["s"] == "failed"
    assert state.errors("j1") == [
        {"at": NOW + 10, "started": NOW, "attempt": 1, "type": "ValueError", "message": "boom"},
        lost_entry(2, NOW + 20 + LEASE + 1, "w2", NOW + 20),
        {
            "at": NOW + 5010,
            "started": NOW + 5000,
            "attempt": 3,
            "type": "ValueError",
            "message": "boom",
        },
    ]


def test_failed_index_keeps_its_retention(client: SyncClient, keys: QueueKeys) -> None:
    jobs = [new_job(f"j{i}", max_attempts=1) for i in range(5)]
    start(client, keys, *jobs)
    keep_two = proto.Retention(failed_s=0, failed_max=2)

    call = proto.recover(keys, tasks=["t"], gate_ms=0, retention=keep_two, now_ms=NOW + 5000)
    reply = client.run(call)

    assert (reply.requeued, reply.failed) == (0, 5)
    state = assert_invariants(client, keys, TASKS)
    assert len(state.zset(keys.failed)) == 2
    assert set(state.jobs) == set(state.zset(keys.failed))
