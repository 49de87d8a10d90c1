"""progress.lua: progress and job log of running jobs, fenced by the lease token."""

from __future__ import annotations

import orjson

from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from rtask._progress import Report, progress
from tests.lua._state import NOW, assert_invariants, claim, enqueue, finish, new_job, outcome

TASKS = ("t",)


def report(job: proto.ClaimedJob, value: object = None, *lines: str, token: str = "") -> Report:
    entries = [{"at": NOW, "msg": m} for m in lines]
    return Report(
        job.id,
        token or job.token,
        b"" if value is None else orjson.dumps(value),
        orjson.dumps(entries) if entries else b"",
    )


def send(client: SyncClient, keys: QueueKeys, reports: list[Report], cap: int = 100) -> list[int]:
    return client.run(progress(keys, reports, cap=cap, now_ms=NOW))


def test_progress_and_log_of_a_running_job(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs

    assert send(client, keys, [report(job, 0.25, "one")]) == [1]
    assert send(client, keys, [report(job, None, "two", "three")]) == [1]  # progress kept

    state = assert_invariants(client, keys, TASKS)
    assert state.progress("j1") == 0.25
    assert [e["msg"] for e in state.log("j1")] == ["one", "two", "three"]
    assert state.job("j1")["s"] == "running"  # the state is not touched


def test_log_keeps_the_newest_cap_entries(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs

    send(client, keys, [report(job, None, "a", "b", "c")], cap=4)
    send(client, keys, [report(job, None, "d", "e")], cap=4)

    assert [e["msg"] for e in assert_invariants(client, keys, TASKS).log("j1")] == [
        "b",
        "c",
        "d",
        "e",
    ]


def test_fenced_by_token_and_status(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2")])
    j1, j2 = claim(client, keys, 2).jobs
    finish(client, keys, [outcome(j2, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)
    missing = Report("nope", "1", b"1", b"")

    codes = send(client, keys, [report(j1, 1, token="99"), report(j2, 1, "late"), missing])

    assert codes == [-2, -2, -1]
    state = assert_invariants(client, keys, TASKS)
    assert state.fields_of("j1") == {"j1", "j1:p"}
    assert state.fields_of("j2") == {"j2", "j2:p"}


def test_retention_deletes_progress_and_log(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2")])
    j1, j2 = claim(client, keys, 2).jobs
    send(client, keys, [report(j1, 1, "x"), report(j2, 2, "y")])
    keep_one = proto.Retention(0, 1, 0, 0, 0, 0)

    finish(
        client, keys, [outcome(j1, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1, retention=keep_one
    )
    finish(
        client, keys, [outcome(j2, proto.OutcomeCode.SUCCEEDED)], now=NOW + 2, retention=keep_one
    )

    state = assert_invariants(client, keys, TASKS)
    assert state.fields_of("j1") == set()  # trimmed with all its fields
    assert state.fields_of("j2") == {"j2", "j2:p", "j2:g", "j2:l"}
