"""The retrying counts (`rtask:{q}:retrying`, task -> jobs with status
retrying): every script that moves a job into or out of `retrying` keeps
them exact (checked after every call of every contract test by
`assert_invariants`). These cases walk each transition and assert the count."""

from __future__ import annotations

from rtask import _protocol as proto
from rtask import _protocol_manage as manage
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

TASKS = ("t", "u")
Code = proto.OutcomeCode


def counts(client: SyncClient, keys: QueueKeys) -> dict[str, int]:
    state = assert_invariants(client, keys, TASKS)
    return {t: n for t, n in state.hash(keys.retrying).items() if n}


def retry_all(client: SyncClient, keys: QueueKeys, n: int, now: int = NOW) -> None:
    held = claim(client, keys, n, now=now).jobs
    finish(client, keys, [outcome(j, Code.RETRY) for j in held], now=now)


def test_retry_then_claim(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job(f"j{k}") for k in range(3)] + [new_job("u1", "u")])
    retry_all(client, keys, 3)
    assert counts(client, keys) == {"t": 3}
    claim(client, keys, 2, now=NOW + 1)
    assert counts(client, keys) == {"t": 1}


def test_snooze_and_release_of_a_second_attempt_stay_retrying(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job("a"), new_job("b"), new_job("c")])
    held = claim(client, keys, 3).jobs
    # a first attempt given back is scheduled again, not retrying
    finish(client, keys, [outcome(held[0], Code.SNOOZED, delay_ms=5)])
    assert counts(client, keys) == {}
    finish(client, keys, [outcome(j, Code.RETRY) for j in held[1:]])
    assert counts(client, keys) == {"t": 2}
    again = claim(client, keys, 3, now=NOW + 10).jobs
    assert counts(client, keys) == {}
    by_id = {j.id: j for j in again}
    finish(
        client,
        keys,
        [outcome(by_id["b"], Code.SNOOZED, delay_ms=5), outcome(by_id["c"], Code.RELEASED)],
        now=NOW + 10,
    )
    assert counts(client, keys) == {"t": 2}


def test_a_lost_lease_retries(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("j1"), new_job("j2", max_attempts=1)])
    claim(client, keys, 2)
    recover(client, keys, now=NOW + LEASE_MS + 1)
    assert counts(client, keys) == {"t": 1}  # j2 had no attempt left: failed


def test_cancel_and_cancel_many_of_retrying_jobs(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job(f"j{k}") for k in range(4)])
    retry_all(client, keys, 4)
    cancel(client, keys, "j0", now=NOW + 1)
    assert counts(client, keys) == {"t": 3}
    call = manage.cancel_many(
        keys, "t", "ready", statuses=["retrying"], reason="stop", now_ms=NOW + 2
    )
    assert sorted(client.run(call).cancelled) == ["j1", "j2", "j3"]
    assert counts(client, keys) == {}


def test_rerun_and_retry_failed_of_jobs_that_ran(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job(f"j{k}", max_attempts=1) for k in range(3)])
    enqueue(client, keys, [new_job("never")], now=NOW)
    held = [j for j in claim(client, keys, 3).jobs]
    finish(client, keys, [outcome(j, Code.FAILED) for j in held])
    cancel(client, keys, "never", now=NOW + 1)  # cancelled before it ran
    rerun = manage.rerun(keys, "t", [held[0].id, "never"], now_ms=NOW + 2)
    assert [int(r) for r in client.run(rerun)] == [1, 1]
    assert counts(client, keys) == {"t": 1}  # "never" is scheduled again, not retrying
    client.run(manage.retry_failed(keys, ["t"], now_ms=NOW + 3))
    assert counts(client, keys) == {"t": 3}
