"""update.lua: a waiting job's fields change and it moves to its new place in
line; running and finished jobs are refused untouched (rexecutor's
`update_job` conformance cases, with rtask's refusal)."""

from __future__ import annotations

from rtask import _protocol as proto
from rtask import _protocol_manage as manage
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import (
    NOW,
    assert_invariants,
    claim,
    enqueue,
    finish,
    new_job,
    outcome,
    ready_score,
)

TASKS = ("t", "u")
U = manage.UpdateResult


def test_ready_job_gets_new_fields_and_moves_to_scheduled(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1", tags=["a"])])
    call = manage.update(
        keys,
        "t",
        "j1",
        priority=-4,
        delay_ms=2000,
        tags=["b", "c"],
        max_attempts=9,
        payload=b"new",
        now_ms=NOW + 10,
    )
    assert client.run(call) == manage.UpdateReply(U.UPDATED, "scheduled")

    state = assert_invariants(client, keys, TASKS)
    st = state.job("j1")
    assert (st["p"], st["due"], st["tg"], st["m"]) == (-4, NOW + 2010, ["b", "c"], 9)
    assert state.payload("j1") == b"new"
    assert state.scheduled() == {"j1": NOW + 2010} and state.ready() == {}


def test_priority_alone_reorders_the_ready_set(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2")])
    client.run(manage.update(keys, "t", "j2", priority=-1, now_ms=NOW + 1))
    state = assert_invariants(client, keys, TASKS)
    assert list(state.ready()) == ["j2", "j1"]
    assert state.ready()["j2"] == ready_score(-1, NOW)
    assert state.payload("j2") == b"payload-j2"  # untouched


def test_retrying_job_can_be_made_due_now(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.RETRY, delay_ms=60_000)], now=NOW)
    assert client.run(manage.update(keys, "t", "j1", delay_ms=0, now_ms=NOW + 5)).result == (
        U.UPDATED
    )
    state = assert_invariants(client, keys, TASKS)
    assert state.ready() == {"j1": ready_score(0, NOW + 5)}


def test_max_attempts_below_attempts_used_is_refused(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.RETRY, delay_ms=60_000)], now=NOW)
    before = assert_invariants(client, keys, TASKS)
    reply = client.run(manage.update(keys, "t", "j1", max_attempts=0, now_ms=NOW + 5))
    assert reply.result == U.ATTEMPTS_USED
    assert assert_invariants(client, keys, TASKS).raw == before.raw


def test_running_finished_missing_and_foreign_jobs_are_refused(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2"), new_job("j3", "u")])
    _, b = claim(client, keys, 2).jobs
    finish(client, keys, [outcome(b, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)
    before = assert_invariants(client, keys, TASKS)

    replies = [
        client.run(manage.update(keys, "t", job_id, priority=3, now_ms=NOW + 2))
        for job_id in ("j1", "j2", "nope", "j3")
    ]
    assert replies == [
        manage.UpdateReply(U.NOT_WAITING, "running"),
        manage.UpdateReply(U.NOT_WAITING, "succeeded"),
        manage.UpdateReply(U.NOT_FOUND, ""),
        manage.UpdateReply(U.OTHER_TASK, "scheduled"),
    ]
    assert assert_invariants(client, keys, TASKS).raw == before.raw
