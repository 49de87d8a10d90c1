"""rerun.lua and retry_failed.lua: finished jobs become runnable again with one
more allowed attempt (rexecutor's rerun rules, ported from its `rerun_job`
conformance cases)."""

from __future__ import annotations

from rtask import _protocol as proto
from rtask import _protocol_manage as manage
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import (
    NOW,
    assert_invariants,
    cancel,
    claim,
    enqueue,
    finish,
    new_job,
    outcome,
    ready_score,
)

TASKS = ("t", "u")
R = manage.RerunResult


def rerun(client: SyncClient, keys: QueueKeys, *ids: str, now: int, task: str = "t") -> list[R]:
    return client.run(manage.rerun(keys, task, ids, now_ms=now))


def run_to(client: SyncClient, keys: QueueKeys, code: proto.OutcomeCode, now: int) -> None:
    (job,) = claim(client, keys, 1, now=now).jobs
    finish(client, keys, [outcome(job, code)], now=now + 1)


def test_failed_job_is_retrying_again_with_one_more_attempt(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1", max_attempts=1)])
    run_to(client, keys, proto.OutcomeCode.RETRY, NOW)
    before = assert_invariants(client, keys, TASKS)
    assert before.job("j1")["s"] == "failed"

    assert rerun(client, keys, "j1", now=NOW + 10) == [R.RERUN]

    state = assert_invariants(client, keys, TASKS)
    st = state.job("j1")
    assert (st["s"], st["a"], st["m"], st["due"]) == ("retrying", 1, 2, NOW + 10)
    assert "ft" not in st
    assert state.zset(keys.failed) == {}
    assert state.ready() == {"j1": ready_score(0, NOW + 10)}
    assert len(state.errors("j1")) == 1  # history kept
    # it runs again, and its last attempt fails it for good
    run_to(client, keys, proto.OutcomeCode.RETRY, NOW + 20)
    st = assert_invariants(client, keys, TASKS).job("j1")
    assert (st["s"], st["a"]) == ("failed", 2)


def test_succeeded_job_drops_its_result(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED, blob=b"r")], now=NOW + 1)

    assert rerun(client, keys, "j1", now=NOW + 5) == [R.RERUN]
    state = assert_invariants(client, keys, TASKS)
    assert state.result("j1") is None
    assert state.job("j1")["m"] == 4


def test_cancelled_before_running_is_scheduled_again(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1")])
    cancel(client, keys, "j1", now=NOW + 1)
    assert rerun(client, keys, "j1", now=NOW + 2) == [R.RERUN]
    st = assert_invariants(client, keys, TASKS).job("j1")
    assert (st["s"], st["a"], st["m"]) == ("scheduled", 0, 4)


def test_unfinished_missing_foreign_and_held_jobs_are_refused(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2", "u"), new_job("j3")])
    claim(client, keys, 1)  # j1 runs
    cancel(client, keys, "j1", now=NOW + 1)  # cancelled, still held by its worker
    before = assert_invariants(client, keys, TASKS)

    got = rerun(client, keys, "j1", "j2", "j3", "nope", now=NOW + 2)

    assert got == [R.STILL_HELD, R.OTHER_TASK, R.NOT_FINISHED, R.NOT_FOUND]
    assert assert_invariants(client, keys, TASKS).raw == before.raw


def test_retry_failed_pages_by_task_and_age(client: SyncClient, keys: QueueKeys) -> None:
    for k in range(6):
        task = "t" if k % 2 == 0 else "u"
        enqueue(client, keys, [new_job(f"j{k}", task, max_attempts=1)], now=NOW + 100 * k)
        (job,) = claim(client, keys, 1, tasks=[(task, 0)], now=NOW + 100 * k).jobs
        finish(
            client,
            keys,
            [outcome(job, proto.OutcomeCode.FAILED)],
            tasks=[(task, 0)],
            now=NOW + 100 * k,
        )
    # only t's jobs finished before NOW + 350: j0, j2 (j4 is too new, u's are skipped)
    rerun_ids: list[str] = []
    offset = 0
    while True:
        call = manage.retry_failed(
            keys, ["t"], finished_until_ms=NOW + 350, offset=offset, limit=2, now_ms=NOW + 1000
        )
        reply = client.run(call)
        offset += reply.read - reply.removed
        if reply.read < 2:
            break
    state = assert_invariants(client, keys, TASKS)
    rerun_ids = [i for i, st in state.jobs.items() if st["s"] == "retrying"]
    assert sorted(rerun_ids) == ["j0", "j2"]
    assert list(state.zset(keys.failed)) == ["j1", "j3", "j4", "j5"]
