"""stats.lua and workers.lua: operator counts read atomically, changing nothing."""

from __future__ import annotations

from rtask import _admin as admin
from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import (
    NOW,
    assert_invariants,
    claim,
    enqueue,
    finish,
    heartbeat,
    new_job,
    outcome,
    snapshot,
)

TASKS = ("t", "u")
LIVE_MS = 60_000


def stats(client: SyncClient, keys: QueueKeys, tasks: tuple[str, ...] = TASKS) -> admin.RawStats:
    return client.run(admin.stats(keys, "q", tasks, live_ms=LIVE_MS, now_ms=NOW))


def test_empty_queue(client: SyncClient, keys: QueueKeys) -> None:
    raw = stats(client, keys)

    assert raw.unlisted == []
    assert raw.stats == admin.QueueStats(
        queue="q",
        tasks=[admin.TaskStats("t", 0, 0, 0), admin.TaskStats("u", 0, 0, 0)],
        running=0,
        succeeded=0,
        failed=0,
        cancelled=0,
        oldest_queued_s=None,
        workers=0,
    )
    assert snapshot(client, keys).key_names == set()


def test_waiting_jobs_split_by_due_time(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("later", delay_ms=5_000)])
    enqueue(client, keys, [new_job("r1"), new_job("r2", task="u")], now=NOW - 1_000)
    # due 500 ms ago, still in the scheduled set (no claim promoted it): queued
    enqueue(client, keys, [new_job("due", delay_ms=500)], now=NOW - 1_000)
    before = snapshot(client, keys)

    raw = stats(client, keys)

    assert raw.stats.tasks == [admin.TaskStats("t", 1, 2, 0), admin.TaskStats("u", 0, 1, 0)]
    assert (raw.stats.scheduled, raw.stats.queued) == (1, 3)
    assert raw.stats.oldest_queued_s == 1.0  # r1 and r2, due at NOW - 1000
    assert snapshot(client, keys) == before


def test_oldest_queued_job_is_found_across_priorities(client: SyncClient, keys: QueueKeys) -> None:
    # the head of the ready set (lowest priority number) is not the oldest job
    enqueue(client, keys, [new_job("old", priority=5)], now=NOW - 3_000)
    enqueue(client, keys, [new_job("mid", priority=1000)], now=NOW - 2_500)
    enqueue(client, keys, [new_job("new", priority=-1000)], now=NOW - 1_000)
    enqueue(client, keys, [new_job("newer")], now=NOW - 2_000)

    assert stats(client, keys).stats.oldest_queued_s == 3.0

    # a due job still in the scheduled set is older still
    enqueue(client, keys, [new_job("due", delay_ms=100)], now=NOW - 9_600)
    assert stats(client, keys).stats.oldest_queued_s == 9.5


def test_running_finished_and_live_workers(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job(f"j{i}") for i in range(4)] + [new_job("x", task="u")])
    jobs = claim(client, keys, 3, tasks=(("t", 0),)).jobs
    finish(client, keys, [outcome(jobs[0], proto.OutcomeCode.SUCCEEDED)])
    finish(client, keys, [outcome(jobs[1], proto.OutcomeCode.FAILED)])
    heartbeat(client, keys, [], now=NOW - 1_000, worker="w1")
    heartbeat(client, keys, [], now=NOW - LIVE_MS - 1, worker="gone")

    raw = stats(client, keys)

    # per_minute: the succeeded and the failed job, both in this minute
    assert raw.stats.tasks == [
        admin.TaskStats("t", 0, 1, 1, per_minute=2.0),
        admin.TaskStats("u", 0, 1, 0),
    ]
    assert (raw.stats.running, raw.stats.succeeded, raw.stats.failed) == (1, 1, 1)
    assert raw.stats.cancelled == 0
    assert raw.stats.workers == 1


def test_tasks_not_passed_are_reported(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("a"), new_job("b", task="u")])

    raw = stats(client, keys, ("t",))

    assert raw.unlisted == ["u"]
    assert raw.stats.tasks == [admin.TaskStats("t", 0, 1, 0)]


def test_workers_and_the_jobs_they_hold(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job(f"j{i}") for i in range(5)])
    claim(client, keys, 2, worker="w1")
    claim(client, keys, 1, worker="w2")
    claim(client, keys, 1, worker="dead")
    heartbeat(client, keys, [], now=NOW - 2_000, worker="w1")
    heartbeat(client, keys, [], now=NOW - 500, worker="w2")
    heartbeat(client, keys, [], now=NOW - LIVE_MS - 1, worker="dead")
    heartbeat(client, keys, [], now=NOW - 100, worker="idle")
    before = snapshot(client, keys)

    raw = client.run(admin.workers(keys, "q", live_ms=LIVE_MS, now_ms=NOW))

    assert (raw.running, raw.scanned) == (4, 4)
    assert raw.workers == [  # most recent heartbeat first
        admin.WorkerInfo("q", "idle", 0.1, 0),
        admin.WorkerInfo("q", "w2", 0.5, 1),
        admin.WorkerInfo("q", "w1", 2.0, 2),
    ]
    assert snapshot(client, keys) == before

    bounded = client.run(admin.workers(keys, "q", live_ms=LIVE_MS, max_running=2, now_ms=NOW))
    assert (bounded.running, bounded.scanned) == (4, 2)
    assert sum(w.running for w in bounded.workers) <= 2


def test_retrying_jobs_are_counted_per_task(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("a"), new_job("b"), new_job("c", task="u")], now=NOW - 100)
    held = claim(client, keys, 3, tasks=[("t", 0), ("u", 0)], now=NOW - 100).jobs
    retry = [
        outcome(j, proto.OutcomeCode.RETRY, delay_ms=60_000 if j.id == "a" else 0) for j in held
    ]
    finish(client, keys, retry, tasks=[("t", 0), ("u", 0)], now=NOW - 100)

    raw = stats(client, keys)

    # a waits a minute (scheduled), b and c are due again (queued): all retrying
    assert raw.stats.tasks == [admin.TaskStats("t", 1, 1, 0, 2), admin.TaskStats("u", 0, 1, 0, 1)]
    assert raw.stats.retrying == 3


MINUTE = 60_000


def test_throughput_counts_per_minute_in_two_alternating_hashes(
    client: SyncClient, keys: QueueKeys
) -> None:
    start = NOW - NOW % MINUTE  # the start of a minute
    enqueue(client, keys, [new_job(f"j{i}") for i in range(6)], now=start)
    jobs = claim(client, keys, 6, now=start).jobs
    finish(client, keys, [outcome(j, proto.OutcomeCode.SUCCEEDED) for j in jobs[:3]], now=start)
    # a cancel does not count; a failure does
    finish(client, keys, [outcome(jobs[3], proto.OutcomeCode.CANCELLED)], now=start + 1)
    finish(client, keys, [outcome(jobs[4], proto.OutcomeCode.FAILED)], now=start + 2)
    state = assert_invariants(client, keys, TASKS)
    minute = start // MINUTE
    assert state.hash(keys.throughput(minute % 2)) == {"~minute": minute, "t": 4}

    # next minute, a quarter in: 1 new + 4 x 0.75 of the previous minute
    finish(client, keys, [outcome(jobs[5], proto.OutcomeCode.SUCCEEDED)], now=start + MINUTE)
    later = client.run(
        admin.stats(keys, "q", TASKS, live_ms=LIVE_MS, now_ms=start + MINUTE + MINUTE // 4)
    )
    assert later.stats.tasks[0].per_minute == 1 + 4 * 0.75
    assert later.stats.per_minute == 4.0

    # two minutes on, the older hash is emptied before it counts again
    enqueue(client, keys, [new_job("k")], now=start + 2 * MINUTE)
    (k,) = claim(client, keys, 1, now=start + 2 * MINUTE).jobs
    finish(client, keys, [outcome(k, proto.OutcomeCode.SUCCEEDED)], now=start + 2 * MINUTE)
    state = assert_invariants(client, keys, TASKS)
    assert state.hash(keys.throughput(minute % 2)) == {"~minute": minute + 2, "t": 1}
    assert state.hash(keys.throughput((minute + 1) % 2)) == {"~minute": minute + 1, "t": 1}
