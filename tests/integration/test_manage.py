"""Changing jobs through the public API (async and sync, both backends): rerun,
update, retry the dead letter, cancel by filter, prune, delete history, and
waiting for many jobs at once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

import rtask
from rtask import ExecutionOutcome, InvalidInput, JobStateError, JobStatus, Prune, ResultTimeout

from ._helpers import RESULT_TIMEOUT, background, close, run

pytestmark = pytest.mark.timeout(60)


def make_app(url: str, prefix: str) -> tuple[rtask.App, rtask.Task, rtask.Task]:  # type: ignore[type-arg]
    app = rtask.App(url, prefix=prefix)
    calls: list[int] = []

    @app.task(name="ok")
    async def ok(n: int) -> int:
        calls.append(n)
        return n * 2

    @app.task(name="flaky", max_attempts=1)
    async def flaky(n: int) -> int:
        if n >= 0:
            raise ValueError(f"bad {n}")
        return n

    return app, ok, flaky


async def drain(app: rtask.App) -> None:
    await app.worker(handle_signals=False).run(burst=True)


def test_rerun_a_failed_job_then_refuse_an_unfinished_one(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app, ok, flaky = make_app(backend_url, prefix)
        try:
            job = await flaky.enqueue(1)
            await drain(app)
            with pytest.raises(rtask.JobFailed):
                await job.result(timeout=RESULT_TIMEOUT)
            await job.rerun()
            info = await job.info()
            assert (info.status, info.attempt, info.max_attempts) == (JobStatus.RETRYING, 1, 2)
            await drain(app)
            info = await job.info()
            assert (info.status, info.attempt, len(info.errors)) == (JobStatus.FAILED, 2, 2)

            waiting = await ok.options(delay=60).enqueue(1)
            with pytest.raises(JobStateError, match="only finished jobs") as caught:
                await waiting.rerun()
            assert caught.value.status == "scheduled"
            with pytest.raises(rtask.JobNotFound):
                await app.rerun("no-such-job")
        finally:
            await close(app)

    run(body)


def test_update_a_waiting_job_and_refuse_a_finished_one(backend_url: str, prefix: str) -> None:
    app, ok, _ = make_app(backend_url, prefix)
    try:
        job = ok.options(delay=60, tags=["a"]).enqueue_sync(1)
        job.update(args=[21], priority=-3, tags=["b"], max_attempts=7, delay=0)
        info = job.info()
        assert (info.status, info.priority, info.tags, info.max_attempts) == (
            JobStatus.QUEUED,
            -3,
            ["b"],
            7,
        )
        run(lambda: drain(app))
        assert job.result(timeout=RESULT_TIMEOUT) == 42
        with pytest.raises(JobStateError, match="only waiting jobs") as caught:
            job.update(priority=1)
        assert caught.value.status == "succeeded"
        with pytest.raises(InvalidInput):
            app.update_sync(job.id, colour="red")
        other = ok.options(delay=60).enqueue_sync(1)
        with pytest.raises(InvalidInput):
            other.update(priority=10_000)
        at = datetime.now(UTC) + timedelta(hours=1)
        other.update(at=at)
        scheduled = other.info().scheduled_at
        assert scheduled is not None and abs((scheduled - at).total_seconds()) < 1
    finally:
        app.close()


def test_retry_failed_by_task_and_age(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app, _, flaky = make_app(backend_url, prefix)

        @app.task(name="flaky2", max_attempts=1)
        async def flaky2() -> None:
            raise ValueError("no")

        try:
            a = await flaky.enqueue_many([(k,) for k in range(3)])
            b = await flaky2.enqueue()
            await drain(app)
            assert {(await j.info()).status for j in [*a, b]} == {JobStatus.FAILED}
            # nothing failed before an hour ago
            old = datetime.now(UTC) - timedelta(hours=1)
            assert await app.retry_failed(finished_before=old) == 0
            assert await app.retry_failed(tasks=["flaky"]) == 3
            assert [(await j.info()).status for j in a] == [JobStatus.RETRYING] * 3
            assert (await b.info()).status is JobStatus.FAILED
            assert app.retry_failed_sync() == 1
            assert (await b.info()).status is JobStatus.RETRYING
        finally:
            await close(app)

    run(body)


def test_cancel_jobs_by_filter(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app, ok, _ = make_app(backend_url, prefix)
        started = asyncio.Event()

        @app.task(name="slow")
        async def slow() -> None:
            started.set()
            await asyncio.sleep(60)

        try:
            later = await ok.options(delay=60, tags=["x"]).enqueue(1)
            now = await ok.options(tags=["x", "y"]).enqueue(2)
            untagged = await ok.enqueue(3)
            cancelled = await app.cancel_jobs(tags=["x"], reason="cleanup")
            assert sorted(c.id for c in cancelled) == sorted([later.id, now.id])
            for c in cancelled:  # waiting jobs: a cancel that never started
                last = c.last_execution
                assert last is not None and last.outcome is ExecutionOutcome.CANCELLED
                assert (last.started_at, last.message, last.attempt) == (None, "cleanup", 0)
            assert (await untagged.info()).status is JobStatus.QUEUED
            info = await now.info()
            assert info.status is JobStatus.CANCELLED and info.errors[-1]["message"] == "cleanup"

            running = await slow.enqueue()
            async with background(app):
                await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
                got = await app.cancel_jobs(tasks=["slow"], statuses=[JobStatus.RUNNING])
                assert [c.id for c in got] == [running.id]
                ran = got[0].last_execution  # the run it stops: its worker and start
                assert ran is not None and ran.outcome is ExecutionOutcome.CANCELLED
                assert ran.worker and ran.started_at and ran.attempt == 1
                with pytest.raises(rtask.JobFailed):
                    await running.result(timeout=RESULT_TIMEOUT)
            assert app.cancel_jobs_sync(statuses=["succeeded"]) == []  # only active jobs
        finally:
            await close(app)

    run(body)


def test_prune_and_delete_history(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app, ok, flaky = make_app(backend_url, prefix)
        try:
            await ok.enqueue_many([(k,) for k in range(10)])
            failed = await flaky.enqueue_many([(k,) for k in range(4)])
            await drain(app)
            rules = [Prune(JobStatus.SUCCEEDED, max_count=3)]
            assert await app.prune(rules) == 7
            stats = (await app.stats(["default"]))[0]
            assert (stats.succeeded, stats.failed) == (3, 4)
            assert app.prune_sync([Prune("failed", max_age=0, but=["flaky"])]) == 0
            assert app.prune_sync([Prune("failed", max_age=0, only=["flaky"])]) == 4
            with pytest.raises(rtask.JobNotFound):
                await failed[0].info()
            future = datetime.now(UTC) + timedelta(seconds=5)
            assert await app.delete_history(future) == 3
            stats = (await app.stats(["default"]))[0]
            assert (stats.succeeded, stats.failed) == (0, 0)
            with pytest.raises(InvalidInput):
                Prune("running", max_age=1)
            with pytest.raises(InvalidInput):
                Prune("failed")
        finally:
            await close(app)

    run(body)


def test_wait_for_many_jobs(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app, ok, flaky = make_app(backend_url, prefix)
        try:
            jobs = await ok.enqueue_many([(k,) for k in range(20)])
            bad = await flaky.enqueue(5)
            with pytest.raises(ResultTimeout):
                await app.wait(jobs, timeout=0.05)
            async with background(app):
                infos = await app.wait([*jobs, bad], timeout=RESULT_TIMEOUT)
            assert [i.result for i in infos[:-1]] == [2 * k for k in range(20)]
            assert infos[-1].status is JobStatus.FAILED
            sync_infos = app.wait_sync(jobs[:2], timeout=RESULT_TIMEOUT)
            assert [i.status for i in sync_infos] == [JobStatus.SUCCEEDED] * 2
        finally:
            await close(app)

    run(body)


def test_sync_result_is_woken_by_a_worker(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app, ok, _ = make_app(backend_url, prefix)
        try:
            job = ok.options(delay=0.2).enqueue_sync(4)
            async with background(app):
                # the sync wait runs in a thread while the worker runs here
                got = await asyncio.to_thread(job.result, RESULT_TIMEOUT)
            assert got == 8
        finally:
            await close(app)

    run(body)


def test_result_is_woken_by_the_notification(
    backend_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the safety-net re-read pushed out to an hour and no timeout, a
    waiter only returns if the finish notification reaches it (else the test's
    timeout fails it)."""
    import rtask._wait

    monkeypatch.setattr(rtask._wait, "RECHECK_S", 3600.0)

    async def body() -> None:
        app, ok, _ = make_app(backend_url, prefix)
        try:
            first = await ok.enqueue(1)
            second = await ok.enqueue(2)
            waiting_async = asyncio.create_task(first.result())
            sync_job = app.job_sync(second.id)
            waiting_sync = asyncio.create_task(asyncio.to_thread(sync_job.result))
            # both waiters registered before any worker runs
            done_key = app.keys("default").done
            deadline = time.monotonic() + RESULT_TIMEOUT
            while len(app.sync_client().redis.zrange(done_key, 0, -1)) < 2:
                assert time.monotonic() < deadline, "waiters did not register"
                await asyncio.sleep(0.005)
            async with background(app):
                assert await waiting_async == 2
                assert await waiting_sync == 4
        finally:
            await close(app)
            app.close()

    run(body)


def test_changes_to_a_missing_job_raise_job_not_found(backend_url: str, prefix: str) -> None:
    app, _, _ = make_app(backend_url, prefix)
    try:
        with pytest.raises(rtask.JobNotFound):
            app.update_sync("nope", priority=1)
        with pytest.raises(rtask.JobNotFound):
            app.rerun_sync("nope")
        with pytest.raises(InvalidInput):
            app.rerun_sync("bad id!")
    finally:
        app.close()
