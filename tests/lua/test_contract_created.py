"""The created index (`rtask:{q}:created`): every job record is in it, scored
by its created time, and nothing else (checked after every call of every
contract test by `assert_invariants`). These cases assert its content along
the paths that create and delete records, and list.lua reading it across
statuses."""

from __future__ import annotations

from dataclasses import replace

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
)
from tests.lua.conftest import CheckedClient

TASKS = ("t", "u")
ALL = ["scheduled", "queued", "running", "retrying", "succeeded", "failed", "cancelled"]


def index(client: SyncClient, keys: QueueKeys) -> dict[str, float]:
    return assert_invariants(client, keys, TASKS).zset(keys.created)


def test_enqueue_indexes_each_stored_job_by_its_call_time(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("b"), new_job("a", "u", delay_ms=5000)])
    enqueue(client, keys, [new_job("a"), new_job("c")], now=NOW + 7)  # "a" exists: not stored
    assert index(client, keys) == {"a": NOW, "b": NOW, "c": NOW + 7}


def test_retention_trims_leave_no_member_behind(client: SyncClient, keys: QueueKeys) -> None:
    keep_one = proto.Retention(succeeded_max=1, failed_max=1, cancelled_max=1)
    enqueue(client, keys, [new_job(f"j{k}", max_attempts=1) for k in range(4)])
    held = claim(client, keys, 4).jobs
    codes = [proto.OutcomeCode.SUCCEEDED, proto.OutcomeCode.FAILED] * 2
    outcomes = [outcome(job, code) for job, code in zip(held, codes, strict=True)]
    finish(client, keys, outcomes, now=NOW + 10, retention=keep_one)
    state = assert_invariants(client, keys, TASKS)
    assert len(state.zset(keys.succeeded)) == 1 and len(state.zset(keys.failed)) == 1
    assert set(state.zset(keys.created)) == set(state.jobs) and len(state.jobs) == 2


def test_cancel_many_and_prune_delete_index_entries(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job(f"j{k}") for k in range(3)])
    call = manage.cancel_many(
        keys,
        "t",
        "ready",
        statuses=["queued"],
        reason="stop",
        retention=proto.Retention(cancelled_max=1),
        now_ms=NOW + 5,
    )
    assert len(client.run(call).cancelled) == 3
    assert len(index(client, keys)) == 1
    client.run(manage.prune(keys, "cancelled", mode="count", cutoff=0, now_ms=NOW + 6))
    assert index(client, keys) == {}
    assert assert_invariants(client, keys, TASKS).jobs == {}


def test_list_reads_the_index_across_statuses(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("z"), new_job("y", "u", delay_ms=60_000)])
    enqueue(client, keys, [new_job("x")], now=NOW + 1)
    (job,) = claim(client, keys, 1, now=NOW + 2).jobs  # "z" (due first) runs
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 3)

    def page(statuses: list[str], after: tuple[str, str] | None, desc: bool = False) -> object:
        return client.run(
            manage.list_page(
                keys,
                keys.created,
                descending=desc,
                after=after,
                size=2,
                budget=100,
                tasks=None,
                statuses=statuses,
                tags=[],
                now_ms=NOW + 4,
            )
        )

    first = page(ALL, None)
    assert isinstance(first, manage.ListReply)
    assert [(i, r.state and r.state["s"]) for i, r in first.jobs] == [
        ("y", "scheduled"),
        ("z", "succeeded"),
    ]  # ties (NOW) by id
    rest = page(ALL, (first.last_score, first.last_id))
    assert isinstance(rest, manage.ListReply)
    assert [i for i, _ in rest.jobs] == ["x"] and rest.exhausted
    waiting = page(["queued", "scheduled"], None, desc=True)
    assert isinstance(waiting, manage.ListReply)
    assert [i for i, _ in waiting.jobs] == ["x", "y"]


def test_off_no_script_writes_the_index(client: SyncClient, keys: QueueKeys) -> None:
    """Without the option (keys without the created index) the same calls
    keep no index; the other invariants hold all the same."""
    off = replace(keys, index_created=False)
    assert isinstance(client, CheckedClient)
    client.keys = off  # check every call against the keys with the index off
    enqueue(client, off, [new_job(f"j{k}", max_attempts=1) for k in range(3)])
    held = claim(client, off, 3).jobs
    codes = [proto.OutcomeCode.SUCCEEDED, proto.OutcomeCode.FAILED, proto.OutcomeCode.SUCCEEDED]
    outcomes = [outcome(job, code) for job, code in zip(held, codes, strict=True)]
    finish(client, off, outcomes, now=NOW + 10, retention=proto.Retention(succeeded_max=1))
    state = assert_invariants(client, off, TASKS)
    assert keys.created not in state.raw
    assert len(state.jobs) == 2  # one succeeded job trimmed
