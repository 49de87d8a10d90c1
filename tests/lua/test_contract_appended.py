"""claim.lua and finish.lua append the fields they change to a job's record
instead of re-encoding it; a record carries one such tail at most."""

from __future__ import annotations

import json
from typing import Any

from rtask import _protocol as proto
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

TASKS = ("t",)
CLAIMED_TAIL = b',"s":"running","a":'
SUCCEEDED_TAIL = b',"s":"succeeded","ft":'


def raw(client: SyncClient, keys: QueueKeys, job_id: str) -> bytes:
    value = client.redis.hget(keys.jobs, job_id)
    assert isinstance(value, bytes)
    return value


def pairs(record: bytes) -> list[tuple[str, Any]]:
    """The record's top-level (key, value) pairs in order, duplicates kept."""
    found: list[list[tuple[str, Any]]] = []

    def hook(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found.append(items)
        return dict(items)

    json.loads(record, object_pairs_hook=hook)
    return found[-1]  # the outermost object is built last


def test_claim_appends_its_fields_to_the_stored_record(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j")])
    before = raw(client, keys, "j")

    (job,) = claim(client, keys, 1, worker='w"1', now=NOW + 5).jobs

    after = raw(client, keys, "j")
    assert after == before[:-1] + CLAIMED_TAIL + b'1,"c":1,"w":"w\\"1","st":' + b"%d}" % (NOW + 5)
    state = json.loads(after)
    assert (state["s"], state["a"], state["c"], state["w"], state["st"]) == (
        "running",
        1,
        1,
        'w"1',
        NOW + 5,
    )
    assert job.state == state  # the worker gets the record as stored
    assert_invariants(client, keys, TASKS)


def test_a_record_with_a_tail_is_reencoded_whole_on_its_next_claim(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j")])
    claim(client, keys, 1)
    # a claimed record put back in line without being rewritten (no script
    # does this today: the guard keeps any future one from growing records)
    r = client.redis
    tailed = raw(client, keys, "j")[:-1] + b',"s":"scheduled"}'
    r.hset(keys.jobs, "j", tailed)
    r.zrem(keys.running, "j")
    r.hincrby(keys.active, "t", -1)
    r.zadd(keys.ready("t"), {"j": ready_score(0, NOW)})

    (job,) = claim(client, keys, 1, worker="w2", now=NOW + 9).jobs

    record = raw(client, keys, "j")
    names = [name for name, _ in pairs(record)]
    assert len(names) == len(set(names)), record
    assert CLAIMED_TAIL not in record
    state = json.loads(record)
    assert (state["s"], state["a"], state["c"], state["w"]) == ("running", 2, 2, "w2")
    assert job.token == "2"
    assert_invariants(client, keys, TASKS)


def test_metadata_that_looks_like_a_tail_only_costs_a_full_encode(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j", metadata={"x": 1, "s": "running", "a": 7})])

    (job,) = claim(client, keys, 1).jobs

    state = json.loads(raw(client, keys, "j"))
    assert (state["s"], state["a"], state["c"]) == ("running", 1, 1)
    assert state["md"] == {"x": 1, "s": "running", "a": 7}
    assert job.attempt == 1
    assert_invariants(client, keys, TASKS)


def test_a_success_appends_status_and_finish_time_once(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j")])
    (job,) = claim(client, keys, 1).jobs
    claimed = raw(client, keys, "j")

    results = finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 20)

    assert results == [proto.FinishResult.APPLIED]
    record = raw(client, keys, "j")
    assert record == claimed[:-1] + SUCCEEDED_TAIL + b"%d}" % (NOW + 20)
    state = json.loads(record)
    assert (state["s"], state["ft"], state["a"], state["c"]) == ("succeeded", NOW + 20, 1, 1)
    assert_invariants(client, keys, TASKS)


def test_other_outcomes_rewrite_the_record_without_duplicates(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("r"), new_job("f")])
    jobs = {job.id: job for job in claim(client, keys, 2).jobs}

    finish(
        client,
        keys,
        [
            outcome(jobs["r"], proto.OutcomeCode.RETRY, delay_ms=0),
            outcome(jobs["f"], proto.OutcomeCode.FAILED),
        ],
        now=NOW + 30,
    )

    for job_id, status in (("r", "retrying"), ("f", "failed")):
        record = raw(client, keys, job_id)
        names = [name for name, _ in pairs(record)]
        assert len(names) == len(set(names)), record
        assert json.loads(record)["s"] == status
    (again,) = claim(client, keys, 1, now=NOW + 40).jobs  # the retry, claimed with a tail again
    assert again.id == "r" and again.attempt == 2 and again.token == "2"
    assert raw(client, keys, "r").count(CLAIMED_TAIL) == 1
    assert_invariants(client, keys, TASKS)
