"""cancel_many.lua: cancel by filter (Ora's cancel_jobs): only active jobs of
the task, matching statuses and tags; running ones are marked for their worker."""

from __future__ import annotations

from rtask import _protocol_manage as manage
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import NOW, assert_invariants, cancel, claim, enqueue, new_job

TASKS = ("t", "u")
ACTIVE = ["scheduled", "queued", "retrying", "running"]


def cancel_all(
    client: SyncClient,
    keys: QueueKeys,
    source: str,
    *,
    statuses: list[str] = ACTIVE,
    tags: list[str] | None = None,
    limit: int = 2,
    now: int = NOW + 10,
) -> tuple[list[str], list[str]]:
    cancelled: list[str] = []
    requested: list[str] = []
    offset = 0
    while True:
        call = manage.cancel_many(
            keys,
            "t",
            source,
            statuses=statuses,
            tags=tags or [],
            reason="sweep",
            offset=offset,
            limit=limit,
            now_ms=now,
        )
        reply = client.run(call)
        cancelled += reply.cancelled
        requested += reply.requested
        offset += reply.read - reply.removed
        if reply.read < limit:
            return cancelled, requested


def test_waiting_jobs_with_the_tags_are_cancelled(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(
        client,
        keys,
        [
            new_job("j1", tags=["x"]),
            new_job("j2", tags=["x", "y"]),
            new_job("j3", tags=["y"]),
            new_job("j4", tags=["x", "y"]),
            new_job("j5", "u", tags=["x"]),
        ],
    )
    assert cancel_all(client, keys, "ready", tags=["x"]) == (["j1", "j2", "j4"], [])
    state = assert_invariants(client, keys, TASKS)
    assert list(state.ready()) == ["j3"]
    assert list(state.ready("u")) == ["j5"]
    assert state.errors("j2")[-1]["message"] == "sweep"
    assert list(state.zset(keys.cancelled)) == ["j1", "j2", "j4"]


def test_status_filter_picks_scheduled_not_queued(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1", delay_ms=5000), new_job("j2", delay_ms=5)])
    # at NOW + 10, j2 is due (queued though still in the scheduled set)
    assert cancel_all(client, keys, "scheduled", statuses=["scheduled"]) == (["j1"], [])
    assert assert_invariants(client, keys, TASKS).scheduled() == {"j2": NOW + 5}


def test_running_jobs_are_marked_and_finished_ones_left(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2"), new_job("j3", "u")])
    claim(client, keys, 2)
    claim(client, keys, 1, tasks=[("u", 0)])
    cancel(client, keys, "j2", now=NOW + 1)  # already cancelled: left alone
    assert cancel_all(client, keys, "running", statuses=["running"]) == ([], ["j1"])
    state = assert_invariants(client, keys, TASKS)
    assert state.job("j1")["s"] == "cancelled"
    assert state.job("j3")["s"] == "running"
    assert set(state.running) == {"j1", "j2", "j3"}  # slots held until released
