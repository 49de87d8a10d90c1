"""Sync tasks in threads, enqueue_many, and the sync producer API."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import rtask
from rtask import JobStatus

from ._helpers import RESULT_TIMEOUT, background, close, run, worker

pytestmark = pytest.mark.timeout(20)


def test_sync_task_runs_in_a_thread_and_does_not_block_async(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        stamps: dict[str, float] = {}
        threads: dict[str, int] = {}
        sync_started = threading.Event()

        @app.task
        def sync_sleep() -> str:
            threads["sync"] = threading.get_ident()
            stamps["sync_start"] = time.monotonic()
            sync_started.set()
            time.sleep(0.5)
            stamps["sync_end"] = time.monotonic()
            return "sync"

        @app.task
        async def quick() -> str:
            threads["async"] = threading.get_ident()
            stamps["async_end"] = time.monotonic()
            return "async"

        try:
            async with background(app, concurrency=2):
                slow = await sync_sleep.enqueue()
                assert await asyncio.to_thread(sync_started.wait, RESULT_TIMEOUT)
                fast = await quick.enqueue()
                assert await fast.result(timeout=RESULT_TIMEOUT) == "async"
                assert await slow.result(timeout=RESULT_TIMEOUT) == "sync"
            assert stamps["sync_start"] < stamps["async_end"] < stamps["sync_end"]
            assert threads["async"] == threading.get_ident()  # the event loop's thread
            assert threads["sync"] != threading.get_ident()
        finally:
            await close(app)

    run(body)


def test_current_job_in_sync_task(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(max_attempts=3)
        def whoami() -> dict[str, object]:
            ctx = rtask.current_job()
            return {
                "id": ctx.id,
                "queue": ctx.queue,
                "attempt": ctx.attempt,
                "max": ctx.max_attempts,
                "tags": list(ctx.tags),
            }

        try:
            job = await whoami.options(tags=["a", "b"]).enqueue()
            await worker(app).run(burst=True)
            got = await job.result(timeout=RESULT_TIMEOUT)
            assert got == {
                "id": job.id,
                "queue": "default",
                "attempt": 1,
                "max": 3,
                "tags": ["a", "b"],
            }
            assert (await job.info()).tags == ["a", "b"]
            with pytest.raises(rtask.RtaskError):
                rtask.current_job()  # outside a task
        finally:
            await close(app)

    run(body)


def test_enqueue_many_returns_handles_in_order(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def mul(x: int, y: int = 1) -> int:
            return x * y

        try:
            items: list[tuple[int, ...] | dict[str, int]] = [(n, 3) for n in range(50)]
            items += [{"x": 7, "y": 2}, (11,)]
            jobs = await mul.enqueue_many(items)
            assert len(jobs) == 52
            assert len({j.id for j in jobs}) == 52
            assert all(j.created for j in jobs)
            assert await mul.enqueue_many([]) == []
            await worker(app, concurrency=10).run(burst=True)
            results = [await j.result(timeout=RESULT_TIMEOUT) for j in jobs]
            assert results == [n * 3 for n in range(50)] + [14, 11]
        finally:
            await close(app)

    run(body)


def test_enqueue_many_with_options(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def echo(n: int) -> int:
            return n

        try:
            jobs = await echo.options(priority=3, tags=["batch"]).enqueue_many([(1,), (2,)])
            for j in jobs:
                info = await j.info()
                assert info.priority == 3
                assert info.tags == ["batch"]
            with pytest.raises(rtask.InvalidInput):
                await echo.options(id="fixed").enqueue_many([(1,)])
            with pytest.raises(rtask.InvalidInput):
                await echo.enqueue_many([5])  # type: ignore[list-item]
        finally:
            await close(app)

    run(body)


def test_enqueue_sync_and_sync_job_result_with_worker_in_a_thread(
    backend_url: str, prefix: str
) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def fail() -> None:
        raise ValueError("sync failure")

    w = worker(app)
    errors: list[BaseException] = []

    def serve() -> None:
        async def main() -> None:
            try:
                await w.run()
            finally:
                await app.aclose()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        job = add.enqueue_sync(2, 3)
        assert isinstance(job, rtask.SyncJob)
        assert job.created is True
        assert job.result(timeout=RESULT_TIMEOUT) == 5
        info = job.info()
        assert info.status is JobStatus.SUCCEEDED
        assert info.worker == w.id

        many = add.enqueue_many_sync([(1, 1), (2, 2), (3, 3)])
        assert [j.result(timeout=RESULT_TIMEOUT) for j in many] == [2, 4, 6]

        failing = fail.options(max_attempts=1).enqueue_sync()
        with pytest.raises(rtask.JobFailed) as failed:
            failing.result(timeout=RESULT_TIMEOUT)
        assert failed.value.status == "failed"
        assert "sync failure" in failed.value.errors[0]["message"]

        never = add.options(delay=60).enqueue_sync(0, 0)
        with pytest.raises(rtask.ResultTimeout):
            never.result(timeout=0.05)
        assert never.cancel() is True
        assert never.info().status is JobStatus.CANCELLED
        assert never.cancel() is False
    finally:
        w.stop()
        thread.join(timeout=10)
        app.close()
    assert not thread.is_alive(), "worker.stop() from another thread did not stop run()"
    assert errors == []
