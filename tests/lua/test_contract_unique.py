"""enqueue.lua's uniqueness: identities held by one job, duplicates, replace,
release when the holder finishes; if_not_exists for batches. The cases port
rexecutor's `enqueue_unique` conformance tests (no match, replace) and its seed
example, then cover the BullMQ-style modes."""

from __future__ import annotations

from dataclasses import replace

from rtask import JobStatus, Replace, Unique
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
)

TASKS = ("t", "u")


def uniq(job: proto.NewJob, rule: Unique) -> proto.NewJob:
    return replace(job, unique=rule.spec(job.task))


def codes(reply: proto.EnqueueReply) -> list[object]:
    """1 stored, 0 id exists, ("dup", id) or ("replaced", id)."""
    out: list[object] = []
    for k, stored in enumerate(reply.stored):
        existing = reply.existing[k] if reply.existing else None
        if existing is not None:
            out.append(("replaced" if reply.replaced and reply.replaced[k] else "dup", existing))
        else:
            out.append(1 if stored else 0)
    return out


def test_second_job_with_the_same_identity_is_a_duplicate(
    client: SyncClient, keys: QueueKeys
) -> None:
    rule = Unique("k")
    assert codes(enqueue(client, keys, [uniq(new_job("j1"), rule)])) == [1]
    reply = enqueue(client, keys, [uniq(new_job("j2", delay_ms=100), rule)], now=NOW + 1)

    assert codes(reply) == [("dup", "j1")]
    state = assert_invariants(client, keys, TASKS)
    assert set(state.jobs) == {"j1"}
    assert state.hash(keys.unique) == {"t|k": "j1"}
    assert state.job("j1")["u"] == "t|k"
    assert list(state.ready()) == ["j1"] and state.scheduled() == {}


def test_other_keys_and_other_tasks_do_not_conflict(client: SyncClient, keys: QueueKeys) -> None:
    reply = enqueue(
        client,
        keys,
        [
            uniq(new_job("j1"), Unique("a")),
            uniq(new_job("j2"), Unique("b")),
            uniq(new_job("j3", "u"), Unique("a")),
            new_job("j4"),  # no rule: never a duplicate
        ],
    )
    assert codes(reply) == [1, 1, 1, 1]
    state = assert_invariants(client, keys, TASKS)
    assert state.hash(keys.unique) == {"t|a": "j1", "t|b": "j2", "u|a": "j3"}


def test_queue_wide_key_spans_tasks(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique("k", by_task=False)
    enqueue(client, keys, [uniq(new_job("j1"), rule)])
    reply = enqueue(client, keys, [uniq(new_job("j2", "u"), rule)])
    assert codes(reply) == [("dup", "j1")]
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {"*|k": "j1"}


def test_same_identity_twice_in_one_call(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique("k")
    reply = enqueue(client, keys, [uniq(new_job("j1"), rule), uniq(new_job("j2"), rule)])
    assert codes(reply) == [1, ("dup", "j1")]
    assert set(assert_invariants(client, keys, TASKS).jobs) == {"j1"}


def test_holder_outside_the_statuses_is_taken_over(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique("k")  # default statuses: scheduled, queued
    enqueue(client, keys, [uniq(new_job("j1"), rule)])
    (held,) = claim(client, keys, 1).jobs

    assert codes(enqueue(client, keys, [uniq(new_job("j2"), rule)])) == [1]
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {"t|k": "j2"}

    # the old holder finishing leaves the new holder's identity alone
    finish(client, keys, [outcome(held, proto.OutcomeCode.SUCCEEDED)], now=NOW + 5)
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {"t|k": "j2"}


def test_window_is_inclusive_around_the_new_job_time(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique("k", within=1.0)
    enqueue(client, keys, [uniq(new_job("j1", delay_ms=5000), rule)])
    # 1000 ms earlier than the holder: inside the window
    assert codes(enqueue(client, keys, [uniq(new_job("j2", delay_ms=4000), rule)])) == [
        ("dup", "j1")
    ]
    # 1001 ms later: outside, stored, and holds the identity from now on
    assert codes(enqueue(client, keys, [uniq(new_job("j3", delay_ms=6001), rule)])) == [1]
    state = assert_invariants(client, keys, TASKS)
    assert state.scheduled() == {"j1": NOW + 5000, "j3": NOW + 6001}
    assert state.hash(keys.unique) == {"t|k": "j3"}


def test_within_zero_matches_the_exact_time_only(client: SyncClient, keys: QueueKeys) -> None:
    # rexecutor's cron dedupe: by task, key = the data, within 0
    rule = Unique("tick", within=0)
    enqueue(client, keys, [uniq(new_job("j1", delay_ms=60_000), rule)])
    reply = enqueue(client, keys, [uniq(new_job("j2", delay_ms=59_990), rule)], now=NOW + 10)
    assert codes(reply) == [("dup", "j1")]


def test_replace_priority_moves_the_waiting_holder(client: SyncClient, keys: QueueKeys) -> None:
    # rexecutor's seed example: by executor, within 300 s, replace priority for all statuses
    rule = Unique(
        within=300, replace=Replace(frozenset({"priority"}), statuses=frozenset(JobStatus))
    )
    enqueue(client, keys, [uniq(new_job("j1", priority=5), rule)])
    reply = enqueue(client, keys, [uniq(new_job("j2", priority=-2), rule)], now=NOW + 10)

    assert codes(reply) == [("replaced", "j1")]
    state = assert_invariants(client, keys, TASKS)
    assert set(state.jobs) == {"j1"}
    assert state.job("j1")["p"] == -2
    assert state.ready() == {"j1": ready_score(-2, NOW)}


def test_replace_skips_statuses_it_was_not_given(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique(
        "k",
        statuses=frozenset({JobStatus.RUNNING, JobStatus.QUEUED}),
        replace=Replace(frozenset({"priority"})),  # for scheduled/queued only
    )
    enqueue(client, keys, [uniq(new_job("j1", priority=5), rule)])
    claim(client, keys, 1)
    reply = enqueue(client, keys, [uniq(new_job("j2", priority=-2), rule)])
    assert codes(reply) == [("dup", "j1")]
    assert assert_invariants(client, keys, TASKS).job("j1")["p"] == 5


def test_debounce_replaces_args_and_time_of_the_waiting_job(
    client: SyncClient, keys: QueueKeys
) -> None:
    rule = Unique.debounce("k")
    enqueue(client, keys, [uniq(new_job("j1", payload=b"v1"), rule)])
    reply = enqueue(
        client, keys, [uniq(new_job("j2", delay_ms=3000, payload=b"v2"), rule)], now=NOW + 100
    )

    assert codes(reply) == [("replaced", "j1")]
    state = assert_invariants(client, keys, TASKS)
    assert state.payload("j1") == b"v2"
    assert state.job("j1")["due"] == NOW + 3100
    assert state.scheduled() == {"j1": NOW + 3100} and state.ready() == {}


def test_debounce_after_the_job_started_enqueues_a_new_one(
    client: SyncClient, keys: QueueKeys
) -> None:
    rule = Unique.debounce("k")
    enqueue(client, keys, [uniq(new_job("j1"), rule)])
    claim(client, keys, 1)
    assert codes(enqueue(client, keys, [uniq(new_job("j2"), rule)])) == [1]


def test_identity_is_released_when_the_holder_finishes(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique.while_running("k")
    enqueue(client, keys, [uniq(new_job("j1"), rule)])
    (job,) = claim(client, keys, 1).jobs
    assert codes(enqueue(client, keys, [uniq(new_job("j2"), rule)])) == [("dup", "j1")]

    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 5)
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {}
    assert codes(enqueue(client, keys, [uniq(new_job("j3"), rule)], now=NOW + 6)) == [1]


def test_cancel_and_lost_leases_release_the_identity(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique.while_running()
    enqueue(client, keys, [uniq(new_job("j1"), rule)])
    cancel(client, keys, "j1", now=NOW + 1)
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {}

    enqueue(client, keys, [uniq(new_job("j2", max_attempts=1), rule)], now=NOW + 2)
    claim(client, keys, 1, now=NOW + 2)
    assert recover(client, keys, now=NOW + 10**6).failed == 1
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {}


def test_throttle_holds_the_identity_after_finishing(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique.throttle("k", 10)
    enqueue(client, keys, [uniq(new_job("j1"), rule)])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 5)
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {"t|k": "j1"}

    assert codes(enqueue(client, keys, [uniq(new_job("j2"), rule)], now=NOW + 10_005)) == [
        ("dup", "j1")
    ]
    assert codes(enqueue(client, keys, [uniq(new_job("j3"), rule)], now=NOW + 10_006)) == [1]
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {"t|k": "j3"}


def test_idempotency_key_expires_after_its_ttl(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique.idempotent("order-7", ttl=60)
    enqueue(client, keys, [uniq(new_job("j1"), rule)])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.FAILED)], now=NOW + 5)
    # failed, but the key holds for 60 s after enqueue whatever the outcome
    assert codes(enqueue(client, keys, [uniq(new_job("j2"), rule)], now=NOW + 59_999)) == [
        ("dup", "j1")
    ]
    assert codes(enqueue(client, keys, [uniq(new_job("j3"), rule)], now=NOW + 60_000)) == [1]


def test_holder_deleted_by_retention_no_longer_holds(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique("k", statuses=frozenset(JobStatus))  # held while the record exists
    enqueue(client, keys, [uniq(new_job("j1"), rule)])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 5)
    assert codes(enqueue(client, keys, [uniq(new_job("j2"), rule)], now=NOW + 6)) == [("dup", "j1")]
    client.redis.hdel(keys.jobs, "j1", "j1:p")  # what a retention trim does
    client.redis.zrem(keys.succeeded, "j1")
    client.redis.zrem(keys.created, "j1")
    assert codes(enqueue(client, keys, [uniq(new_job("j3"), rule)], now=NOW + 7)) == [1]


def test_if_not_exists_stores_nothing_when_one_exists(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j2")])
    call = proto.enqueue(
        keys, [new_job("j1"), new_job("j2"), new_job("j3")], now_ms=NOW, if_not_exists=True
    )
    reply = client.run(call)
    assert reply.stored == [False, False, False]
    assert set(assert_invariants(client, keys, TASKS).jobs) == {"j2"}

    call = proto.enqueue(keys, [new_job("j1"), new_job("j3")], now_ms=NOW, if_not_exists=True)
    assert client.run(call).stored == [True, True]
    assert set(assert_invariants(client, keys, TASKS).jobs) == {"j1", "j2", "j3"}


def test_debounce_within_one_call_keeps_the_last(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique.debounce("k")
    jobs = [
        uniq(new_job("j1", delay_ms=5000, payload=b"v1"), rule),
        uniq(new_job("j2", payload=b"v2"), rule),  # due now: moves to ready
        uniq(new_job("j3", delay_ms=7000, payload=b"v3"), rule),  # back to scheduled
    ]
    assert codes(enqueue(client, keys, jobs)) == [1, ("replaced", "j1"), ("replaced", "j1")]
    state = assert_invariants(client, keys, TASKS)
    assert set(state.jobs) == {"j1"}
    assert state.payload("j1") == b"v3"
    assert state.scheduled() == {"j1": NOW + 7000} and state.ready() == {}


def test_expired_idempotency_keys_are_dropped_as_new_ones_come(
    client: SyncClient, keys: QueueKeys
) -> None:
    jobs = [uniq(new_job(f"j{k:02d}"), Unique.idempotent(f"k{k:02d}", ttl=1)) for k in range(20)]
    enqueue(client, keys, jobs)
    claimed = claim(client, keys, 20).jobs
    finish(client, keys, [outcome(j, proto.OutcomeCode.SUCCEEDED) for j in claimed], now=NOW + 5)
    state = assert_invariants(client, keys, TASKS)
    assert len(state.hash(keys.unique)) == 20 and len(state.zset(keys.unique_exp)) == 20

    # expired: each unique enqueue drops up to 8 of them
    late = NOW + 1000
    enqueue(client, keys, [uniq(new_job("n1"), Unique("other"))], now=late)
    state = assert_invariants(client, keys, TASKS)
    assert len(state.hash(keys.unique)) == 20 - 8 + 1
    assert len(state.zset(keys.unique_exp)) == 12
    for k in range(2, 4):
        enqueue(client, keys, [uniq(new_job(f"n{k}"), Unique(f"other{k}"))], now=late)
    state = assert_invariants(client, keys, TASKS)
    assert state.hash(keys.unique) == {"t|other": "n1", "t|other2": "n2", "t|other3": "n3"}
    assert state.zset(keys.unique_exp) == {}


def test_an_identity_taken_over_keeps_its_new_holder(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [uniq(new_job("j1"), Unique.idempotent("k", ttl=1))])
    cancel(client, keys, "j1", now=NOW + 1)
    # after the ttl a new job takes the identity, with no ttl of its own
    enqueue(
        client,
        keys,
        [uniq(new_job("j2"), Unique("k", statuses=frozenset(JobStatus)))],
        now=NOW + 1000,
    )
    state = assert_invariants(client, keys, TASKS)
    assert state.hash(keys.unique) == {"t|k": "j2"}
    assert state.zset(keys.unique_exp) == {}


def test_holds_after_finishing_are_indexed_and_dropped_when_they_end(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(
        client,
        keys,
        [
            uniq(new_job("j1"), Unique.throttle("a", 10)),
            uniq(new_job("j2"), Unique("b", statuses=frozenset(JobStatus))),  # while kept
        ],
    )
    claimed = claim(client, keys, 2).jobs
    keep_an_hour = proto.Retention(succeeded_s=3600, succeeded_max=0)
    finish(
        client,
        keys,
        [outcome(j, proto.OutcomeCode.SUCCEEDED) for j in claimed],
        now=NOW + 5,
        retention=keep_an_hour,
    )
    state = assert_invariants(client, keys, TASKS)
    assert state.zset(keys.unique_exp) == {"t|a": NOW + 10_005, "t|b": NOW + 5 + 3_600_000}

    enqueue(client, keys, [uniq(new_job("x1"), Unique("x"))], now=NOW + 20_000)
    state = assert_invariants(client, keys, TASKS)
    assert state.hash(keys.unique) == {"t|b": "j2", "t|x": "x1"}
    assert state.zset(keys.unique_exp) == {"t|b": NOW + 5 + 3_600_000}
