"""claim.lua: promotion, order, limits, caps, fairness, leases and tokens."""

from __future__ import annotations

from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys, queue_keys
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
    ready_score,
    snapshot,
)

TASKS = ("t", "u", "v")
BOTH = (("t", 0), ("u", 0))


def ids(reply: proto.ClaimReply) -> list[str]:
    return [job.id for job in reply.jobs]


def fill(client: SyncClient, keys: QueueKeys, task: str, count: int) -> list[str]:
    names = [f"{task}{i:03d}" for i in range(count)]
    enqueue(client, keys, [new_job(name, task) for name in names])
    return names


def test_order_is_priority_then_due_then_id(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("c1", priority=5)], now=NOW - 5000)
    enqueue(client, keys, [new_job("a3")], now=NOW - 3000)
    enqueue(client, keys, [new_job("a2"), new_job("a1")], now=NOW - 2000)
    enqueue(client, keys, [new_job("b1", priority=-5)], now=NOW - 1000)
    enqueue(client, keys, [new_job("d1")], now=NOW)
    assert_invariants(client, keys, TASKS)

    first = claim(client, keys, 2)
    assert ids(first) == ["b1", "a3"]
    assert_invariants(client, keys, TASKS)
    rest = claim(client, keys, 10)
    assert ids(rest) == ["a1", "a2", "d1", "c1"]
    state = assert_invariants(client, keys, TASKS)
    assert state.ready() == {}
    assert set(state.running) == {"b1", "a3", "a1", "a2", "d1", "c1"}


def test_n_limits_the_claim(client: SyncClient, keys: QueueKeys) -> None:
    names = fill(client, keys, "t", 5)

    reply = claim(client, keys, 3)
    assert ids(reply) == names[:3]
    state = assert_invariants(client, keys, TASKS)
    assert list(state.ready()) == names[3:]
    assert state.active == {"t": 3}

    before = snapshot(client, keys)
    assert ids(claim(client, keys, 0)) == []
    assert snapshot(client, keys) == before


def test_claimed_state_lease_and_reply(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1", priority=2, tags=["x"])], now=NOW - 10)

    reply = claim(client, keys, 5, now=NOW, worker="w1", lease_ms=4000)

    assert reply.now_ms == NOW
    assert reply.next_due_ms is None
    (job,) = reply.jobs
    state = assert_invariants(client, keys, TASKS)
    assert job.state == state.job("j1")
    assert job.state == {
        "ct": NOW - 10,
        "due": NOW - 10,
        "t": "t",
        "s": "running",
        "a": 1,
        "m": 3,
        "p": 2,
        "c": 1,
        "to": 0,
        "tg": ["x"],
        "w": "w1",
        "st": NOW,
    }
    assert (job.id, job.queue, job.payload, job.token) == ("j1", "q", b"payload-j1", "1")
    assert state.running == {"j1": NOW + 4000}
    assert state.active == {"t": 1}
    assert state.ready() == {}
    assert state.key_names == {keys.jobs, keys.tasks, keys.running, keys.active, keys.created}


def test_token_and_attempt_grow_per_claim(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1", max_attempts=5)])

    (run1,) = claim(client, keys, 1, now=NOW, worker="w1").jobs
    assert (run1.attempt, run1.token) == (1, "1")
    finish(client, keys, [outcome(run1, proto.OutcomeCode.RETRY)], now=NOW + 10)
    assert_invariants(client, keys, TASKS)

    (run2,) = claim(client, keys, 1, now=NOW + 20, worker="w2").jobs
    assert (run2.attempt, run2.token) == (2, "2")
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["w"] == "w2"
    assert state.job("j1")["st"] == NOW + 20
    assert state.running == {"j1": NOW + 20 + LEASE_MS}

    # a snooze gives the attempt back, but the token keeps growing
    finish(client, keys, [outcome(run2, proto.OutcomeCode.SNOOZED)], now=NOW + 30)
    assert_invariants(client, keys, TASKS)
    (run3,) = claim(client, keys, 1, now=NOW + 40, worker="w3").jobs
    assert (run3.attempt, run3.token) == (2, "3")
    assert_invariants(client, keys, TASKS)


def test_due_scheduled_jobs_are_promoted_and_future_ones_not(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(
        client,
        keys,
        [
            new_job("s1", delay_ms=1000, priority=1),
            new_job("s2", delay_ms=2000),
            new_job("s3", delay_ms=5000),
            new_job("r1", priority=1),
        ],
    )

    reply = claim(client, keys, 0, now=NOW + 2000)
    assert reply == proto.ClaimReply(NOW + 2000, NOW + 5000, [])
    state = assert_invariants(client, keys, TASKS)
    # promoted with their own due time, not the time of promotion
    assert state.ready() == {
        "s2": ready_score(0, NOW + 2000),
        "r1": ready_score(1, NOW),
        "s1": ready_score(1, NOW + 1000),
    }
    assert state.scheduled() == {"s3": NOW + 5000}

    reply = claim(client, keys, 10, now=NOW + 2000)
    assert ids(reply) == ["s2", "r1", "s1"]
    assert reply.next_due_ms == NOW + 5000
    assert_invariants(client, keys, TASKS)

    reply = claim(client, keys, 10, now=NOW + 4999)
    assert (ids(reply), reply.next_due_ms) == ([], NOW + 5000)
    reply = claim(client, keys, 10, now=NOW + 5000)  # due exactly now: promoted
    assert (ids(reply), reply.next_due_ms) == (["s3"], None)
    state = assert_invariants(client, keys, TASKS)
    assert state.scheduled() == {}
    assert state.active == {"t": 4}


def test_promote_limit_and_next_due_over_tasks(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(
        client,
        keys,
        [
            new_job("s1", delay_ms=100),
            new_job("s2", delay_ms=200),
            new_job("s3", delay_ms=300),
            new_job("u1", "u", delay_ms=900),
            new_job("u2", "u", delay_ms=400),
        ],
    )

    reply = claim(client, keys, 0, tasks=BOTH, now=NOW + 500, promote_limit=2)

    assert reply.next_due_ms == NOW + 300  # s3 was due but beyond the limit
    state = assert_invariants(client, keys, TASKS)
    assert list(state.ready()) == ["s1", "s2"]
    assert state.scheduled() == {"s3": NOW + 300}
    assert state.ready("u") == {"u2": ready_score(0, NOW + 400)}
    assert state.scheduled("u") == {"u1": NOW + 900}

    reply = claim(client, keys, 0, tasks=BOTH, now=NOW + 500, promote_limit=2)
    assert reply.next_due_ms == NOW + 900
    assert list(assert_invariants(client, keys, TASKS).ready()) == ["s1", "s2", "s3"]


def test_only_the_passed_tasks_are_touched(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("t1"), new_job("t2", delay_ms=10), new_job("u1", "u")])

    reply = claim(client, keys, 10, tasks=[("u", 0)], now=NOW + 100)

    assert ids(reply) == ["u1"]
    assert reply.next_due_ms is None  # scheduled:t was not looked at
    state = assert_invariants(client, keys, TASKS)
    assert state.ready() == {"t1": ready_score(0, NOW)}
    assert state.scheduled() == {"t2": NOW + 10}


def test_cap_is_enforced_across_workers(client: SyncClient, keys: QueueKeys) -> None:
    names = fill(client, keys, "t", 5)
    capped = [("t", 2)]

    first = claim(client, keys, 10, tasks=capped, worker="w1")
    assert ids(first) == names[:2]
    assert assert_invariants(client, keys, TASKS).active == {"t": 2}

    assert ids(claim(client, keys, 10, tasks=capped, worker="w2", now=NOW + 1)) == []
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 2}
    assert list(state.ready()) == names[2:]

    finish(client, keys, [outcome(first.jobs[0], proto.OutcomeCode.SUCCEEDED)], now=NOW + 2)
    assert assert_invariants(client, keys, TASKS).active == {"t": 1}

    third = claim(client, keys, 10, tasks=capped, worker="w2", now=NOW + 3)
    assert ids(third) == [names[2]]
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 2}
    assert len(state.running) == 2


def test_capped_task_does_not_block_another(client: SyncClient, keys: QueueKeys) -> None:
    t_names = fill(client, keys, "t", 5)
    u_names = fill(client, keys, "u", 5)
    tasks = [("t", 1), ("u", 0)]

    reply = claim(client, keys, 6, tasks=tasks)
    assert sorted(ids(reply)) == sorted([t_names[0], *u_names])
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 1, "u": 5}
    assert list(state.ready("t")) == t_names[1:]

    u_more = fill(client, keys, "v", 3)
    reply = claim(client, keys, 3, tasks=[("t", 1), ("v", 0)], now=NOW + 1)
    assert ids(reply) == u_more  # t is at its cap: v gets everything
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 1, "u": 5, "v": 3}


def test_fair_shares_between_tasks(client: SyncClient, keys: QueueKeys) -> None:
    fill(client, keys, "t", 20)
    fill(client, keys, "u", 20)

    reply = claim(client, keys, 10, tasks=BOTH)

    tasks_claimed = [job.task for job in reply.jobs]
    assert tasks_claimed.count("t") == 5
    assert tasks_claimed.count("u") == 5
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 5, "u": 5}
    assert len(state.ready("t")) == len(state.ready("u")) == 15


def test_unused_share_goes_to_the_other_tasks(client: SyncClient, keys: QueueKeys) -> None:
    fill(client, keys, "t", 2)
    fill(client, keys, "u", 20)
    fill(client, keys, "v", 3)

    reply = claim(client, keys, 10, tasks=[("t", 0), ("u", 0), ("v", 0)])

    tasks_claimed = [job.task for job in reply.jobs]
    assert len(tasks_claimed) == 10
    assert (tasks_claimed.count("t"), tasks_claimed.count("v")) == (2, 3)
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 2, "u": 5, "v": 3}


def test_rotation_chooses_who_gets_the_larger_share(client: SyncClient, keys: QueueKeys) -> None:
    fill(client, keys, "t", 10)
    fill(client, keys, "u", 10)

    r0 = claim(client, keys, 3, tasks=BOTH, rotation=0)
    assert [job.task for job in r0.jobs] == ["t", "t", "u"]
    r1 = claim(client, keys, 3, tasks=BOTH, rotation=1)
    assert [job.task for job in r1.jobs] == ["u", "u", "t"]
    r3 = claim(client, keys, 1, tasks=BOTH, rotation=3)  # taken modulo the task count
    assert [job.task for job in r3.jobs] == ["u"]
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 3, "u": 4}


def test_ready_member_without_record_is_dropped(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2"), new_job("j3")])
    client.redis.hdel(keys.jobs, "j1", "j1:p")
    client.redis.zrem(keys.created, "j1")

    reply = claim(client, keys, 5)

    assert ids(reply) == ["j2", "j3"]
    state = assert_invariants(client, keys, TASKS)
    assert "j1" not in state.ready() and "j1" not in state.running
    assert state.active == {"t": 2}


def test_dropped_member_does_not_take_a_claim_slot(client: SyncClient, keys: QueueKeys) -> None:
    """Up to N ready jobs: a dropped stale member must not make the claim come back empty."""
    enqueue(client, keys, [new_job("j1"), new_job("j2"), new_job("j3")])
    client.redis.hdel(keys.jobs, "j1", "j1:p")
    client.redis.zrem(keys.created, "j1")

    reply = claim(client, keys, 1)

    assert ids(reply) == ["j2"]
    state = assert_invariants(client, keys, TASKS)
    assert list(state.ready()) == ["j3"]
    assert state.active == {"t": 1}


def test_scheduled_member_without_record_is_dropped_at_promotion(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("s1", delay_ms=10), new_job("s2", delay_ms=20)])
    client.redis.hdel(keys.jobs, "s1", "s1:p")
    client.redis.zrem(keys.created, "s1")

    reply = claim(client, keys, 5, now=NOW + 20)

    assert ids(reply) == ["s2"]
    state = assert_invariants(client, keys, TASKS)
    assert state.scheduled() == {} and state.ready() == {}
    assert state.running == {"s2": NOW + 20 + LEASE_MS}


def test_cancelled_running_job_keeps_its_slot(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2")])
    capped = [("t", 1)]
    (j1,) = claim(client, keys, 5, tasks=capped).jobs
    assert cancel(client, keys, "j1", now=NOW + 1) == proto.CancelResult.REQUESTED

    assert ids(claim(client, keys, 5, tasks=capped, now=NOW + 2)) == []
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 1}
    assert list(state.ready()) == ["j2"]

    finish(client, keys, [outcome(j1, proto.OutcomeCode.SUCCEEDED)], now=NOW + 3)
    assert ids(claim(client, keys, 5, tasks=capped, now=NOW + 4)) == ["j2"]
    assert assert_invariants(client, keys, TASKS).active == {"t": 1}


# ---------------------------------------------------------------- rate limits

RATE = {"t": (3, 1000)}  # at most 3 claims of t in any 1,000 ms


def test_rate_limit_holds_back_jobs_without_using_attempts(
    client: SyncClient, keys: QueueKeys
) -> None:
    names = fill(client, keys, "t", 5)

    first = claim(client, keys, 10, rates=RATE, now=NOW)
    assert ids(first) == names[:3]
    # the limited task still has ready jobs: claim again when the oldest claim leaves
    assert first.next_due_ms == NOW + 1000
    state = assert_invariants(client, keys, TASKS)
    assert list(state.ready()) == names[3:]
    assert all(state.job(n)["a"] == 0 for n in names[3:])  # never claimed: no attempt used
    assert state.rate_log() == {f"{n}:1": NOW for n in names[:3]}

    held = claim(client, keys, 10, rates=RATE, now=NOW + 999, worker="w2")
    assert (ids(held), held.next_due_ms) == ([], NOW + 1000)
    assert list(assert_invariants(client, keys, TASKS).ready()) == names[3:]

    # the window slides: at NOW + 1000 the three claims of NOW have left it
    later = claim(client, keys, 10, rates=RATE, now=NOW + 1000, worker="w2")
    assert ids(later) == names[3:]
    assert later.next_due_ms is None  # nothing left waiting
    state = assert_invariants(client, keys, TASKS)
    assert state.rate_log() == {f"{n}:1": NOW + 1000 for n in names[3:]}
    assert all(state.job(n)["a"] == 1 for n in names)


def test_rate_limit_window_slides_claim_by_claim(client: SyncClient, keys: QueueKeys) -> None:
    names = fill(client, keys, "t", 6)

    assert ids(claim(client, keys, 1, rates=RATE, now=NOW)) == names[:1]
    assert ids(claim(client, keys, 1, rates=RATE, now=NOW + 300)) == names[1:2]
    assert ids(claim(client, keys, 5, rates=RATE, now=NOW + 600)) == names[2:3]
    reply = claim(client, keys, 5, rates=RATE, now=NOW + 900)
    assert (ids(reply), reply.next_due_ms) == ([], NOW + 1000)
    # one slot frees per old claim leaving the window
    reply = claim(client, keys, 5, rates=RATE, now=NOW + 1000)
    assert (ids(reply), reply.next_due_ms) == (names[3:4], NOW + 1300)
    assert_invariants(client, keys, TASKS)


def test_rate_limited_task_does_not_block_another(client: SyncClient, keys: QueueKeys) -> None:
    t_names = fill(client, keys, "t", 5)
    u_names = fill(client, keys, "u", 4)

    reply = claim(client, keys, 10, tasks=BOTH, rates=RATE)

    assert sorted(ids(reply)) == sorted(t_names[:3] + u_names)
    assert reply.next_due_ms == NOW + 1000
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 3, "u": 4}
    assert state.rate_log("u") == {}  # no limit: no log


def test_rate_limit_is_checked_after_promotion_and_with_the_cap(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job(f"s{i}", delay_ms=100) for i in range(4)])

    reply = claim(client, keys, 10, tasks=[("t", 2)], rates=RATE, now=NOW + 100)

    assert ids(reply) == ["s0", "s1"]  # the cap (2) is tighter than the rate (3)
    # held back by the cap, not the rate: no reopen time from the rate limit
    assert reply.next_due_ms is None
    state = assert_invariants(client, keys, TASKS)
    assert len(state.rate_log()) == 2


def test_started_events(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2")])

    claim(client, keys, 5, now=NOW + 5, worker="w9", events=True)

    events = assert_invariants(client, keys, TASKS).events()
    assert events == [
        {"e": "started", "id": "j1", "t": "t", "a": "1", "at": str(NOW + 5), "w": "w9"},
        {"e": "started", "id": "j2", "t": "t", "a": "1", "at": str(NOW + 5), "w": "w9"},
    ]


def test_one_pass_when_a_single_task_of_many_has_jobs(redis_url: str, prefix: str) -> None:
    """Tasks out of jobs leave play: two passes, whatever is wanted (commands
    counted by the real server's INFO commandstats; before, one pass per
    halving of what was left: 15 passes for 75 jobs)."""
    many = [(f"k{i}", 0) for i in range(5)]
    keys = queue_keys(prefix, "q")
    client = SyncClient(redis_url)
    try:
        enqueue(client, keys, [new_job(f"j{i:03d}", "k3") for i in range(100)])
        client.redis.config_resetstat()

        reply = claim(client, keys, 75, tasks=many)

        stats = client.redis.info("commandstats")
        assert len(reply.jobs) == 75
        # pass 1 offers k0 15, k1 19, k2 25, k3 38, k4 37 (what is wanted over the
        # tasks not served yet); only k3 has jobs: pass 2 gives it the rest
        assert stats["cmdstat_zpopmin"]["calls"] == 5 + 1
        assert stats["cmdstat_hmget"]["calls"] == 1  # the records of every pop at once
        assert stats["cmdstat_hincrby"]["calls"] == 1  # the active count, once per task
    finally:
        client.close()


def test_lazy_claim_that_gets_its_jobs_leaves_the_scheduled_sets(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("s1", delay_ms=10)])
    names = fill(client, keys, "t", 3)

    reply = claim(client, keys, 2, now=NOW + 10, promote_limit=-1000)

    assert ids(reply) == names[:2]
    assert reply.next_due_ms is None  # not read
    state = assert_invariants(client, keys, TASKS)
    assert state.zset(keys.scheduled("t")) == {"s1": NOW + 10}

    # an eager claim promotes it (after the ready jobs: due later)
    assert ids(claim(client, keys, 2, now=NOW + 10)) == [names[2], "s1"]


def test_lazy_claim_that_comes_up_short_promotes(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("u1", "u", delay_ms=10), new_job("u2", "u", delay_ms=50)])
    names = fill(client, keys, "t", 1)

    reply = claim(client, keys, 5, tasks=BOTH, now=NOW + 10, promote_limit=-1000)

    assert ids(reply) == [*names, "u1"]  # t's ready job, then u's promoted one
    assert reply.next_due_ms == NOW + 50
    state = assert_invariants(client, keys, TASKS)
    assert state.zset(keys.scheduled("u")) == {"u2": NOW + 50}
    assert state.active == {"t": 1, "u": 1}


def test_share_counted_at_each_task_turn(client: SyncClient, keys: QueueKeys) -> None:
    """What a task before in the pass left goes to the tasks after it."""
    fill(client, keys, "t", 2)
    fill(client, keys, "u", 10)
    fill(client, keys, "v", 10)

    reply = claim(client, keys, 9, tasks=[("t", 0), ("u", 0), ("v", 0)])

    # t is offered 3 and gives 2; u and v share the 7 left: 4 and 3
    assert [job.task for job in reply.jobs] == ["t"] * 2 + ["u"] * 4 + ["v"] * 3


def test_commands_of_a_busy_claim(redis_url: str, prefix: str) -> None:
    """Pins the commands of the claim a busy worker makes (INFO commandstats
    of a real server): 75 jobs of one task of three, the two without jobs
    first (the worker's order), lazy: one pop each, one HMGET, no read of the
    scheduled sets."""
    keys = queue_keys(prefix, "q")
    client = SyncClient(redis_url)
    try:
        enqueue(client, keys, [new_job(f"j{i:03d}", "c") for i in range(100)])
        client.redis.config_resetstat()

        reply = claim(client, keys, 75, tasks=[("a", 0), ("b", 0), ("c", 0)], promote_limit=-1000)

        assert len(reply.jobs) == 75
        stats = client.redis.info("commandstats")
        calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
        calls.pop("config|resetstat", None)
        # EVALSHA; ZPOPMIN x3; HMGET records; HINCRBY active; HSET records;
        # ZADD running (now is given: no TIME)
        assert calls == {"evalsha": 1, "zpopmin": 3, "hmget": 1, "hincrby": 1, "hset": 1, "zadd": 1}
    finally:
        client.close()
