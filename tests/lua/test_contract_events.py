"""Lifecycle events: one stream entry per transition, written by the script
that makes it, only when the caller passes the events key."""

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
    recover,
)

TASKS = ("t",)


def kinds(client: SyncClient, keys: QueueKeys, job_id: str) -> list[str]:
    events = assert_invariants(client, keys, TASKS).events()
    return [e["e"] for e in events if e["id"] == job_id]


def test_no_events_unless_asked(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)

    state = assert_invariants(client, keys, TASKS)
    assert keys.events not in state.key_names


def test_retry_then_success_in_order(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1", delay_ms=50)], events=True)
    (run1,) = claim(client, keys, 1, now=NOW + 50, events=True).jobs
    retry = outcome(run1, proto.OutcomeCode.RETRY, delay_ms=200)
    finish(client, keys, [retry], now=NOW + 60, events=True)
    (run2,) = claim(client, keys, 1, now=NOW + 260, events=True).jobs
    finish(client, keys, [outcome(run2, proto.OutcomeCode.SUCCEEDED)], now=NOW + 270, events=True)

    events = assert_invariants(client, keys, TASKS).events()
    assert events == [
        {"e": "enqueued", "id": "j1", "t": "t", "a": "0", "at": str(NOW), "due": str(NOW + 50)},
        {"e": "started", "id": "j1", "t": "t", "a": "1", "at": str(NOW + 50), "w": "w1"},
        {
            "e": "retrying",
            "id": "j1",
            "t": "t",
            "a": "1",
            "at": str(NOW + 60),
            "due": str(NOW + 260),
        },
        {"e": "started", "id": "j1", "t": "t", "a": "2", "at": str(NOW + 260), "w": "w1"},
        {"e": "succeeded", "id": "j1", "t": "t", "a": "2", "at": str(NOW + 270)},
    ]


def test_failed_snoozed_released_events(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("a"), new_job("b"), new_job("c")], events=True)
    a, b, c = claim(client, keys, 3, events=True).jobs
    finish(
        client,
        keys,
        [
            outcome(a, proto.OutcomeCode.FAILED),
            outcome(b, proto.OutcomeCode.SNOOZED, delay_ms=10),
            outcome(c, proto.OutcomeCode.RELEASED),
        ],
        now=NOW + 1,
        events=True,
    )

    assert kinds(client, keys, "a") == ["enqueued", "started", "failed"]
    assert kinds(client, keys, "b") == ["enqueued", "started", "snoozed"]
    assert kinds(client, keys, "c") == ["enqueued", "started", "released"]


def test_cancel_events(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("running"), new_job("waiting")], events=True)
    (running,) = claim(client, keys, 1, events=True).jobs
    assert running.id == "running"  # the first in line (ties: by id)
    cancel(client, keys, "running", now=NOW + 1, reason="not needed", events=True)
    cancel(client, keys, "waiting", now=NOW + 2, reason="stop", events=True)
    # the worker acknowledges: the slot is released, no second "cancelled"
    finish(client, keys, [outcome(running, proto.OutcomeCode.CANCELLED)], now=NOW + 3, events=True)

    events = assert_invariants(client, keys, TASKS).events()
    cancels = [(e["id"], e["reason"]) for e in events if e["e"] == "cancelled"]
    assert cancels == [("running", "not needed"), ("waiting", "stop")]
    assert kinds(client, keys, "running") == ["enqueued", "started", "cancelled"]
    assert kinds(client, keys, "waiting") == ["enqueued", "cancelled"]


def test_lost_lease_event(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1", max_attempts=2)], events=True)
    claim(client, keys, 1, worker="dead", events=True)
    recover(client, keys, now=NOW + LEASE_MS + 1, events=True)
    claim(client, keys, 1, now=NOW + LEASE_MS + 2, worker="dead", events=True)
    recover(client, keys, now=NOW + 2 * LEASE_MS + 3, events=True)

    events = assert_invariants(client, keys, TASKS).events()
    lost = [(e["a"], e["s"], e["w"]) for e in events if e["e"] == "lost"]
    assert lost == [("1", "retrying", "dead"), ("2", "failed", "dead")]
    assert kinds(client, keys, "j1") == ["enqueued", "started", "lost", "started", "lost"]
