"""Operator views through the public API: stats, workers, a job looked up by id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

import rtask
from rtask import JobStatus, QueueStats

from ._helpers import RESULT_TIMEOUT, background, close, run, worker

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")


async def eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    """The first value of `read()` that satisfies `ok`, polled for what no event
    announces (a worker's first heartbeat)."""
    deadline = time.monotonic() + RESULT_TIMEOUT
    while True:
        value = await read()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r}"
        await asyncio.sleep(0.01)


def by_queue(stats: list[QueueStats]) -> dict[str, QueueStats]:
    return {s.queue: s for s in stats}


def counts(s: QueueStats) -> dict[str, tuple[int, int, int]]:
    return {t.task: (t.scheduled, t.queued, t.running) for t in s.tasks}


def test_counts_of_scheduled_and_queued_jobs(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(name="a")
        async def a() -> None: ...

        @app.task(name="b", queue="other")
        async def b() -> None: ...

        try:
            for _ in range(3):
                await a.enqueue()
            await a.options(delay=60).enqueue()
            await a.options(delay=60, priority=-3).enqueue()
            await b.options(priority=7).enqueue()
            # a task this App does not register, found in the queue's tasks set
            await app.remote("ghost").enqueue()
            # let wall time pass so the oldest queued job has a positive age
            time.sleep(0.02)

            stats = by_queue(await app.stats())

            assert set(stats) == {"default", "other"}
            assert counts(stats["default"]) == {"a": (2, 3, 0), "ghost": (0, 1, 0)}
            assert counts(stats["other"]) == {"b": (0, 1, 0)}
            default = stats["default"]
            assert (default.scheduled, default.queued, default.running) == (2, 4, 0)
            assert (default.succeeded, default.failed, default.cancelled) == (0, 0, 0)
            assert default.workers == 0
            assert default.oldest_queued_s is not None
            assert 0.02 <= default.oldest_queued_s < RESULT_TIMEOUT
            assert stats["other"].oldest_queued_s is not None

            # the sync API sees the same; an explicit list reads only those queues
            (other,) = app.stats_sync(["other"])
            assert counts(other) == {"b": (0, 1, 0)}
            (empty,) = await app.stats(["nothing-here"])
            assert empty.tasks == []
            assert (empty.queued, empty.oldest_queued_s) == (0, None)
            with pytest.raises(rtask.InvalidInput):
                await app.stats(["bad queue"])
        finally:
            await close(app)

    run(body)


def test_finished_counts_after_a_burst(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(name="ok")
        async def ok() -> int:
            return 1

        @app.task(name="bad", max_attempts=1)
        async def bad() -> None:
            raise ValueError("boom")

        try:
            for _ in range(3):
                await ok.enqueue()
            for _ in range(2):
                await bad.enqueue()
            assert await (await ok.enqueue()).cancel() is True

            await worker(app).run(burst=True)

            for stats in (await app.stats(), app.stats_sync()):
                (default,) = stats
                assert (default.succeeded, default.failed, default.cancelled) == (3, 2, 1)
                assert counts(default) == {"bad": (0, 0, 0), "ok": (0, 0, 0)}
                assert (default.running, default.oldest_queued_s) == (0, None)
        finally:
            await close(app)

    run(body)


def test_a_running_job_in_stats_and_workers(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        started, release = asyncio.Event(), asyncio.Event()

        @app.task(name="hold")
        async def hold() -> str:
            started.set()
            await release.wait()
            return "done"

        try:
            async with background(app, concurrency=1, prefetch=0) as (w, _):
                job = await hold.enqueue()
                second = await hold.enqueue()
                await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
                assert (await job.info()).status is JobStatus.RUNNING

                (default,) = await app.stats()
                assert counts(default) == {"hold": (0, 1, 1)}
                assert default.running == 1
                # the worker registers at its first heartbeat
                (live,) = await eventually(app.workers, lambda ws: len(ws) == 1)
                assert (live.queue, live.id, live.running) == ("default", w.id, 1)
                assert 0 <= live.last_heartbeat_s < RESULT_TIMEOUT
                assert [(x.id, x.running) for x in app.workers_sync()] == [(w.id, 1)]
                assert (await app.stats())[0].workers == 1

                release.set()
                assert await job.result(timeout=RESULT_TIMEOUT) == "done"
                assert await second.result(timeout=RESULT_TIMEOUT) == "done"
            (default,) = await app.stats()
            assert (default.running, default.succeeded) == (0, 2)
            assert await app.workers() == []  # a stopped worker leaves the registry
        finally:
            await close(app)

    run(body)


def test_show_a_failed_job(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(name="flaky", queue="jobs", max_attempts=2, backoff=0)
        async def flaky(n: int) -> None:
            raise ValueError(f"boom {n}")

        try:
            enqueued = await flaky.enqueue(7)
            await worker(app).run(burst=True)

            job = await app.job(enqueued.id, queue="jobs")
            assert (job.id, job.queue, job.task, job.created) == (
                enqueued.id,
                "jobs",
                "flaky",
                False,
            )
            info = await job.info()
            assert info.status is JobStatus.FAILED
            assert (info.attempt, info.max_attempts) == (2, 2)
            assert [e["attempt"] for e in info.errors] == [1, 2]
            assert all("boom 7" in e["message"] for e in info.errors)
            assert all(e["type"] for e in info.errors)
            assert info.finished_at is not None

            sync_job = app.job_sync(enqueued.id, queue="jobs")
            assert isinstance(sync_job, rtask.SyncJob)
            assert sync_job.info() == info
            with pytest.raises(rtask.JobFailed):
                sync_job.result(timeout=RESULT_TIMEOUT)
        finally:
            await close(app)

    run(body)


def test_cancel_a_queued_job_found_by_id(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        # the producer that enqueued it is elsewhere: the task is read from the job
        remote = app.remote("elsewhere.task")

        try:
            enqueued = await remote.enqueue(1)
            job = app.job_sync(enqueued.id)
            assert job.task == "elsewhere.task"
            assert job.cancel("not needed") is True
            info = job.info()
            assert info.status is JobStatus.CANCELLED
            assert info.errors[-1]["message"] == "not needed"
            again = await app.job(enqueued.id)
            assert await again.cancel() is False  # already finished
            (default,) = await app.stats()
            assert (default.cancelled, default.queued) == (1, 0)
        finally:
            await close(app)

    run(body)


def test_unknown_job_and_bad_input(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        try:
            with pytest.raises(rtask.JobNotFound, match="no job 'missing' in queue 'default'"):
                await app.job("missing")
            with pytest.raises(rtask.JobNotFound):
                app.job_sync("missing", queue="other")
            with pytest.raises(rtask.InvalidInput):
                await app.job("x:p")  # a record field, not a job id
            with pytest.raises(rtask.InvalidInput):
                app.job_sync("missing", queue="bad queue")
            with pytest.raises(rtask.InvalidInput):
                app.workers_sync(["bad queue"])
        finally:
            await close(app)

    run(body)
