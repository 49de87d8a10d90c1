"""enqueue_plain.lua: the lean enqueue stores exactly what enqueue.lua stores,
replies the same, and wakes workers on the same calls."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import pytest

from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys, queue_keys
from tests.lua._state import (
    NOW,
    assert_invariants,
    enqueue,
    new_job,
    ready_score,
    snapshot,
    wake_listener,
)

TASKS = ("t", "u")


def plain(
    client: SyncClient, keys: QueueKeys, jobs: Sequence[proto.NewJob], now: int | None = NOW
) -> proto.EnqueueReply:
    """Stores `jobs` (one task, same options) with enqueue_plain.lua, in one
    call (with one job: the script's path for a single job)."""
    first = jobs[0]
    for job in jobs:
        assert (job.task, job.delay_ms, job.priority, job.body) == (
            first.task,
            first.delay_ms,
            first.priority,
            first.body,
        )
    plan = proto.enqueue_plain(keys, first.task, first.delay_ms, first.priority, first.body)
    (call,) = plan.many(now, [j.id for j in jobs], [j.payload for j in jobs], len(jobs))
    return client.run(call)


def renamed(state: dict[str, tuple[str, object]], base: str) -> dict[str, tuple[str, object]]:
    """A state dump with its keys relative to the queue's base."""
    return {key.removeprefix(base): value for key, value in state.items()}


# Each step is one call: jobs of one task with the same options.
STEPS: list[list[proto.NewJob]] = [
    [new_job("j1", priority=5, max_attempts=4, timeout_ms=2500, tags=["a", "b"])],
    [new_job("j2", priority=5, max_attempts=4, timeout_ms=2500, tags=["a", "b"])],
    [new_job("j1", payload=b"other")],  # exists: untouched
    [new_job("s1", delay_ms=5000)],  # the first scheduled job: wake
    [new_job("s2", delay_ms=8000)],  # later than the earliest: no wake
    [new_job("s3", delay_ms=5000)],  # as early, not earlier: no wake
    [new_job("s4", delay_ms=2000)],  # a new earliest: wake
    # a bulk with an existing id and an id repeated within the call
    [new_job(i, priority=-3) for i in ("b1", "b2", "j2", "b3", "b2", "b4")],
    [new_job(i, delay_ms=1000) for i in ("d1", "d2", "d3")],  # earlier than s4: wake
    [new_job(i, delay_ms=9000) for i in ("d4", "d5")],
    [new_job("k1", "u", delay_ms=100)],  # a new task, scheduled
    [new_job("k2", "u")],  # ready:u was empty: wake
    [new_job(i, "u") for i in ("k3", "k4")],
    [new_job(i) for i in ("b1", "b3")],  # all exist: nothing stored, no wake
]


@pytest.mark.parametrize("index_created", [True, False], ids=["created", "no-created"])
def test_plain_and_general_give_the_same_state_replies_and_wakes(
    client: SyncClient, prefix: str, index_created: bool
) -> None:
    lean = queue_keys(prefix, "lean", index_created=index_created)
    general = queue_keys(prefix, "general", index_created=index_created)
    with wake_listener(client, lean) as lean_wake, wake_listener(client, general) as general_wake:
        for jobs in STEPS:
            got = plain(client, lean, jobs)
            expected = enqueue(client, general, jobs)

            assert got == expected, jobs
            assert lean_wake.published() == general_wake.published(), jobs
            lean_state = assert_invariants(client, lean, TASKS)
            general_state = assert_invariants(client, general, TASKS)
            assert renamed(lean_state.raw, lean.base) == renamed(general_state.raw, general.base)
    assert lean_state.set(lean.tasks) == {"t", "u"}
    assert set(lean_state.ready()) == {"j1", "j2", "b1", "b2", "b3", "b4"}


def test_one_job_due_now_is_stored_like_enqueue_lua(client: SyncClient, keys: QueueKeys) -> None:
    job = new_job("j1", priority=5, max_attempts=4, timeout_ms=2500, tags=["a", "b"])
    with wake_listener(client, keys) as wake:
        reply = plain(client, keys, [job])
        assert wake.published() == [b"1"]

    assert reply == proto.EnqueueReply(NOW, [True])
    state = assert_invariants(client, keys, TASKS)
    assert state.raw == {
        keys.jobs: (
            "hash",
            {
                "j1": {
                    "ct": NOW,
                    "due": NOW,
                    "t": "t",
                    "s": "scheduled",
                    "a": 0,
                    "m": 4,
                    "p": 5,
                    "c": 0,
                    "to": 2500,
                    "tg": ["a", "b"],
                },
                "j1:p": b"payload-j1",
            },
        ),
        keys.ready("t"): ("zset", {"j1": ready_score(5, NOW)}),
        keys.tasks: ("set", {"t"}),
        keys.created: ("zset", {"j1": NOW}),
    }


def test_an_existing_id_is_left_untouched_without_a_wake(
    client: SyncClient, keys: QueueKeys
) -> None:
    plain(client, keys, [new_job("j1", delay_ms=5000)])
    before = snapshot(client, keys)
    with wake_listener(client, keys) as wake:
        reply = plain(client, keys, [new_job("j1", priority=9, payload=b"new")], NOW + 1)
        assert wake.published() == []

    assert reply == proto.EnqueueReply(NOW + 1, [False])
    assert snapshot(client, keys) == before


def test_a_call_storing_nothing_writes_nothing(client: SyncClient, keys: QueueKeys) -> None:
    """Unlike enqueue.lua, which adds the call's tasks to the tasks set first:
    here an id of task t sent again as a job of task u leaves u out of it."""
    plain(client, keys, [new_job("j1"), new_job("j2")])
    before = snapshot(client, keys)

    reply = plain(client, keys, [new_job("j1", "u"), new_job("j2", "u")], NOW + 1)

    assert reply.stored == [False, False]
    assert snapshot(client, keys) == before
    assert before.set(keys.tasks) == {"t"}


def test_many_slices_in_one_call(client: SyncClient, keys: QueueKeys) -> None:
    """More jobs than one HMGET/HSET/ZADD takes (1,000): an id repeated in a
    later slice is refused like one repeated in the same slice."""
    ids = [f"j{n:05d}" for n in range(2500)]
    ids[1700] = ids[10]  # repeated in a later slice
    ids[20] = ids[11]  # repeated in the same slice
    jobs = [new_job(i, payload=b"p") for i in ids]

    reply = plain(client, keys, jobs)

    assert reply.stored == [k not in (20, 1700) for k in range(2500)]
    state = assert_invariants(client, keys, TASKS)
    assert len(state.ready()) == 2498
    assert len(state.zset(keys.created)) == 2498
    assert state.job("j00010")["ct"] == NOW


def test_server_clock_is_used_when_now_is_not_passed(client: SyncClient, keys: QueueKeys) -> None:
    before = int(time.time() * 1000)
    reply = plain(client, keys, [new_job("j1", delay_ms=1000)], None)
    after = int(time.time() * 1000)

    assert before - 5000 <= reply.now_ms <= after + 5000
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["ct"] == reply.now_ms
    assert state.scheduled() == {"j1": reply.now_ms + 1000}


def test_extreme_priorities_give_exact_scores(client: SyncClient, keys: QueueKeys) -> None:
    plain(client, keys, [new_job("hi", priority=1000)])
    plain(client, keys, [new_job(i, priority=-1000) for i in ("lo1", "lo2")])

    state = assert_invariants(client, keys, TASKS)
    assert state.ready() == {
        "hi": ready_score(1000, NOW),
        "lo1": ready_score(-1000, NOW),
        "lo2": ready_score(-1000, NOW),
    }


def test_the_call_of_one_job_replies_whether_it_was_stored(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = new_job("j1", delay_ms=10)
    plan = proto.enqueue_plain(keys, job.task, job.delay_ms, job.priority, job.body)

    assert client.run(plan.one(NOW, job.id, job.payload)) is True
    assert client.run(plan.one(NOW, job.id, b"other")) is False
    # the raw reply: an integer, -now_ms when the id exists
    raw = dataclasses.replace(plan.one(NOW + 1, job.id, b"other"), decode=lambda reply: reply)
    assert client.run(raw) == -(NOW + 1)
    state = assert_invariants(client, keys, TASKS)
    assert state.scheduled() == {"j1": NOW + 10}
    assert state.payload("j1") == b"payload-j1"


def test_calls_of_many_jobs_are_cut_in_chunks(client: SyncClient, keys: QueueKeys) -> None:
    job = new_job("x")
    plan = proto.enqueue_plain(keys, job.task, job.delay_ms, job.priority, job.body)
    ids = [f"j{n}" for n in range(7)]

    calls = plan.many(NOW, ids, [i.encode() for i in ids], 3)

    assert [len(c.args) for c in calls] == [6 + 6, 6 + 6, 6 + 2]
    replies = client.run_many(calls)
    assert [r.stored for r in replies] == [[True] * 3, [True] * 3, [True]]
    state = assert_invariants(client, keys, TASKS)
    assert {i: state.payload(i) for i in ids} == {i: i.encode() for i in ids}
