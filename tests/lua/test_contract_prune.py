"""prune.lua and unique_sweep.lua: finished jobs deleted by rules, in bounded
batches. The first case ports rexecutor's `prune_jobs` conformance test with
its figures (200 complete jobs; 200 / 150 / 100 left)."""

from __future__ import annotations

from dataclasses import replace

from rtask import JobStatus, Unique
from rtask import _protocol as proto
from rtask import _protocol_manage as manage
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from tests.lua._state import (
    LEASE_MS,
    NOW,
    assert_invariants,
    claim,
    enqueue,
    finish,
    new_job,
    outcome,
)

TASKS = ("t", "u")
HOUR = 3_600_000


def succeed(client: SyncClient, keys: QueueKeys, task: str, n: int, *, spacing_ms: int) -> None:
    """n succeeded jobs of `task`, the k-th finished at NOW - k * spacing_ms."""
    start = NOW - n * spacing_ms
    enqueue(client, keys, [new_job(f"{task}{k}", task) for k in range(n)], now=start)
    held = claim(client, keys, n, tasks=[(task, 0)], now=start, lease_ms=LEASE_MS + n * spacing_ms)
    for job in held.jobs:
        k = int(job.id[len(task) :])
        done = [outcome(job, proto.OutcomeCode.SUCCEEDED)]
        finish(client, keys, done, tasks=[(task, 0)], now=NOW - k * spacing_ms)


def prune_all(
    client: SyncClient, keys: QueueKeys, index: str, *, mode: str, cutoff: int, **kw: object
) -> int:
    offset = kept = deleted = 0
    while True:
        call = manage.prune(
            keys,
            index,
            mode=mode,
            cutoff=cutoff,
            offset=offset,
            kept=kept,
            limit=30,
            now_ms=NOW + 1,
            **kw,  # type: ignore[arg-type]
        )
        reply = client.run(call)
        offset += reply.read - reply.removed
        kept = reply.kept
        deleted += reply.removed
        if reply.read < 30:
            return deleted


def test_rexecutor_prune_figures(client: SyncClient, keys: QueueKeys) -> None:
    succeed(client, keys, "t", 100, spacing_ms=60_000)
    succeed(client, keys, "u", 100, spacing_ms=HOUR)
    assert len(assert_invariants(client, keys, TASKS).jobs) == 200

    # a rule on another status leaves all 200
    assert prune_all(client, keys, "cancelled", mode="before", cutoff=NOW + 1) == 0
    # max length 50 for t only: 150 left, t's 50 newest kept
    assert (
        prune_all(client, keys, "succeeded", mode="count", cutoff=50, rule="only", tasks=["t"])
        == 50
    )
    state = assert_invariants(client, keys, TASKS)
    assert len(state.jobs) == 150
    assert {j for j in state.jobs if j.startswith("t")} == {f"t{k}" for k in range(50)}
    # max age 50 h for every task but t: u's jobs at NOW - k h, k >= 50, go
    cutoff = NOW + 1 - 50 * HOUR
    assert (
        prune_all(
            client, keys, "succeeded", mode="before", cutoff=cutoff, rule="except", tasks=["t"]
        )
        == 50
    )
    state = assert_invariants(client, keys, TASKS)
    assert len(state.jobs) == 100
    assert {j for j in state.jobs if j.startswith("u")} == {f"u{k}" for k in range(50)}
    assert len(state.zset(keys.succeeded)) == 100


def test_delete_history_before_a_time(client: SyncClient, keys: QueueKeys) -> None:
    succeed(client, keys, "t", 10, spacing_ms=1000)
    assert prune_all(client, keys, "succeeded", mode="before", cutoff=NOW - 4500) == 5
    state = assert_invariants(client, keys, TASKS)
    assert sorted(state.jobs) == [f"t{k}" for k in range(5)]
    assert state.fields_of("t7") == set()


def test_pruned_holder_releases_its_identity(client: SyncClient, keys: QueueKeys) -> None:
    rule = Unique("k", statuses=frozenset(JobStatus))
    enqueue(client, keys, [replace(new_job("j1"), unique=rule.spec("t"))])
    (job,) = claim(client, keys, 1).jobs
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {"t|k": "j1"}

    assert prune_all(client, keys, "succeeded", mode="before", cutoff=NOW + 2) == 1
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {}


def test_unique_sweep_drops_identities_no_job_holds(client: SyncClient, keys: QueueKeys) -> None:
    throttle = Unique.throttle("a", 1)
    enqueue(client, keys, [replace(new_job("a9"), unique=throttle.spec("t"))])
    enqueue(
        client,
        keys,
        [replace(new_job(f"j{k}"), unique=Unique(f"k{k}").spec("t")) for k in range(5)],
    )
    (job,) = claim(client, keys, 1).jobs  # a9, held 1 s after finishing
    finish(client, keys, [outcome(job, proto.OutcomeCode.SUCCEEDED)], now=NOW + 1)
    client.redis.hset(keys.unique, "t|gone", "nobody")  # a holder deleted by retention
    before = assert_invariants(client, keys, TASKS).hash(keys.unique)
    assert len(before) == 7  # k0..k4, a (held 1 s after finishing), gone

    cursor, dropped = "0", 0
    while True:
        reply = client.run(manage.unique_sweep(keys, cursor, count=2, now_ms=NOW + 5000))
        cursor, dropped = reply.cursor, dropped + reply.dropped
        if cursor == "0":
            break
    assert dropped == 2
    assert assert_invariants(client, keys, TASKS).hash(keys.unique) == {
        f"t|k{k}": f"j{k}" for k in range(5)
    }
