"""Task timeouts: per task and per job."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import rtask
from rtask import JobStatus

from ._helpers import RESULT_TIMEOUT, background, close, run

pytestmark = pytest.mark.timeout(20)


def test_timeout_is_an_error_retried_then_failed(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        attempts: list[int] = []
        interrupted: list[int] = []

        @app.task(timeout=0.1, max_attempts=2, backoff=0)
        async def slow() -> None:
            attempt = rtask.current_job().attempt
            attempts.append(attempt)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                interrupted.append(attempt)
                raise

        try:
            async with background(app):
                t0 = time.monotonic()
                job = await slow.enqueue()
                with pytest.raises(rtask.JobFailed) as failed:
                    await job.result(timeout=RESULT_TIMEOUT)
                assert time.monotonic() - t0 < 5
            assert failed.value.status == "failed"
            assert attempts == [1, 2]
            assert interrupted == [1, 2]
            info = await job.info()
            assert info.status is JobStatus.FAILED
            assert info.attempt == 2
            assert [e["attempt"] for e in info.errors] == [1, 2]
            assert [e["type"] for e in info.errors] == ["timeout", "timeout"]
            assert "0.1" in info.errors[0]["message"]
        finally:
            await close(app)

    run(body)


def test_per_job_timeout_overrides_the_task_default(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(max_attempts=1)
        async def no_default(seconds: float) -> str:
            await asyncio.sleep(seconds)
            return "done"

        @app.task(timeout=0.05, max_attempts=1)
        async def tight_default(seconds: float) -> str:
            await asyncio.sleep(seconds)
            return "done"

        try:
            async with background(app):
                shortened = await no_default.options(timeout=0.1).enqueue(10)
                untouched = await no_default.enqueue(0.3)
                lengthened = await tight_default.options(timeout=5).enqueue(0.3)
                default = await tight_default.enqueue(10)

                with pytest.raises(rtask.JobFailed):
                    await shortened.result(timeout=RESULT_TIMEOUT)
                assert await untouched.result(timeout=RESULT_TIMEOUT) == "done"
                assert await lengthened.result(timeout=RESULT_TIMEOUT) == "done"
                with pytest.raises(rtask.JobFailed):
                    await default.result(timeout=RESULT_TIMEOUT)
            for job in (shortened, default):
                info = await job.info()
                assert info.status is JobStatus.FAILED
                assert [e["type"] for e in info.errors] == ["timeout"]
        finally:
            await close(app)

    run(body)


def test_timeout_error_raised_by_task_code_is_an_ordinary_error(
    backend_url: str, prefix: str
) -> None:
    """A TimeoutError from inside the task (not the deadline) is type "error"."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(timeout=5, max_attempts=1)
        async def raises_timeout() -> None:
            raise TimeoutError("upstream timed out")

        try:
            async with background(app):
                job = await raises_timeout.enqueue()
                with pytest.raises(rtask.JobFailed):
                    await job.result(timeout=RESULT_TIMEOUT)
            info = await job.info()
            assert len(info.errors) == 1
            assert info.errors[0]["type"] == "error"
            assert "upstream timed out" in info.errors[0]["message"]
        finally:
            await close(app)

    run(body)


def test_sync_task_timeout_sets_the_cancelled_flag(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        saw_flag = threading.Event()

        @app.task(timeout=0.1, max_attempts=1)
        def blocking() -> None:
            ctx = rtask.current_job()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if ctx.cancelled:
                    saw_flag.set()
                    return
                time.sleep(0.01)

        try:
            async with background(app):
                job = await blocking.enqueue()
                with pytest.raises(rtask.JobFailed):
                    await job.result(timeout=RESULT_TIMEOUT)
                assert await asyncio.to_thread(saw_flag.wait, RESULT_TIMEOUT)
            info = await job.info()
            assert [e["type"] for e in info.errors] == ["timeout"]
        finally:
            await close(app)

    run(body)
