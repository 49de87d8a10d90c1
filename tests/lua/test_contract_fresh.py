"""claim.lua and finish.lua read a record as an enqueue wrote it (claim) and
as a first claim left it (finish) by pattern, without a JSON decode; every
other record is decoded. Both ways give the same states, replies and indexes,
and no record text can pass for a fresh one."""

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
)

TASKS = ("t",)
OK = proto.OutcomeCode.SUCCEEDED


def record(client: SyncClient, keys: QueueKeys, job_id: str) -> dict[str, Any]:
    value = client.redis.hget(keys.jobs, job_id)
    assert isinstance(value, bytes)
    state: dict[str, Any] = json.loads(value)
    return state


def test_a_fresh_record_and_its_reordered_twin_end_alike(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("fresh"), new_job("twin")])
    # the same state with its keys in another order: a record the patterns
    # do not match (as after a rewrite by cjson), so both scripts decode it
    twin = record(client, keys, "twin")
    client.redis.hset(keys.jobs, "twin", json.dumps(twin, sort_keys=True))

    jobs = {job.id: job for job in claim(client, keys, 2, worker="w9", now=NOW + 3).jobs}

    assert set(jobs) == {"fresh", "twin"}
    assert jobs["fresh"].state == jobs["twin"].state
    assert (jobs["fresh"].attempt, jobs["fresh"].token) == (jobs["twin"].attempt, "1")
    assert record(client, keys, "fresh") == record(client, keys, "twin")
    assert_invariants(client, keys, TASKS)

    results = finish(
        client, keys, [outcome(jobs["fresh"], OK), outcome(jobs["twin"], OK)], now=NOW + 8
    )

    assert results == [proto.FinishResult.APPLIED] * 2
    assert record(client, keys, "fresh") == record(client, keys, "twin")
    assert record(client, keys, "fresh")["s"] == "succeeded"
    assert record(client, keys, "fresh")["ft"] == NOW + 8
    state = assert_invariants(client, keys, TASKS)
    assert state.running == {}
    assert state.active == {"t": 0}
    assert client.redis.zscore(keys.succeeded, "fresh") == NOW + 8
    assert client.redis.zscore(keys.succeeded, "twin") == NOW + 8


def test_metadata_shaped_like_the_patterns_never_misleads_them(
    client: SyncClient, keys: QueueKeys
) -> None:
    tail_like = {"s": "running", "a": 7, "c": 9, "w": "x", "st": 1}
    metadata = {
        "nested": dict(tail_like),  # a whole claim tail inside an object
        "flat": 1,
        **{"u": "k", "sc": "s", "ft": 5},
        **tail_like,  # last: the record ends with a claim tail's text
    }
    enqueue(client, keys, [new_job("j", metadata=metadata)])

    (job,) = claim(client, keys, 1).jobs

    state = record(client, keys, "j")
    assert (state["s"], state["a"], state["c"], job.token) == ("running", 1, 1, "1")
    assert state["md"] == metadata

    looks_like_a_token = proto.Outcome("j", "9", OK, 0, b"", None)
    assert finish(client, keys, [looks_like_a_token]) == [proto.FinishResult.LEASE_LOST]
    assert record(client, keys, "j") == state

    assert finish(client, keys, [outcome(job, OK)], now=NOW + 4) == [proto.FinishResult.APPLIED]
    state = record(client, keys, "j")
    assert (state["s"], state["ft"], state["md"]) == ("succeeded", NOW + 4, metadata)
    assert_invariants(client, keys, TASKS)


def test_a_wrong_token_or_a_repeated_id_is_refused_on_a_fresh_record(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j")])
    (job,) = claim(client, keys, 1).jobs
    claimed = client.redis.hget(keys.jobs, "j")

    stale = proto.Outcome("j", "2", OK, 0, b"", None)
    assert finish(client, keys, [stale]) == [proto.FinishResult.LEASE_LOST]
    assert client.redis.hget(keys.jobs, "j") == claimed

    twice = [outcome(job, OK), outcome(job, OK)]
    assert finish(client, keys, twice, now=NOW + 2) == [
        proto.FinishResult.APPLIED,
        proto.FinishResult.LEASE_LOST,
    ]
    assert record(client, keys, "j")["s"] == "succeeded"
    assert client.redis.zcard(keys.succeeded) == 1
    assert_invariants(client, keys, TASKS)


def test_a_result_is_stored_on_the_fast_path(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j")])
    (job,) = claim(client, keys, 1).jobs

    done = outcome(job, OK, blob=b"\x92\x01\x02")
    assert finish(client, keys, [done]) == [proto.FinishResult.APPLIED]

    assert client.redis.hget(keys.jobs, "j:r") == b"\x92\x01\x02"
    assert_invariants(client, keys, TASKS)
