"""Shard names, routing and lookups (pure: no Redis)."""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

import orjson
import pytest

import rtask
from rtask._admin import QueueStats, TaskStats
from rtask._errors import ConfigError, InvalidInput
from rtask._job import new_job_id
from rtask._shards import (
    check_physical_queue,
    logical_queue,
    lookup_order,
    merge_stats,
    physical_queues,
    route,
    routing_key,
    shard_index,
    shard_names,
)
from rtask._worker._claims import few_shards


def test_shard_names_keep_the_logical_name_for_the_home_shard() -> None:
    assert shard_names("emails", 1) == ["emails"]
    assert shard_names("emails", 4) == ["emails", "emails#1", "emails#2", "emails#3"]
    assert {logical_queue(n) for n in shard_names("emails", 4)} == {"emails"}
    # every shard is its own hash tag: its own cluster slot
    app = rtask.App("memory://unit-shards", shards={"emails": 3})
    assert [app.keys(n).jobs for n in app.shards("emails")] == [
        "rtask:{emails}:jobs",
        "rtask:{emails#1}:jobs",
        "rtask:{emails#2}:jobs",
    ]


@pytest.mark.parametrize("name", ["emails#0", "emails#01", "emails#x", "emails#", "#1", "a#1#2"])
def test_hash_only_in_shard_names_rtask_makes(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_physical_queue(name)


def test_users_cannot_name_a_queue_like_a_shard() -> None:
    app = rtask.App("memory://unit-shards")
    with pytest.raises(InvalidInput):

        @app.task(queue="emails#1")
        def f() -> None: ...

    assert check_physical_queue("emails#12") == "emails#12"


def test_shard_index_is_stable_and_spreads_evenly() -> None:
    ids = [new_job_id() for _ in range(8000)]
    assert [shard_index(i, 4) for i in ids] == [zlib.crc32(i.encode()) % 4 for i in ids]
    counts = Counter(shard_index(i, 4) for i in ids)
    assert set(counts) == {0, 1, 2, 3}
    assert all(1600 < n < 2400 for n in counts.values()), counts
    assert {shard_index(i, 1) for i in ids[:100]} == {0}


def test_shard_counts_are_declared_once_per_queue() -> None:
    app = rtask.App("memory://unit-shards", shards={"emails": 4})

    @app.task(queue="emails")
    def a() -> None: ...

    @app.task(queue="emails", shards=4)
    def b() -> None: ...

    assert a.shards == b.shards == 4
    with pytest.raises(ConfigError, match="has 4 shards already"):

        @app.task(queue="emails", shards=2)
        def c() -> None: ...

    @app.task(queue="reports", shards=3)
    def d() -> None: ...

    assert app.shards("reports") == ["reports", "reports#1", "reports#2"]
    assert app.shards("default") == ["default"]


@pytest.mark.parametrize("bad", [0, -1, 1025, 2.5, True, "4"])
def test_bad_shard_counts_are_refused(bad: object) -> None:
    with pytest.raises(ConfigError):
        rtask.App("memory://unit-shards", shards={"q": bad})  # type: ignore[dict-item]
    app = rtask.App("memory://unit-shards")
    with pytest.raises(ConfigError):
        app.task(queue="q", shards=bad)(lambda: None)  # type: ignore[call-overload]


def test_routing_by_id_and_rate_limited_tasks_stay_home() -> None:
    app = rtask.App("memory://unit-shards", shards={"q": 5})

    @app.task(queue="q")
    def spread() -> None: ...

    @app.task(queue="q", rate_limit="10/s")
    def limited() -> None: ...

    jobs = [spread.options().build((), {}, None) for _ in range(200)]
    assert [route(spread, j) for j in jobs] == [shard_index(j.id, 5) for j in jobs]
    assert {route(limited, j) for j in jobs} == {0}


@dataclass(frozen=True)
class UniqueJob:
    """A new job carrying a uniqueness spec (as enqueue.lua reads it)."""

    id: str
    unique: bytes


def test_a_uniqueness_identity_routes_every_enqueue_of_it_to_one_shard() -> None:
    app = rtask.App("memory://unit-shards", shards={"q": 8})

    @app.task(queue="q")
    def f() -> None: ...

    spec = orjson.dumps({"k": "tasks.f|user-7", "s": ["queued"]})
    places = {route(f, UniqueJob(new_job_id(), spec)) for _ in range(50)}  # type: ignore[arg-type]
    assert places == {shard_index("tasks.f|user-7", 8)}
    assert routing_key(UniqueJob("abc", b"")) == "abc"  # type: ignore[arg-type]


def test_enqueue_many_makes_one_call_per_shard() -> None:
    app = rtask.App("memory://unit-shards", shards={"q": 3})

    @app.task(queue="q")
    def f(n: int) -> None: ...

    bound = f.options()
    jobs = bound._build_many([(n,) for n in range(90)], None)
    calls, _ = bound._enqueue_calls(jobs, False)
    assert len(calls) == 3
    assert sorted(str(c.keys[0]) for c in calls) == [
        "rtask:{q#1}:jobs",
        "rtask:{q#2}:jobs",
        "rtask:{q}:jobs",
    ]
    # each call carries exactly the jobs whose id routes to its shard
    seen = []
    for call in calls:
        shard = str(call.keys[0]).split("{")[1].split("}")[0]
        ids = [str(a) for a in call.args[5::7]]  # one task: jobs start at ARGV[6]
        assert {shard_names("q", 3)[shard_index(i, 3)] for i in ids} == {shard}
        seen += ids
    assert sorted(seen) == sorted(j.id for j in jobs)


def test_lookup_tries_the_ids_shard_first_then_the_others() -> None:
    table = {"q": 4}
    job_id = new_job_id()
    first = shard_names("q", 4)[shard_index(job_id, 4)]
    order = lookup_order(table, "q", job_id)
    assert order[0] == first
    assert sorted(order) == sorted(shard_names("q", 4))
    assert lookup_order(table, "q#2", job_id) == ["q#2"]
    assert lookup_order(table, "other", job_id) == ["other"]


def test_physical_queues_expand_logical_names_once() -> None:
    table = {"a": 3}
    assert physical_queues(table, ["a", "b", "a#2", "a"]) == ["a", "a#1", "a#2", "b"]


def _stats(queue: str, rows: list[TaskStats], oldest: float | None, workers: int) -> QueueStats:
    running = sum(r.running for r in rows)
    return QueueStats(queue, rows, running, 1, 2, 3, oldest, workers)


def test_merged_stats_sum_the_shards_and_keep_them() -> None:
    parts = [
        _stats("q", [TaskStats("t", 1, 2, 3)], 1.5, 2),
        _stats("q#1", [TaskStats("t", 10, 20, 30), TaskStats("u", 0, 5, 0)], None, 2),
        _stats("q#2", [], 4.0, 1),
    ]
    merged = merge_stats("q", parts)
    assert merged.queue == "q"
    assert merged.tasks == [TaskStats("t", 11, 22, 33), TaskStats("u", 0, 5, 0)]
    assert (merged.running, merged.succeeded, merged.failed, merged.cancelled) == (33, 3, 6, 9)
    assert merged.oldest_queued_s == 4.0
    assert merged.workers == 2
    assert merged.shards == parts
    single = _stats("q", [], None, 0)
    assert merge_stats("q", [single]) is single


def test_a_worker_takes_turns_over_the_shards() -> None:
    app = rtask.App("memory://unit-shards", shards={"q": 6})

    @app.task(queue="q")
    def f() -> None: ...

    w = app.worker(["q"], concurrency=100, prefetch=0)
    assert [q.name for q in w.queues] == app.shards("q")
    # 100 free slots, a batch is 25 jobs: four shards per trip, in turn
    picks = [[q.name for q in few_shards(w, w.queues, 100)] for _ in range(3)]
    assert picks == [
        ["q", "q#1", "q#2", "q#3"],
        ["q#4", "q#5", "q", "q#1"],
        ["q#2", "q#3", "q#4", "q#5"],
    ]
    # few free slots: one shard per trip, every shard in turn
    singles = [few_shards(w, w.queues, 3)[0].name for _ in range(6)]
    assert sorted(singles) == sorted(app.shards("q"))
