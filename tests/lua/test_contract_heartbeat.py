"""heartbeat.lua: lease renewal under the fencing token; lost and cancelled jobs."""

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
    heartbeat,
    new_job,
    outcome,
    recover,
)

TASKS = ("t",)


def start(client: SyncClient, keys: QueueKeys, *names: str) -> dict[str, proto.ClaimedJob]:
    enqueue(client, keys, [new_job(name) for name in names])
    reply = claim(client, keys, len(names), lease_ms=1000)
    return {job.id: job for job in reply.jobs}


def test_extends_matching_leases_and_registers_the_worker(
    client: SyncClient, keys: QueueKeys
) -> None:
    jobs = start(client, keys, "j1", "j2")
    before = assert_invariants(client, keys, TASKS)
    assert before.running == {"j1": NOW + 1000, "j2": NOW + 1000}

    held = [(j.id, j.token) for j in jobs.values()]
    reply = heartbeat(client, keys, held, now=NOW + 600, lease_ms=2000)

    assert reply == proto.HeartbeatReply(NOW + 600, [], [])
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {"j1": NOW + 2600, "j2": NOW + 2600}
    assert state.zset(keys.workers) == {"w1": NOW + 600}
    assert state.jobs == before.jobs  # the records are not touched
    assert state.key_names == before.key_names | {keys.workers}


def test_registers_the_worker_without_jobs(client: SyncClient, keys: QueueKeys) -> None:
    assert heartbeat(client, keys, [], now=NOW) == proto.HeartbeatReply(NOW, [], [])
    heartbeat(client, keys, [], now=NOW + 10, worker="w2")
    heartbeat(client, keys, [], now=NOW + 20)

    state = assert_invariants(client, keys, TASKS)
    assert state.zset(keys.workers) == {"w2": NOW + 10, "w1": NOW + 20}
    assert state.key_names == {keys.workers}


def test_wrong_token_is_lost_and_not_extended(client: SyncClient, keys: QueueKeys) -> None:
    jobs = start(client, keys, "j1", "j2")

    reply = heartbeat(client, keys, [("j1", "5"), ("j2", jobs["j2"].token)], now=NOW + 500)

    assert (reply.lost, reply.cancelled) == (["j1"], [])
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {"j1": NOW + 1000, "j2": NOW + 500 + 30_000}


def test_missing_job_is_lost_and_not_added(client: SyncClient, keys: QueueKeys) -> None:
    jobs = start(client, keys, "j1")

    reply = heartbeat(client, keys, [("ghost", "1"), ("j1", jobs["j1"].token)], now=NOW + 500)

    assert (reply.lost, reply.cancelled) == (["ghost"], [])
    state = assert_invariants(client, keys, TASKS)
    assert set(state.running) == {"j1"}
    assert "ghost" not in state.hash(keys.jobs)


def test_recovered_job_is_lost_and_not_put_back_in_running(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = start(client, keys, "j1")["j1"]
    assert recover(client, keys, now=NOW + 1001).requeued == 1
    before = assert_invariants(client, keys, TASKS)

    reply = heartbeat(client, keys, [("j1", job.token)], now=NOW + 1002)

    assert (reply.lost, reply.cancelled) == (["j1"], [])
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {}
    assert state.ready() == before.ready()
    assert state.jobs == before.jobs


def test_old_owner_cannot_extend_the_new_owners_lease(client: SyncClient, keys: QueueKeys) -> None:
    old = start(client, keys, "j1")["j1"]
    recover(client, keys, now=NOW + 1001)
    (new,) = claim(client, keys, 1, now=NOW + 1002, worker="w2", lease_ms=1000).jobs

    reply = heartbeat(client, keys, [("j1", old.token)], now=NOW + 1500, lease_ms=60_000)

    assert reply.lost == ["j1"]
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {"j1": NOW + 2002}

    reply = heartbeat(client, keys, [("j1", new.token)], now=NOW + 1600, worker="w2")
    assert reply.lost == []
    assert assert_invariants(client, keys, TASKS).running == {"j1": NOW + 1600 + 30_000}


def test_finished_job_is_lost(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, "j1")["j1"]
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 10)

    reply = heartbeat(client, keys, [("j1", job.token)], now=NOW + 20)

    assert reply.lost == ["j1"]
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {}
    assert state.job("j1")["s"] == "succeeded"


def test_cancelled_job_is_reported_and_not_extended(client: SyncClient, keys: QueueKeys) -> None:
    jobs = start(client, keys, "j1", "j2")
    assert cancel(client, keys, "j1", now=NOW + 100) == proto.CancelResult.REQUESTED
    before = assert_invariants(client, keys, TASKS)

    held = [(j.id, j.token) for j in jobs.values()]
    reply = heartbeat(client, keys, held, now=NOW + 500)

    assert (reply.lost, reply.cancelled) == ([], ["j1"])
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {"j1": NOW + 1000, "j2": NOW + 500 + 30_000}
    assert state.jobs == before.jobs
    assert state.active == {"t": 2}  # the cancelled job keeps its slot until released


def test_cancelled_job_with_a_wrong_token_is_lost(client: SyncClient, keys: QueueKeys) -> None:
    start(client, keys, "j1")
    cancel(client, keys, "j1", now=NOW + 100)

    reply = heartbeat(client, keys, [("j1", "2")], now=NOW + 500)

    assert (reply.lost, reply.cancelled) == (["j1"], [])
    assert_invariants(client, keys, TASKS)


def test_a_leaving_worker_is_removed_and_silent_ones_are_forgotten(
    client: SyncClient, keys: QueueKeys
) -> None:
    hour = 3_600_000
    heartbeat(client, keys, [], now=NOW, worker="silent")
    heartbeat(client, keys, [], now=NOW + hour // 2, worker="w1")
    heartbeat(client, keys, [], now=NOW + hour // 2, worker="w2")

    # lease 0: w1 is leaving; "silent" is more than an hour old by now
    heartbeat(client, keys, [], now=NOW + hour + 1, worker="w1", lease_ms=0)

    state = assert_invariants(client, keys, TASKS)
    assert state.zset(keys.workers) == {"w2": NOW + hour // 2}
