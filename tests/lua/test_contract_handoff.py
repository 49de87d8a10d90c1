"""Direct hand-off: park.lua registers a worker, enqueue_plain.lua claims a
job for it and pushes it onto the handoff list, recover.lua hands back what
nobody popped. A hand-off stores exactly what enqueue + claim store."""

from __future__ import annotations

import pytest

from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys, queue_keys
from tests.lua._state import (
    LEASE_MS,
    NOW,
    assert_invariants,
    cancel,
    claim,
    finish,
    heartbeat,
    new_job,
    outcome,
    ready_score,
    recover,
    snapshot,
    wake_listener,
)

TASKS = ("t", "u")
MEMBER = proto.park_member(LEASE_MS, "w1")
LIVE_MS = 1500
STALE_MS = 1000  # recover.lua's HANDOFF_STALE_MS


def park(
    client: SyncClient,
    keys: QueueKeys,
    tasks: tuple[str, ...] = ("t",),
    *,
    member: str = MEMBER,
    live_ms: int = LIVE_MS,
    now: int = NOW,
) -> bool:
    return client.run(
        proto.park(keys, tasks, member=member, live_ms=live_ms, now_ms=now)
    ).registered


def leave(
    client: SyncClient, keys: QueueKeys, tasks: tuple[str, ...] = ("t",), *, member: str = MEMBER
) -> bytes | None:
    """park.lua's leave: the entry it popped, if any."""
    reply = client.run(proto.park(keys, tasks, member=member, live_ms=0, now_ms=NOW + 5))
    assert reply.registered is True
    return reply.entry


def plain(
    client: SyncClient, keys: QueueKeys, *jobs: proto.NewJob, now: int = NOW
) -> proto.EnqueueReply:
    first = jobs[0]
    plan = proto.enqueue_plain(keys, first.task, first.delay_ms, first.priority, first.body)
    (call,) = plan.many(now, [j.id for j in jobs], [j.payload for j in jobs], len(jobs))
    return client.run(call)


def pop(client: SyncClient, keys: QueueKeys) -> proto.ClaimedJob:
    """What a parked worker's BLPOP takes."""
    entry = client.redis.lpop(keys.handoff)
    assert isinstance(entry, bytes)
    return proto.handed_off("q", entry)


def test_a_hand_off_stores_what_enqueue_then_claim_store(
    client: SyncClient, keys: QueueKeys, prefix: str
) -> None:
    job = new_job("j1", priority=3, tags=["x"])
    with wake_listener(client, keys) as wake:
        assert park(client, keys) is True
        assert plain(client, keys, job).stored == [True]
        assert wake.published() == []  # the parked worker has it: nobody to wake
    handed = assert_invariants(client, keys, TASKS)

    # the same job enqueued with nobody parked, then claimed by w1
    other = queue_keys(prefix, "other", index_created=True)
    assert plain(client, other, job).stored == [True]
    (claimed,) = claim(client, other, 1, worker="w1").jobs
    usual = snapshot(client, other)

    assert client.redis.hget(keys.jobs, "j1") == client.redis.hget(other.jobs, "j1")
    assert handed.running == usual.running == {"j1": NOW + LEASE_MS}
    assert handed.active == usual.active == {"t": 1}
    assert handed.ready() == {} and handed.parked() == {}  # the registration is used up
    assert handed.set(keys.tasks) == {"t"}
    assert handed.zset(keys.created) == {"j1": NOW}
    (entry,) = handed.handoff
    got = proto.handed_off("q", entry)
    assert (got.id, got.state, got.payload) == (claimed.id, claimed.state, claimed.payload)
    assert (got.attempt, got.token, got.state["w"], got.state["st"]) == (1, "1", "w1", NOW)


@pytest.mark.parametrize(
    ("case", "jobs", "registered"),
    [
        ("nobody parked", [new_job("j1")], None),
        ("registration expired", [new_job("j1")], NOW - LIVE_MS - 1),
        ("parked for another task", [new_job("k1", "u")], NOW),
        ("delayed", [new_job("j1", delay_ms=10)], NOW),
        ("two jobs in one call", [new_job("j1"), new_job("j2")], NOW),
    ],
)
def test_no_hand_off(
    client: SyncClient,
    keys: QueueKeys,
    case: str,
    jobs: list[proto.NewJob],
    registered: int | None,
) -> None:
    if registered is not None:
        park(client, keys, now=registered)
    assert plain(client, keys, *jobs).stored == [True] * len(jobs)
    state = assert_invariants(client, keys, TASKS)
    assert state.handoff == [] and state.running == {}, case
    task = jobs[0].task
    waiting = state.scheduled(task) if jobs[0].delay_ms else state.ready(task)
    assert set(waiting) == {j.id for j in jobs}, case


def test_no_hand_off_when_jobs_are_ready_already(client: SyncClient, keys: QueueKeys) -> None:
    plain(client, keys, new_job("j1"))
    park(client, keys)
    plain(client, keys, new_job("j2"))  # j1 comes first: a claim takes both in order
    state = assert_invariants(client, keys, TASKS)
    assert list(state.ready()) == ["j1", "j2"] and state.handoff == []
    assert state.parked() == {MEMBER: NOW + LIVE_MS}


def test_one_hand_off_per_registration(client: SyncClient, keys: QueueKeys) -> None:
    park(client, keys)
    with wake_listener(client, keys) as wake:
        plain(client, keys, new_job("j1"))
        plain(client, keys, new_job("j2"))
        assert wake.published() == [b"1"]  # j2 is ready: workers are woken
    state = assert_invariants(client, keys, TASKS)
    assert [proto.handed_off("q", e).id for e in state.handoff] == ["j1"]
    assert state.ready() == {"j2": ready_score(0, NOW)}


def test_an_existing_id_is_not_handed_off(client: SyncClient, keys: QueueKeys) -> None:
    plain(client, keys, new_job("j1"))
    claim(client, keys, 1)  # ready:t is empty again
    park(client, keys)
    assert plain(client, keys, new_job("j1", payload=b"other")).stored == [False]
    state = assert_invariants(client, keys, TASKS)
    assert state.handoff == [] and state.payload("j1") == b"payload-j1"
    assert state.job("j1")["c"] == 1


def test_the_longest_parked_worker_is_served_first(client: SyncClient, keys: QueueKeys) -> None:
    first, second = proto.park_member(5000, "w1"), proto.park_member(9000, "w2")
    park(client, keys, member=first, now=NOW - 10)
    park(client, keys, member=second)
    plain(client, keys, new_job("j1"))
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["w"] == "w1" and state.running == {"j1": NOW + 5000}
    assert state.parked() == {second: NOW + LIVE_MS}


def test_park_registers_renews_and_leaves(client: SyncClient, keys: QueueKeys) -> None:
    park(client, keys, ("t", "u"))
    park(client, keys, ("t", "u"), member="1000|w9", now=NOW - 5 * LIVE_MS)  # long expired
    state = snapshot(client, keys)
    assert state.parked("t") == {"1000|w9": NOW - 4 * LIVE_MS, MEMBER: NOW + LIVE_MS}
    park(client, keys, ("t", "u"), now=NOW + 100)  # renewed; the expired one is dropped
    state = snapshot(client, keys)
    assert state.parked("t") == state.parked("u") == {MEMBER: NOW + 100 + LIVE_MS}
    park(client, keys, ("t", "u"), live_ms=0)
    assert snapshot(client, keys).key_names.isdisjoint({keys.parked("t"), keys.parked("u")})


def test_a_popped_hand_off_finishes_like_a_claimed_job(client: SyncClient, keys: QueueKeys) -> None:
    park(client, keys)
    plain(client, keys, new_job("j1"))
    job = pop(client, keys)
    assert finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 5) == [
        proto.FinishResult.APPLIED
    ]
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["s"] == "succeeded" and state.active == {"t": 0}
    # the sweep finds nothing to hand back
    assert recover(client, keys, now=NOW + 10 * STALE_MS).requeued == 0


def test_a_hand_off_nobody_took_goes_back_to_ready(client: SyncClient, keys: QueueKeys) -> None:
    park(client, keys)
    plain(client, keys, new_job("j1", priority=2))
    young = recover(client, keys, now=NOW + STALE_MS - 1)
    assert young.requeued == 0 and len(snapshot(client, keys).handoff) == 1
    with wake_listener(client, keys) as wake:
        assert recover(client, keys, now=NOW + STALE_MS).requeued == 1
        assert wake.published() == [b"1"]
    state = assert_invariants(client, keys, TASKS)
    assert state.handoff == [] and state.running == {} and state.active == {"t": 0}
    assert state.ready() == {"j1": ready_score(2, NOW)}  # its place in line kept
    st = state.job("j1")
    assert (st["s"], st["a"], "w" in st, "st" in st) == ("scheduled", 0, False, False)
    # claimed again: a first attempt, under a new token (the hand-off's is dead)
    (again,) = claim(client, keys, 1, now=NOW + STALE_MS + 1).jobs
    assert (again.attempt, again.token) == (1, "2")


def test_a_hand_off_whose_lease_ended_goes_back_however_young(
    client: SyncClient, keys: QueueKeys
) -> None:
    park(client, keys, member=proto.park_member(100, "w1"))
    plain(client, keys, new_job("j1"))
    reply = recover(client, keys, now=NOW + 101)
    assert (reply.requeued, reply.failed) == (1, 0)  # released: no attempt used, not lost
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["a"] == 0 and state.errors("j1") == []


def test_a_hand_off_of_an_unknown_task_is_left_for_a_worker_that_knows_it(
    client: SyncClient, keys: QueueKeys
) -> None:
    park(client, keys)
    plain(client, keys, new_job("j1"))
    assert recover(client, keys, tasks=("u",), now=NOW + STALE_MS).requeued == 0
    assert len(assert_invariants(client, keys, TASKS).handoff) == 1


def test_a_hand_off_cancelled_before_anyone_took_it_ends_cancelled(
    client: SyncClient, keys: QueueKeys
) -> None:
    park(client, keys)
    plain(client, keys, new_job("j1"))
    assert cancel(client, keys, "j1", now=NOW + 1) == proto.CancelResult.REQUESTED
    recover(client, keys, now=NOW + STALE_MS)
    state = assert_invariants(client, keys, TASKS)
    assert state.handoff == [] and state.running == {}
    assert state.job("j1")["s"] == "cancelled" and "j1" in state.zset(keys.cancelled)


def test_a_deleted_hand_off_leaves_nothing_behind(client: SyncClient, keys: QueueKeys) -> None:
    park(client, keys)
    plain(client, keys, new_job("j1"))
    client.redis.hdel(keys.jobs, "j1", "j1:p")  # gone meanwhile (as if pruned)
    client.redis.zrem(keys.running, "j1")
    client.redis.hset(keys.active, "t", 0)
    client.redis.zrem(keys.created, "j1")
    recover(client, keys, now=NOW + STALE_MS)
    assert snapshot(client, keys).handoff == []


def test_the_worker_that_popped_it_takes_its_name_at_its_heartbeat(
    client: SyncClient, keys: QueueKeys
) -> None:
    park(client, keys)  # w1 registered, but w2 pops the entry
    plain(client, keys, new_job("j1"))
    job = pop(client, keys)
    record = client.redis.hget(keys.jobs, "j1")
    # the registered worker's own heartbeat (had it popped) rewrites nothing
    assert heartbeat(client, keys, [(job.id, job.token)], now=NOW + 1, worker="w1").lost == []
    assert client.redis.hget(keys.jobs, "j1") == record
    reply = heartbeat(client, keys, [(job.id, job.token)], now=NOW + 2, worker="w2")
    assert (reply.lost, reply.cancelled) == ([], [])
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "w": "w2"}
    assert state.running == {"j1": NOW + 2 + LEASE_MS}


def test_no_registration_while_an_entry_waits(client: SyncClient, keys: QueueKeys) -> None:
    """One registration stands for one pop to come: a worker whose pop timed
    out as a job was handed to it registers again only once it took that job."""
    park(client, keys)
    plain(client, keys, new_job("j1"))  # handed off; nobody has popped it yet
    assert park(client, keys, now=NOW + 1) is False
    plain(client, keys, new_job("j2"), now=NOW + 2)
    state = assert_invariants(client, keys, TASKS)
    assert [proto.handed_off("q", e).id for e in state.handoff] == ["j1"]
    assert state.parked() == {} and list(state.ready()) == ["j2"]
    pop(client, keys)
    assert park(client, keys, now=NOW + 3) is True
    assert park(client, keys, live_ms=0) is True  # leaving works whatever waits
    assert snapshot(client, keys).parked() == {}


def test_leaving_takes_the_hand_off_that_took_the_registration(
    client: SyncClient, keys: QueueKeys
) -> None:
    """A worker that stops standing (its slot is wanted by a claim) as an
    enqueue hands it a job takes the job with its leave: it kept the slot."""
    park(client, keys, ("t", "u"))
    plain(client, keys, new_job("j1"))  # takes the registration for t
    entry = leave(client, keys, ("t", "u"))
    assert entry is not None and proto.handed_off("q", entry).id == "j1"
    state = assert_invariants(client, keys, TASKS)
    assert state.handoff == [] and state.parked() == {} and state.parked("u") == {}
    assert state.running == {"j1": NOW + LEASE_MS}


def test_leaving_with_the_registration_standing_takes_nothing(
    client: SyncClient, keys: QueueKeys
) -> None:
    """An entry waiting for another parked worker stays for its pop."""
    other = proto.park_member(LEASE_MS, "w2")
    park(client, keys, member=other, now=NOW - 10)
    park(client, keys)
    plain(client, keys, new_job("j1"))  # handed to w2, the longest parked
    assert leave(client, keys) is None
    state = assert_invariants(client, keys, TASKS)
    assert [proto.handed_off("q", e).id for e in state.handoff] == ["j1"]
    assert state.parked() == {}
    assert leave(client, keys, member=other) is not None  # w2's leave takes it after all
    assert assert_invariants(client, keys, TASKS).handoff == []
