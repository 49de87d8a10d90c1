"""read.lua: a job's state, result and errors with the server time, changing nothing."""

from __future__ import annotations

import time

from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import (
    NOW,
    assert_invariants,
    claim,
    enqueue,
    error,
    finish,
    new_job,
    outcome,
    snapshot,
)

TASKS = ("t",)


def read(client: SyncClient, keys: QueueKeys, job_id: str) -> proto.RawJob:
    before_ms = int(time.time() * 1000)
    job = client.run(proto.read_job(keys, job_id))
    after_ms = int(time.time() * 1000)
    # the server clock (same machine) within a sane margin of ours
    assert before_ms - 5000 <= job.now_ms <= after_ms + 5000
    return job


def test_missing_job(client: SyncClient, keys: QueueKeys) -> None:
    job = read(client, keys, "nope")

    assert (job.state, job.result, job.errors) == (None, None, [])
    assert snapshot(client, keys).key_names == set()


def test_waiting_job(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1", delay_ms=100, tags=["x"])])
    before = assert_invariants(client, keys, TASKS)

    job = read(client, keys, "j1")

    assert job.state == before.job("j1")
    assert job.state == {
        "ct": NOW,
        "due": NOW + 100,
        "t": "t",
        "s": "scheduled",
        "a": 0,
        "m": 3,
        "p": 0,
        "c": 0,
        "to": 0,
        "tg": ["x"],
    }
    assert (job.result, job.errors) == (None, [])
    assert snapshot(client, keys) == before


def test_succeeded_job_with_result_and_errors(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (run1,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(run1, proto.OutcomeCode.RETRY, blob=error(1, "e1"))], now=NOW + 1)
    (run2,) = claim(client, keys, 1, now=NOW + 2).jobs
    finish(client, keys, [outcome(run2, proto.OutcomeCode.SUCCEEDED, blob=b"\x00res")], now=NOW + 3)
    before = assert_invariants(client, keys, TASKS)

    job = read(client, keys, "j1")

    assert job.state == before.job("j1")
    assert job.state is not None
    assert (job.state["s"], job.state["a"], job.state["ft"]) == ("succeeded", 2, NOW + 3)
    assert job.result == b"\x00res"
    assert job.errors == [
        {"at": NOW + 1, "started": NOW, "attempt": 1, "type": "ValueError", "message": "e1"}
    ]
    assert snapshot(client, keys) == before
