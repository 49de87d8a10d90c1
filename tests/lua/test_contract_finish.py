"""finish.lua: every outcome code, the lease guard, slots, wake-ups and retention."""

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
    error,
    finish,
    new_job,
    outcome,
    ready_score,
    recover,
    snapshot,
    wake_listener,
)

Code = proto.OutcomeCode
Result = proto.FinishResult
TASKS = ("t", "u")
APPLIED = [Result.APPLIED]


def start(
    client: SyncClient,
    keys: QueueKeys,
    *jobs: proto.NewJob,
    now: int = NOW,
    tasks: tuple[tuple[str, int], ...] = (("t", 0), ("u", 0)),
) -> dict[str, proto.ClaimedJob]:
    """Enqueue `jobs` (due now) and claim all of them at `now`."""
    enqueue(client, keys, jobs, now=now)
    reply = claim(client, keys, len(jobs), tasks=tasks, now=now)
    assert len(reply.jobs) == len(jobs)
    return {job.id: job for job in reply.jobs}


def test_succeeded_stores_the_result(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1"))["j1"]

    results = finish(client, keys, [outcome(job, Code.SUCCEEDED, blob=b"42")], now=NOW + 10)

    assert results == APPLIED
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "succeeded", "ft": NOW + 10}
    assert state.result("j1") == b"42"
    assert state.errors("j1") == []
    assert state.zset(keys.succeeded) == {"j1": NOW + 10}
    assert state.running == {}
    assert state.active == {"t": 0}


def test_succeeded_without_result_stores_none(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1"))["j1"]

    assert finish(client, keys, [outcome(job, Code.SUCCEEDED)], now=NOW + 10) == APPLIED

    state = assert_invariants(client, keys, TASKS)
    assert state.fields_of("j1") == {"j1", "j1:p"}
    assert state.job("j1")["s"] == "succeeded"


def test_retry_with_delay_waits_in_scheduled(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1", priority=3))["j1"]

    with wake_listener(client, keys) as wake:
        blob = error(1, "try again")
        results = finish(
            client, keys, [outcome(job, Code.RETRY, delay_ms=5000, blob=blob)], now=NOW + 10
        )
        assert wake.published() == []  # nothing became ready

    assert results == APPLIED
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "retrying", "due": NOW + 5010}
    assert state.scheduled() == {"j1": NOW + 5010}
    assert state.ready() == {}
    assert state.errors("j1") == [
        {"at": NOW + 10, "started": NOW, "attempt": 1, "type": "ValueError", "message": "try again"}
    ]
    assert state.running == {}
    assert state.active == {"t": 0}


def test_retry_without_delay_is_ready_at_once(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1", priority=3))["j1"]

    with wake_listener(client, keys) as wake:
        results = finish(client, keys, [outcome(job, Code.RETRY)], now=NOW + 10)
        assert wake.published() == [b"1"]

    assert results == APPLIED
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "retrying", "due": NOW + 10}
    assert state.ready() == {"j1": ready_score(3, NOW + 10)}
    assert state.scheduled() == {}
    assert [e["at"] for e in state.errors("j1")] == [NOW + 10]


def test_one_error_entry_per_failed_attempt_then_failed(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1", max_attempts=3)])
    for attempt in (1, 2, 3):
        now = NOW + 100 * attempt
        (job,) = claim(client, keys, 1, now=now).jobs
        assert job.attempt == attempt
        blob = error(attempt, f"failure {attempt}")
        assert finish(client, keys, [outcome(job, Code.RETRY, blob=blob)], now=now + 1) == APPLIED
        state = assert_invariants(client, keys, TASKS)
        assert [e["attempt"] for e in state.errors("j1")] == list(range(1, attempt + 1))

    assert state.job("j1")["s"] == "failed"
    assert state.job("j1")["ft"] == NOW + 301
    assert state.job("j1")["a"] == 3
    assert state.errors("j1") == [
        {
            "at": NOW + 100 * a + 1,
            "started": NOW + 100 * a,
            "attempt": a,
            "type": "ValueError",
            "message": f"failure {a}",
        }
        for a in (1, 2, 3)
    ]
    assert state.zset(keys.failed) == {"j1": NOW + 301}
    assert state.ready() == {} and state.scheduled() == {} and state.running == {}
    assert state.active == {"t": 0}


def test_failed_ends_the_job_with_attempts_left(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1", max_attempts=5))["j1"]

    assert finish(client, keys, [outcome(job, Code.FAILED)], now=NOW + 10) == APPLIED

    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "failed", "ft": NOW + 10}
    assert state.errors("j1") == [
        {"at": NOW + 10, "started": NOW, "attempt": 1, "type": "ValueError", "message": "boom"}
    ]
    assert state.zset(keys.failed) == {"j1": NOW + 10}
    assert state.active == {"t": 0}


def test_snoozed_gives_the_attempt_back(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1"))["j1"]

    results = finish(client, keys, [outcome(job, Code.SNOOZED, delay_ms=3000)], now=NOW + 10)

    assert results == APPLIED
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "scheduled", "a": 0, "due": NOW + 3010}
    assert state.scheduled() == {"j1": NOW + 3010}
    assert state.errors("j1") == []
    assert state.active == {"t": 0}


def test_snoozed_after_a_retry_stays_retrying(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1"))["j1"]
    finish(client, keys, [outcome(job, Code.RETRY)], now=NOW + 10)
    (again,) = claim(client, keys, 1, now=NOW + 20).jobs
    assert again.attempt == 2

    results = finish(client, keys, [outcome(again, Code.SNOOZED)], now=NOW + 30)

    assert results == APPLIED
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**again.state, "s": "retrying", "a": 1, "due": NOW + 30}
    assert state.ready() == {"j1": ready_score(0, NOW + 30)}
    assert len(state.errors("j1")) == 1


def test_cancelled_outcome(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1"))["j1"]

    assert finish(client, keys, [outcome(job, Code.CANCELLED)], now=NOW + 10) == APPLIED

    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "cancelled", "ft": NOW + 10}
    assert state.errors("j1") == [
        {"at": NOW + 10, "started": NOW, "attempt": 1, "type": "cancelled", "message": "stopped"}
    ]
    assert state.zset(keys.cancelled) == {"j1": NOW + 10}
    assert state.running == {}
    assert state.active == {"t": 0}


def test_released_keeps_its_place_and_attempt(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")], now=NOW - 500)
    (job,) = claim(client, keys, 1, now=NOW).jobs
    enqueue(client, keys, [new_job("j0")], now=NOW + 5)  # a later job with a smaller id

    results = finish(client, keys, [outcome(job, Code.RELEASED)], now=NOW + 10)

    assert results == APPLIED
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == {**job.state, "s": "scheduled", "a": 0, "due": NOW - 500}
    assert state.ready() == {"j1": ready_score(0, NOW - 500), "j0": ready_score(0, NOW + 5)}
    assert state.errors("j1") == []
    assert ids_of(claim(client, keys, 1, now=NOW + 20)) == ["j1"]
    assert_invariants(client, keys, TASKS)


def ids_of(reply: proto.ClaimReply) -> list[str]:
    return [job.id for job in reply.jobs]


def test_token_mismatch_changes_nothing(client: SyncClient, keys: QueueKeys) -> None:
    job = start(client, keys, new_job("j1"))["j1"]
    before = snapshot(client, keys)

    for code in Code:
        stale = proto.Outcome("j1", "7", code, 0, error(1))
        assert finish(client, keys, [stale], now=NOW + 10) == [Result.LEASE_LOST]
        assert snapshot(client, keys) == before
    assert job.token == "1"
    assert_invariants(client, keys, TASKS)


def test_stale_worker_cannot_overwrite_the_new_owner(client: SyncClient, keys: QueueKeys) -> None:
    old = start(client, keys, new_job("j1"), now=NOW)["j1"]
    recover(client, keys, now=NOW + LEASE_MS + 1)
    (new,) = claim(client, keys, 1, now=NOW + LEASE_MS + 2, worker="w2").jobs
    assert (old.token, new.token) == ("1", "2")
    before = snapshot(client, keys)

    results = finish(
        client, keys, [outcome(old, Code.SUCCEEDED, blob=b"x")], now=NOW + LEASE_MS + 3
    )

    assert results == [Result.LEASE_LOST]
    assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)


def test_matching_token_of_a_job_no_longer_running_is_lost(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = start(client, keys, new_job("j1"))["j1"]
    finish(client, keys, [outcome(job, Code.RETRY, delay_ms=1000)], now=NOW + 10)
    before = snapshot(client, keys)

    assert finish(client, keys, [outcome(job, Code.SUCCEEDED)], now=NOW + 20) == [Result.LEASE_LOST]
    assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)


def test_unknown_id(client: SyncClient, keys: QueueKeys) -> None:
    start(client, keys, new_job("j1"))
    before = snapshot(client, keys)

    ghost = proto.Outcome("nope", "1", Code.SUCCEEDED, 0, b"r")
    assert finish(client, keys, [ghost], now=NOW + 10) == [Result.NOT_FOUND]
    assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)


def test_task_not_passed_leaves_the_job_running(client: SyncClient, keys: QueueKeys) -> None:
    jobs = start(client, keys, new_job("j1"), new_job("j2"))
    before = snapshot(client, keys)

    for code in (Code.RETRY, Code.SNOOZED, Code.RELEASED):
        results = finish(client, keys, [outcome(jobs["j1"], code)], tasks=(), now=NOW + 10)
        assert results == [Result.TASK_NOT_PASSED]
        assert snapshot(client, keys) == before

    # outcomes that need no task keys are applied without them
    results = finish(client, keys, [outcome(jobs["j2"], Code.SUCCEEDED)], tasks=(), now=NOW + 10)
    assert results == APPLIED
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j2")["s"] == "succeeded"
    assert state.active == {"t": 1}


def test_cancelled_while_running_only_releases_the_slot(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = start(client, keys, new_job("j1"))["j1"]
    assert cancel(client, keys, "j1", now=NOW + 5) == proto.CancelResult.REQUESTED
    cancelled = assert_invariants(client, keys, TASKS).job("j1")

    results = finish(client, keys, [outcome(job, Code.SUCCEEDED, blob=b"late")], now=NOW + 10)

    assert results == [Result.CANCELLED_MEANWHILE]
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == cancelled
    assert cancelled["s"] == "cancelled" and cancelled["ft"] == NOW + 5
    assert state.result("j1") is None
    assert [e["type"] for e in state.errors("j1")] == ["cancelled"]
    assert state.running == {}
    assert state.zset(keys.cancelled) == {"j1": NOW + 5}  # scored by ft, the cancel time
    assert state.active == {"t": 0}


def test_a_batch_of_outcomes(client: SyncClient, keys: QueueKeys) -> None:
    jobs = start(
        client,
        keys,
        new_job("a"),
        new_job("b"),
        new_job("c", "u"),
        new_job("d", "u"),
        new_job("e"),
    )
    assert assert_invariants(client, keys, TASKS).active == {"t": 3, "u": 2}

    results = finish(
        client,
        keys,
        [
            outcome(jobs["a"], Code.SUCCEEDED, blob=b"ra"),
            outcome(jobs["b"], Code.RETRY, delay_ms=50),
            outcome(jobs["c"], Code.FAILED),
            proto.Outcome("zz", "1", Code.SUCCEEDED),
            outcome(jobs["d"], Code.SNOOZED, delay_ms=70),
            proto.Outcome("e", "9", Code.SUCCEEDED),
        ],
        tasks=(("t", 0), ("u", 0)),
        now=NOW + 10,
    )

    assert results == [
        Result.APPLIED,
        Result.APPLIED,
        Result.APPLIED,
        Result.NOT_FOUND,
        Result.APPLIED,
        Result.LEASE_LOST,
    ]
    state = assert_invariants(client, keys, TASKS)
    assert {i: st["s"] for i, st in state.jobs.items()} == {
        "a": "succeeded",
        "b": "retrying",
        "c": "failed",
        "d": "scheduled",
        "e": "running",
    }
    assert state.active == {"t": 1, "u": 0}
    assert state.running == {"e": NOW + LEASE_MS}
    assert state.scheduled() == {"b": NOW + 60}
    assert state.scheduled("u") == {"d": NOW + 80}


def test_freed_slot_of_a_capped_task_wakes_workers(client: SyncClient, keys: QueueKeys) -> None:
    capped = (("t", 1),)
    enqueue(client, keys, [new_job("j1"), new_job("j2"), new_job("k1", "u")])
    (j1,) = claim(client, keys, 5, tasks=capped).jobs
    (k1,) = claim(client, keys, 5, tasks=(("u", 0),)).jobs

    with wake_listener(client, keys) as wake:
        finish(client, keys, [outcome(k1, Code.SUCCEEDED)], tasks=(("u", 0),), now=NOW + 5)
        assert wake.published() == []  # uncapped: a free slot means nothing

        finish(client, keys, [outcome(j1, Code.SUCCEEDED)], tasks=capped, now=NOW + 10)
        assert wake.published() == [b"1"]  # j2 waited for this slot

        (j2,) = claim(client, keys, 5, tasks=capped, now=NOW + 20).jobs
        finish(client, keys, [outcome(j2, Code.SUCCEEDED)], tasks=capped, now=NOW + 30)
        assert wake.published() == []  # nobody waits
    state = assert_invariants(client, keys, TASKS)
    assert state.active == {"t": 0, "u": 0}


def test_retention_by_count(client: SyncClient, keys: QueueKeys) -> None:
    names = [f"j{i}" for i in range(6)]
    jobs = start(client, keys, *(new_job(n) for n in names))
    keep3 = proto.Retention(0, 3, 0, 0, 0, 0)

    for i, name in enumerate(names):
        done = outcome(jobs[name], Code.SUCCEEDED, blob=b"r")
        assert finish(client, keys, [done], now=NOW + 10 * (i + 1), retention=keep3) == APPLIED
        state = assert_invariants(client, keys, TASKS)
        assert list(state.zset(keys.succeeded)) == names[max(0, i - 2) : i + 1]

    for name in names[:3]:
        assert state.fields_of(name) == set()
    for name in names[3:]:
        assert state.fields_of(name) == {name, name + ":p", name + ":r"}


def test_retention_by_count_per_index(client: SyncClient, keys: QueueKeys) -> None:
    jobs = start(client, keys, *(new_job(f"j{i}") for i in range(4)))
    keep1 = proto.Retention(0, 0, 0, 1, 0, 1)

    finish(client, keys, [outcome(jobs["j0"], Code.FAILED)], now=NOW + 1, retention=keep1)
    finish(client, keys, [outcome(jobs["j1"], Code.CANCELLED)], now=NOW + 2, retention=keep1)
    finish(client, keys, [outcome(jobs["j2"], Code.FAILED)], now=NOW + 3, retention=keep1)
    finish(client, keys, [outcome(jobs["j3"], Code.CANCELLED)], now=NOW + 4, retention=keep1)

    state = assert_invariants(client, keys, TASKS)
    assert state.zset(keys.failed) == {"j2": NOW + 3}
    assert state.zset(keys.cancelled) == {"j3": NOW + 4}
    assert state.fields_of("j0") == state.fields_of("j1") == set()
    assert state.fields_of("j2") == {"j2", "j2:p", "j2:e"}


def test_retention_by_age(client: SyncClient, keys: QueueKeys) -> None:
    jobs = start(client, keys, new_job("j1"), new_job("j2"), new_job("j3"))
    one_second = proto.Retention(1.0, 0, 0, 0, 0, 0)

    finish(
        client, keys, [outcome(jobs["j1"], Code.SUCCEEDED)], now=NOW + 1000, retention=one_second
    )
    finish(
        client, keys, [outcome(jobs["j2"], Code.SUCCEEDED)], now=NOW + 1800, retention=one_second
    )
    state = assert_invariants(client, keys, TASKS)
    assert state.zset(keys.succeeded) == {"j1": NOW + 1000, "j2": NOW + 1800}

    finish(
        client, keys, [outcome(jobs["j3"], Code.SUCCEEDED)], now=NOW + 2500, retention=one_second
    )

    state = assert_invariants(client, keys, TASKS)
    assert state.zset(keys.succeeded) == {"j2": NOW + 1800, "j3": NOW + 2500}
    assert state.fields_of("j1") == set()
    assert state.fields_of("j2") == {"j2", "j2:p"}


def test_retention_by_age_and_count_in_one_call(client: SyncClient, keys: QueueKeys) -> None:
    names = [f"j{i}" for i in range(6)]
    jobs = start(client, keys, *(new_job(n) for n in names))
    for i, name in enumerate(names[:5]):  # finished at +0 … +4 s, nothing trimmed
        finish(client, keys, [outcome(jobs[name], Code.SUCCEEDED)], now=NOW + 1000 * i)
    # keep 4 and at most 2.5 s old: the count pops j0, j1 (the oldest); the
    # age then removes j2 (2.5 s + 0.5 s old) as well
    keep = proto.Retention(2.5, 4, 0, 0, 0, 0)

    finish(client, keys, [outcome(jobs["j5"], Code.SUCCEEDED)], now=NOW + 5000, retention=keep)

    state = assert_invariants(client, keys, TASKS)
    assert list(state.zset(keys.succeeded)) == ["j3", "j4", "j5"]
    assert state.fields_of("j2") == set()


def test_retention_by_count_with_every_entry_young(client: SyncClient, keys: QueueKeys) -> None:
    names = [f"j{i}" for i in range(4)]
    jobs = start(client, keys, *(new_job(n) for n in names))
    keep_two = proto.Retention(60.0, 2, 0, 0, 0, 0)

    for i, name in enumerate(names):
        finish(client, keys, [outcome(jobs[name], Code.SUCCEEDED)], now=NOW + i, retention=keep_two)

    state = assert_invariants(client, keys, TASKS)
    assert list(state.zset(keys.succeeded)) == ["j2", "j3"]
    assert state.fields_of("j0") == state.fields_of("j1") == set()


def test_retention_leaves_other_indexes_alone(client: SyncClient, keys: QueueKeys) -> None:
    jobs = start(client, keys, *(new_job(f"j{i}") for i in range(3)))
    finish(client, keys, [outcome(jobs["j0"], Code.FAILED)], now=NOW + 1)
    finish(client, keys, [outcome(jobs["j1"], Code.FAILED)], now=NOW + 2)

    keep1 = proto.Retention(0, 1, 0, 1, 0, 1)
    finish(client, keys, [outcome(jobs["j2"], Code.SUCCEEDED)], now=NOW + 3, retention=keep1)

    state = assert_invariants(client, keys, TASKS)
    assert list(state.zset(keys.failed)) == ["j0", "j1"]  # nothing was added to failed
    assert list(state.zset(keys.succeeded)) == ["j2"]


def test_cancelled_job_recovered_meanwhile_is_lost(client: SyncClient, keys: QueueKeys) -> None:
    """A job cancelled while running whose lease expired left `running` with
    recover.lua, which released its slot: its late outcome must not release
    it again (finish reads the lease only for such cancelled jobs)."""
    job = start(client, keys, new_job("j1"))["j1"]
    cancel(client, keys, "j1", now=NOW + 5)
    recover(client, keys, now=NOW + LEASE_MS + 10)
    before = snapshot(client, keys)

    results = finish(client, keys, [outcome(job, Code.SUCCEEDED)], now=NOW + LEASE_MS + 20)

    assert results == [Result.LEASE_LOST]
    assert snapshot(client, keys) == before
    assert assert_invariants(client, keys, TASKS).active == {"t": 0}


def test_commands_of_a_finish_batch(redis_url: str, prefix: str) -> None:
    """Pins the commands of one finish of 75 successes (INFO commandstats of a
    real server): a fixed few whatever the batch, no lease read (a running
    job's status implies its lease)."""
    tasks = (("a", 0), ("b", 0), ("c", 0))
    keys = queue_keys(prefix, "q")
    client = SyncClient(redis_url)
    try:
        enqueue(client, keys, [new_job(f"j{i:03d}", "b") for i in range(150)])
        jobs = claim(client, keys, 150, tasks=tasks).jobs
        done = [outcome(job, Code.SUCCEEDED) for job in jobs]
        # the minute's first finish resets its throughput hash: not counted
        keep = proto.DEFAULT_RETENTION
        assert finish(client, keys, done[:75], tasks=tasks, retention=keep) == APPLIED * 75
        client.redis.config_resetstat()

        assert finish(client, keys, done[75:], tasks=tasks, retention=keep) == APPLIED * 75

        stats = client.redis.info("commandstats")
        calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
        calls.pop("config|resetstat", None)
        assert "zmscore" not in calls
        # EVALSHA; HMGET records; ZREM running; HINCRBY active; HSET records;
        # ZADD succeeded; HGET + HINCRBY throughput; ZCARD + ZRANGEBYSCORE
        # retention; EXISTS waiters (now is given: no TIME)
        assert sum(calls.values()) == 11, calls
    finally:
        client.close()
