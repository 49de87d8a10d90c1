"""Sharded queues on Redis and memory://: enqueue spreads, workers drain every
shard, lookups find a job in its shard, stats see the logical queue, and a
capped task's cap holds across shards."""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import rtask
from rtask import JobStatus
from rtask._cli import main
from rtask._errors import JobNotFound
from rtask._protocol import enqueue
from rtask._shards import shard_index
from rtask.testing import assert_enqueued_async

from ._helpers import RESULT_TIMEOUT, background, close, run, worker

pytestmark = pytest.mark.timeout(30)
SHARDS = 4


def test_enqueue_spreads_and_a_worker_drains_every_shard(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(queue="emails", shards=SHARDS)
        async def send(n: int) -> int:
            return n * 2

        try:
            jobs = await send.enqueue_many([(n,) for n in range(200)])
            one = await send.enqueue(1000)
            assert {j.queue for j in [*jobs, one]} == set(app.shards("emails"))
            stats = (await app.stats(["emails"]))[0]
            assert stats.queue == "emails"
            assert stats.queued == 201
            assert [s.queue for s in stats.shards] == app.shards("emails")
            assert sum(s.queued for s in stats.shards) == 201
            assert all(s.queued > 20 for s in stats.shards)  # spread, not piled up

            await worker(app, concurrency=16).run(burst=True)

            assert [await j.result(timeout=RESULT_TIMEOUT) for j in jobs] == [
                n * 2 for n in range(200)
            ]
            stats = (await app.stats(["emails"]))[0]
            assert (stats.queued, stats.running, stats.succeeded) == (0, 0, 201)
        finally:
            await close(app)

    run(body)


def test_a_job_is_found_by_id_in_its_shard_or_by_probing(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, shards={"emails": SHARDS})

        @app.task(queue="emails")
        async def send(n: int) -> int:
            return n

        try:
            fixed = await send.options(id="order-42").enqueue(1)
            found = await app.job("order-42", "emails")
            assert found.queue == fixed.queue
            assert (await found.info()).status is JobStatus.QUEUED
            # a job placed in another shard than its id's (as a uniqueness key
            # would place it) is found by probing the other shards
            home = app.shards("emails")[0]
            by_id = app.shards("emails")[shard_index("placed-elsewhere", SHARDS)]
            other = next(q for q in app.shards("emails") if q != by_id)
            job = send.options().build((7,), {}, "placed-elsewhere")
            await app.async_client().run(enqueue(app.keys(other), [job]))
            assert (await app.job("placed-elsewhere", "emails")).queue == other
            sync = app.job_sync("placed-elsewhere", "emails")
            assert sync.info().task == send.name
            with pytest.raises(JobNotFound, match="in queue 'emails'"):
                await app.job("missing", "emails")
            assert home == "emails"
            # a handle cancels in the job's own shard
            assert await found.cancel() is True
            assert (await found.info()).status is JobStatus.CANCELLED
        finally:
            await close(app)

    run(body)


def test_rate_limited_tasks_stay_in_the_home_shard(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, shards={"emails": SHARDS})

        @app.task(queue="emails", rate_limit="1000/s")
        async def limited() -> None: ...

        try:
            jobs = await limited.enqueue_many([() for _ in range(20)])
            assert {j.queue for j in jobs} == {"emails"}
        finally:
            await close(app)

    run(body)


class Meter:
    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def hold(self, seconds: float) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1


def test_a_cap_holds_across_shards_and_workers(backend_url: str, prefix: str) -> None:
    """Two workers of 6 slots each, a task capped at 3 spread over 4 shards:
    never more than 3 run at once, and the cap is reached."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, shards={"emails": SHARDS})
        meter = Meter()
        free_done: list[int] = []

        @app.task(queue="emails", concurrency=3)
        async def capped(n: int) -> int:
            await meter.hold(0.02)
            return n

        @app.task(queue="emails")
        async def free(n: int) -> None:
            free_done.append(n)

        try:
            jobs = await capped.enqueue_many([(n,) for n in range(60)])
            frees = await free.enqueue_many([(n,) for n in range(20)])
            assert len({j.queue for j in jobs}) == SHARDS
            async with background(app, concurrency=6), background(app, concurrency=6):
                results = [await j.result(timeout=RESULT_TIMEOUT) for j in jobs]
                for j in frees:
                    await j.result(timeout=RESULT_TIMEOUT)
            assert results == list(range(60))
            assert meter.peak == 3
            assert sorted(free_done) == list(range(20))
            # every permit was given back
            assert (
                await app.async_client().redis.zcard(app.keys("emails").permits(capped.name)) == 0
            )
        finally:
            await close(app)

    run(body)


def test_a_dead_workers_permits_come_back(backend_url: str, prefix: str) -> None:
    """A worker holding every permit is cancelled without giving them back:
    another worker runs the jobs once the permits' lease runs out."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, shards={"emails": 2})
        started = asyncio.Event()

        @app.task(queue="emails", concurrency=1)
        async def capped(n: int) -> int:
            # the first run of job 0 hangs (its worker dies); its rerun does not
            hang = n == 0 and not started.is_set()
            started.set()
            await asyncio.sleep(60 if hang else 0.01)
            return n

        try:
            stuck = await capped.enqueue(0)
            w = worker(app, concurrency=2, lease_s=1.0)
            w.stop = lambda: None  # type: ignore[method-assign]
            task = asyncio.create_task(w.run())
            await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
            permits = app.keys("emails").permits(capped.name)
            assert await app.async_client().redis.zcard(permits) == 1
            # the worker dies: no heartbeat, no release (its pool is emptied so
            # the leave call has nothing to give back)
            for pool in w.pools:
                pool.held.clear()
                pool.free.clear()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            # nobody gave the dead worker's permit back: it expires with its lease
            assert await app.async_client().redis.zcard(permits) == 1
            later = [await capped.enqueue(n) for n in range(1, 4)]
            async with background(app, concurrency=2):
                assert [await j.result(timeout=RESULT_TIMEOUT) for j in later] == [1, 2, 3]
                # the dead worker's job (handed back as it was cancelled) ran again
                assert await stuck.result(timeout=RESULT_TIMEOUT) == 0
        finally:
            await close(app)

    run(body)


SHARDED_APP = """
import rtask

app = rtask.App({url!r}, prefix={prefix!r}, shards={{"emails": 3}})


@app.task(name="send", queue="emails")
async def send(n: int) -> int:
    return n
"""


def test_rtask_stats_shows_the_logical_queue_and_its_shards(
    backend_url: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"sharded_cli_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(SHARDED_APP.format(url=backend_url, prefix=prefix))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)

    async def body() -> list[str]:
        try:
            jobs = await module.send.enqueue_many([(n,) for n in range(30)])
            return [j.queue for j in jobs]
        finally:
            await close(module.app)

    placed = Counter(run(body))
    result = CliRunner().invoke(main, ["stats", f"{name}:app", "--queues", "emails"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.split("\n\n")[1].splitlines()[1:]]
    # the queue's row sums its shards; then one row per shard (QUEUE, QUEUED)
    assert [(" ".join(row[:-10]), row[-9]) for row in rows] == [
        ("emails", "30"),
        ("shard emails", str(placed["emails"])),
        ("shard emails#1", str(placed["emails#1"])),
        ("shard emails#2", str(placed["emails#2"])),
    ]
    doc = json.loads(CliRunner().invoke(main, ["stats", f"{name}:app", "--json"]).output)
    (queue,) = [q for q in doc["queues"] if q["queue"] == "emails"]
    assert queue["queued"] == 30
    assert [s["queue"] for s in queue["shards"]] == ["emails", "emails#1", "emails#2"]
    assert [s["tasks"][0]["queued"] for s in queue["shards"]] == [
        placed[q] for q in ("emails", "emails#1", "emails#2")
    ]


def test_testing_helpers_and_schedules_see_every_shard(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, shards={"emails": SHARDS})
        ticks: list[str] = []

        @app.task(queue="emails")
        async def send(n: int) -> int:
            return n

        @app.task(queue="emails")
        async def tick(label: str) -> None:
            ticks.append(label)

        # a schedule of a sharded queue lives in its home shard, like an
        # unsharded queue's, and the workers of the queue serve it
        app.schedule(tick, id="on-demand", manual=True, args=("manual",))
        try:
            jobs = await send.enqueue_many([(n,) for n in range(40)])
            found = await assert_enqueued_async(app, send, count=40)
            assert sorted(j.id for j in found) == sorted(j.id for j in jobs)
            assert len({j.queue for j in jobs}) == SHARDS
            await assert_enqueued_async(app, send, args=[17], count=1)
            async with background(app, concurrency=8) as (w, _):
                deadline = asyncio.get_running_loop().time() + RESULT_TIMEOUT
                while not w.started:  # it declares the schedules first
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.01)
                triggered = await app.trigger_schedule("on-demand", queue="emails")
                assert triggered.queue == "emails"  # the home shard
                for j in [*jobs, triggered]:
                    await j.result(timeout=RESULT_TIMEOUT)
            assert ticks == ["manual"]
            await assert_enqueued_async(app, send, count=40, status="succeeded")
        finally:
            await close(app)

    run(body)


def test_a_delayed_capped_job_of_a_sharded_queue_runs_when_due(
    backend_url: str, prefix: str
) -> None:
    """The worker waits for the due time of a capped task's scheduled job
    (claimed under permits), not for the idle poll (here 60 s)."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, shards={"emails": SHARDS})

        @app.task(queue="emails", concurrency=1)
        async def capped(n: int) -> int:
            return n

        try:
            async with background(app, concurrency=4, idle_poll_s=60.0) as _:
                first = await capped.enqueue(1)
                assert await first.result(timeout=RESULT_TIMEOUT) == 1
                later = await capped.options(delay=0.5).enqueue(2)
                assert await later.result(timeout=RESULT_TIMEOUT) == 2
        finally:
            await close(app)

    run(body)


def test_a_job_whose_permit_expired_is_handed_back(backend_url: str, prefix: str) -> None:
    """A worker that finds its token gone at a heartbeat (it expired: another
    worker may hold the permit now) stops the job and hands it back."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, shards={"emails": SHARDS})
        started = asyncio.Event()
        runs: list[int] = []

        @app.task(queue="emails", concurrency=1)
        async def capped(n: int) -> int:
            runs.append(n)
            if len(runs) == 1:
                started.set()
                await asyncio.sleep(60)  # stopped by the worker
            return n

        try:
            job = await capped.enqueue(5)
            async with background(app, concurrency=2) as (w, _):
                await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
                permits = app.keys("emails").permits(capped.name)
                assert await app.async_client().redis.delete(permits) == 1  # "expired"
                assert await job.result(timeout=RESULT_TIMEOUT) == 5
                assert w.stats["permits_lost"] == 1
            assert runs == [5, 5]
            info = await job.info()
            assert info.attempt == 1  # handed back: the attempt was given back
        finally:
            await close(app)

    run(body)


def test_managing_jobs_sees_every_shard(backend_url: str, prefix: str) -> None:
    """Listing, counting, cancelling, retrying, rerunning and pruning a
    sharded queue act on all of its shards."""
    app = rtask.App(backend_url, prefix=prefix, shards={"emails": 3})

    @app.task(queue="emails", max_attempts=1)
    def send(n: int) -> int:
        if n % 2:
            raise ValueError("odd")
        return n

    try:
        jobs = send.enqueue_many_sync([(n,) for n in range(30)])
        assert len({j.queue for j in jobs}) == 3
        seen, token = [], None
        while True:
            page = app.jobs_sync("emails", status="queued", limit=7, page_token=token)
            seen += [info.id for info in page.jobs]
            token = page.next_page_token
            if token is None:
                break
        assert sorted(seen) == sorted(j.id for j in jobs)
        assert app.count_sync("emails", status="queued") == 30

        stopped = app.cancel_jobs_sync("emails", reason="pause")
        assert sorted(c.id for c in stopped) == sorted(j.id for j in jobs)
        assert app.count_sync("emails", status="cancelled") == 30
        assert app.prune_sync([rtask.Prune("cancelled", max_count=0)], "emails") == 30

        again = send.enqueue_many_sync([(n,) for n in range(10)])
        drain = worker(app, concurrency=8)
        asyncio.run(drain.run(burst=True))
        assert app.count_sync("emails", status="failed") == 5
        assert app.retry_failed_sync("emails") == 5
        even = next(j for j in again if j.info().status is JobStatus.SUCCEEDED)
        app.rerun_sync(even.id, "emails")  # found in its own shard
        assert app.job_sync(even.id, "emails").info().status is not JobStatus.SUCCEEDED
    finally:
        app.close()
