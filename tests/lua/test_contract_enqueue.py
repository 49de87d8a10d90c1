"""enqueue.lua: jobs stored in their task's scheduled or ready set; wake-ups."""

from __future__ import annotations

import time

from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys
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


def test_one_job_due_now_goes_to_ready(client: SyncClient, keys: QueueKeys) -> None:
    job = new_job("j1", priority=5, max_attempts=4, timeout_ms=2500, tags=["a", "b"])
    reply = enqueue(client, keys, [job])

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
        keys.ready("t"): ("zset", {"j1": 5 * 2**42 + (NOW - 1_577_836_800_000)}),
        keys.tasks: ("set", {"t"}),
        keys.created: ("zset", {"j1": NOW}),
    }


def test_delayed_job_goes_to_scheduled_scored_by_due(client: SyncClient, keys: QueueKeys) -> None:
    reply = enqueue(client, keys, [new_job("j1", delay_ms=5000, priority=-3)])

    assert reply.stored == [True]
    state = assert_invariants(client, keys, TASKS)
    assert state.raw == {
        keys.jobs: (
            "hash",
            {
                "j1": {
                    "ct": NOW,
                    "due": NOW + 5000,
                    "t": "t",
                    "s": "scheduled",
                    "a": 0,
                    "m": 3,
                    "p": -3,
                    "c": 0,
                    "to": 0,
                },
                "j1:p": b"payload-j1",
            },
        ),
        keys.scheduled("t"): ("zset", {"j1": NOW + 5000}),
        keys.tasks: ("set", {"t"}),
        keys.created: ("zset", {"j1": NOW}),
    }


def test_extreme_priorities_give_exact_ready_scores(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("hi", priority=-1000), new_job("lo", priority=1000)])

    state = assert_invariants(client, keys, TASKS)
    assert state.ready() == {
        "hi": -1000 * 2**42 + (NOW - 1_577_836_800_000),
        "lo": 1000 * 2**42 + (NOW - 1_577_836_800_000),
    }


def test_many_jobs_of_several_tasks_in_one_call(client: SyncClient, keys: QueueKeys) -> None:
    jobs = [
        new_job("a1", "t", priority=1),
        new_job("a2", "u", delay_ms=100),
        new_job("a3", "t", delay_ms=7000, priority=2),
        new_job("a4", "u", priority=-1),
        new_job("a5", "t"),
    ]
    reply = enqueue(client, keys, jobs)

    assert reply == proto.EnqueueReply(NOW, [True] * 5)
    state = assert_invariants(client, keys, TASKS)
    assert state.set(keys.tasks) == {"t", "u"}
    assert state.ready("t") == {"a5": ready_score(0, NOW), "a1": ready_score(1, NOW)}
    assert state.scheduled("t") == {"a3": NOW + 7000}
    assert state.ready("u") == {"a4": ready_score(-1, NOW)}
    assert state.scheduled("u") == {"a2": NOW + 100}
    for job in jobs:
        st = state.job(job.id)
        assert (st["t"], st["ct"], st["due"], st["p"]) == (
            job.task,
            NOW,
            NOW + job.delay_ms,
            job.priority,
        )
        assert state.payload(job.id) == f"payload-{job.id}".encode()
    assert state.key_names == {
        keys.jobs,
        keys.tasks,
        keys.ready("t"),
        keys.scheduled("t"),
        keys.ready("u"),
        keys.scheduled("u"),
        keys.created,
    }


def test_duplicate_id_is_refused_and_the_stored_job_untouched(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1", payload=b"first")])
    before = assert_invariants(client, keys, TASKS)

    again = new_job("j1", "u", delay_ms=9000, priority=7, payload=b"second")
    reply = enqueue(client, keys, [again, new_job("j2")], now=NOW + 50)

    assert reply == proto.EnqueueReply(NOW + 50, [False, True])
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1") == before.job("j1")
    assert state.payload("j1") == b"first"
    assert state.ready() == {"j1": ready_score(0, NOW), "j2": ready_score(0, NOW + 50)}
    assert state.scheduled("u") == {}
    assert state.ready("u") == {}


def test_duplicate_id_within_one_call_keeps_the_first(client: SyncClient, keys: QueueKeys) -> None:
    reply = enqueue(
        client,
        keys,
        [new_job("j1", payload=b"first"), new_job("j1", delay_ms=10, payload=b"second")],
    )

    assert reply.stored == [True, False]
    state = assert_invariants(client, keys, TASKS)
    assert state.payload("j1") == b"first"
    assert state.job("j1")["due"] == NOW
    assert state.ready() == {"j1": ready_score(0, NOW)}
    assert state.scheduled() == {}


def test_server_clock_is_used_when_now_is_not_passed(client: SyncClient, keys: QueueKeys) -> None:
    before = int(time.time() * 1000)
    reply = client.run(proto.enqueue(keys, [new_job("j1", delay_ms=1000)]))
    after = int(time.time() * 1000)

    assert before - 5000 <= reply.now_ms <= after + 5000
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["ct"] == reply.now_ms
    assert state.scheduled() == {"j1": reply.now_ms + 1000}


def test_wake_when_a_ready_set_was_empty(client: SyncClient, keys: QueueKeys) -> None:
    with wake_listener(client, keys) as wake:
        enqueue(client, keys, [new_job("j1"), new_job("j2")])
        assert wake.published() == [b"1"]  # one publish per call

        enqueue(client, keys, [new_job("j3")])
        assert wake.published() == []  # ready:t was not empty

        enqueue(client, keys, [new_job("k1", "u")])
        assert wake.published() == [b"1"]  # ready:u was empty

        enqueue(client, keys, [new_job("j1"), new_job("k1", "u")])
        assert wake.published() == []  # duplicates only: nothing stored
    assert_invariants(client, keys, TASKS)


def test_wake_for_a_new_earliest_due_time(client: SyncClient, keys: QueueKeys) -> None:
    with wake_listener(client, keys) as wake:
        enqueue(client, keys, [new_job("s1", delay_ms=5000)])
        assert wake.published() == [b"1"]  # first scheduled job

        enqueue(client, keys, [new_job("s2", delay_ms=8000)])
        assert wake.published() == []  # later than the earliest

        enqueue(client, keys, [new_job("s3", delay_ms=5000)])
        assert wake.published() == []  # as early as the earliest, not earlier

        enqueue(client, keys, [new_job("s4", delay_ms=2000)])
        assert wake.published() == [b"1"]  # a new earliest due time

        enqueue(client, keys, [new_job("s5", "u", delay_ms=9000)])
        assert wake.published() == [b"1"]  # the first of task u

        enqueue(client, keys, [new_job("r1")])
        assert wake.published() == [b"1"]  # ready:t was empty (all were scheduled)
    state = assert_invariants(client, keys, TASKS)
    assert state.scheduled() == {
        "s4": NOW + 2000,
        "s1": NOW + 5000,
        "s3": NOW + 5000,
        "s2": NOW + 8000,
    }


def test_no_wake_when_ready_is_not_empty_and_delay_is_later(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("r1"), new_job("s1", delay_ms=1000)])
    with wake_listener(client, keys) as wake:
        enqueue(client, keys, [new_job("r2"), new_job("s2", delay_ms=3000)])
        assert wake.published() == []
        assert_invariants(client, keys, TASKS)


def test_state_is_untouched_by_a_refused_call(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2", delay_ms=10)])
    before = snapshot(client, keys)

    reply = enqueue(client, keys, [new_job("j2"), new_job("j1", delay_ms=10)], now=NOW + 1)

    assert reply.stored == [False, False]
    assert snapshot(client, keys) == before
    assert_invariants(client, keys, TASKS)
