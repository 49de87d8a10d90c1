"""Every outcome a task can produce, seen through the public API."""

from __future__ import annotations

import time

import pytest

import rtask
from rtask import JobStatus

from ._helpers import RESULT_TIMEOUT, at, background, close, run, worker

pytestmark = pytest.mark.timeout(20)


def test_return_value_succeeds(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def add(x: int, y: int) -> int:
            ctx = rtask.current_job()
            assert ctx.attempt == 1
            assert ctx.task == add.name
            return x + y

        try:
            job = await add.enqueue(2, y=3)
            assert job.created is True
            before = await job.info()
            assert before.status is JobStatus.QUEUED
            assert before.attempt == 0
            assert before.started_at is None
            assert before.finished_at is None
            assert before.worker is None

            w = worker(app, concurrency=4)
            await w.run(burst=True)

            assert await job.result(timeout=RESULT_TIMEOUT) == 5
            info = await job.info()
            assert info.status is JobStatus.SUCCEEDED
            assert info.result == 5
            assert info.attempt == 1
            assert info.max_attempts == 5
            assert info.errors == []
            assert info.worker == w.id
            assert info.task == add.name
            assert info.queue == "default"
            assert info.created_at is not None
            assert info.started_at is not None
            assert info.finished_at is not None
            assert info.created_at <= info.started_at <= info.finished_at
        finally:
            await close(app)

    run(body)


def test_none_result_and_calling_a_task_directly(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def nothing() -> None:
            return None

        try:
            assert await nothing() is None  # a task is still a plain function
            job = await nothing.enqueue()
            await worker(app).run(burst=True)
            assert await job.result(timeout=RESULT_TIMEOUT) is None
            assert (await job.info()).status is JobStatus.SUCCEEDED
        finally:
            await close(app)

    run(body)


def test_retry_counts_an_attempt(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        seen: list[int] = []

        @app.task(max_attempts=3)
        async def flaky() -> str:
            seen.append(rtask.current_job().attempt)
            if len(seen) == 1:
                raise rtask.Retry(delay=0.01, reason="not yet")
            return "done"

        try:
            async with background(app):
                job = await flaky.enqueue()
                assert await job.result(timeout=RESULT_TIMEOUT) == "done"
            info = await job.info()
            assert seen == [1, 2]
            assert info.status is JobStatus.SUCCEEDED
            assert info.attempt == 2
            assert len(info.errors) == 1
            assert info.errors[0]["attempt"] == 1
            assert info.errors[0]["type"] == "retry"
            assert info.errors[0]["message"] == "not yet"
        finally:
            await close(app)

    run(body)


def test_retry_with_delay_leaves_job_retrying_until_due(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def later() -> None:
            raise rtask.Retry(delay=30)

        try:
            job = await later.enqueue()
            await worker(app).run(burst=True)  # returns: the retry is not due
            info = await job.info()
            assert info.status is JobStatus.RETRYING
            assert info.attempt == 1
            assert len(info.errors) == 1
            assert info.errors[0]["type"] == "retry"
            assert info.scheduled_at is not None
            delay = info.scheduled_at.timestamp() - at(info.errors[0])
            assert delay == pytest.approx(30, abs=0.002)
            with pytest.raises(rtask.ResultTimeout):
                await job.result(timeout=0.05)
        finally:
            await close(app)

    run(body)


def test_retry_on_last_attempt_fails(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(max_attempts=2)
        async def always_retry() -> None:
            raise rtask.Retry(delay=0)

        try:
            async with background(app):
                job = await always_retry.enqueue()
                with pytest.raises(rtask.JobFailed) as failed:
                    await job.result(timeout=RESULT_TIMEOUT)
            assert failed.value.status == "failed"
            info = await job.info()
            assert info.status is JobStatus.FAILED
            assert info.attempt == 2
            assert [e["attempt"] for e in info.errors] == [1, 2]
            assert {e["type"] for e in info.errors} == {"retry"}
        finally:
            await close(app)

    run(body)


def test_exception_retries_then_fails_with_one_error_per_attempt(
    backend_url: str, prefix: str
) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        attempts: list[int] = []

        class BoomError(Exception):
            pass

        @app.task(max_attempts=3, backoff=rtask.backoff.constant(0.01))
        async def boom(n: int) -> None:
            attempts.append(rtask.current_job().attempt)
            raise BoomError(f"boom {n}")

        try:
            async with background(app) as (w, _):
                job = await boom.enqueue(7)
                with pytest.raises(rtask.JobFailed) as failed:
                    await job.result(timeout=RESULT_TIMEOUT)
            assert isinstance(failed.value, rtask.RtaskError)
            assert failed.value.status == "failed"
            assert "BoomError" in str(failed.value)
            assert attempts == [1, 2, 3]
            info = await job.info()
            assert info.status is JobStatus.FAILED
            assert info.attempt == 3
            assert info.finished_at is not None
            assert len(info.errors) == 3
            assert failed.value.errors == info.errors
            for n, entry in enumerate(info.errors, start=1):
                assert entry["attempt"] == n
                assert entry["type"] == "error"
                assert "BoomError" in entry["message"]
                assert "boom 7" in entry["message"]
                assert "Traceback" in entry["traceback"]
                assert "BoomError: boom 7" in entry["traceback"]
                assert entry["worker"] == w.id
                assert isinstance(entry["at"], int)
            ats = [at(e) for e in info.errors]
            assert ats == sorted(ats)
        finally:
            await close(app)

    run(body)


def test_snooze_does_not_use_an_attempt(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        attempts: list[int] = []

        @app.task(max_attempts=1)
        async def sleepy() -> str:
            attempts.append(rtask.current_job().attempt)
            if len(attempts) < 3:
                raise rtask.Snooze(0.05)
            return "awake"

        try:
            async with background(app):
                job = await sleepy.enqueue()
                # max_attempts=1: only works if snoozes give their attempt back
                assert await job.result(timeout=RESULT_TIMEOUT) == "awake"
            assert attempts == [1, 1, 1]
            info = await job.info()
            assert info.status is JobStatus.SUCCEEDED
            assert info.attempt == 1
            assert info.errors == []
        finally:
            await close(app)

    run(body)


def test_snoozed_job_waits_with_its_attempt_given_back(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def sleepy() -> None:
            raise rtask.Snooze(30)

        try:
            job = await sleepy.enqueue()
            t0 = time.time()
            await worker(app).run(burst=True)
            t1 = time.time()
            info = await job.info()
            assert info.status is JobStatus.SCHEDULED
            assert info.attempt == 0
            assert info.errors == []
            assert info.scheduled_at is not None
            assert t0 + 30 - 0.5 <= info.scheduled_at.timestamp() <= t1 + 30 + 0.5
        finally:
            await close(app)

    run(body)


def test_cancel_outcome(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def give_up() -> None:
            raise rtask.Cancel("not needed any more")

        try:
            job = await give_up.enqueue()
            await worker(app).run(burst=True)
            with pytest.raises(rtask.JobFailed) as failed:
                await job.result(timeout=RESULT_TIMEOUT)
            assert failed.value.status == "cancelled"
            info = await job.info()
            assert info.status is JobStatus.CANCELLED
            assert info.attempt == 1
            assert info.finished_at is not None
            assert len(info.errors) == 1
            assert info.errors[0]["type"] == "cancelled"
            assert info.errors[0]["message"] == "not needed any more"
            assert info.errors[0]["attempt"] == 1
        finally:
            await close(app)

    run(body)


def test_abort_fails_at_once_with_attempts_left(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        runs: list[int] = []

        @app.task(max_attempts=5, backoff=0)
        async def hopeless() -> None:
            runs.append(1)
            raise rtask.Abort("bad data")

        try:
            async with background(app):
                job = await hopeless.enqueue()
                with pytest.raises(rtask.JobFailed) as failed:
                    await job.result(timeout=RESULT_TIMEOUT)
            assert failed.value.status == "failed"
            assert "bad data" in str(failed.value)
            assert runs == [1]
            info = await job.info()
            assert info.status is JobStatus.FAILED
            assert info.attempt == 1
            assert info.max_attempts == 5
            assert len(info.errors) == 1
            assert info.errors[0]["type"] == "aborted"
            assert info.errors[0]["message"] == "bad data"
        finally:
            await close(app)

    run(body)


def test_result_timeout_on_a_job_that_never_runs(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def never() -> None:
            return None

        try:
            job = await never.enqueue()
            t0 = time.monotonic()
            with pytest.raises(rtask.ResultTimeout) as exc:
                await job.result(timeout=0.1)
            assert time.monotonic() - t0 >= 0.1
            assert isinstance(exc.value, rtask.RtaskError)
            assert isinstance(exc.value, TimeoutError)
            assert (await job.info()).status is JobStatus.QUEUED
        finally:
            await close(app)

    run(body)


def test_backoff_schedules_the_retry(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        started: list[float] = []

        @app.task(max_attempts=2, backoff=rtask.backoff.constant(0.2))
        async def fails() -> None:
            started.append(time.time())
            raise RuntimeError("nope")

        try:
            async with background(app):
                job = await fails.enqueue()
                with pytest.raises(rtask.JobFailed):
                    await job.result(timeout=RESULT_TIMEOUT)
            info = await job.info()
            first_failed = at(info.errors[0])
            assert info.scheduled_at is not None
            # the retry was due exactly backoff after the first attempt finished
            assert info.scheduled_at.timestamp() - first_failed == pytest.approx(0.2, abs=0.002)
            # and did not start before it
            assert info.started_at is not None
            assert info.started_at >= info.scheduled_at
            assert len(started) == 2
            assert started[1] - started[0] >= 0.2 - 0.01
        finally:
            await close(app)

    run(body)


def test_retry_runs_when_due_not_at_the_next_idle_poll(backend_url: str, prefix: str) -> None:
    """The claim sent with a finish must see the retry that finish scheduled.

    concurrency=1: the first claim gets exactly what it asked for, so the finish
    of the failed attempt goes out in one round trip with the next claim. The
    worker must learn the retry's due time from that round trip instead of
    idling for idle_poll_s (3 s here).
    """

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        started: list[float] = []

        @app.task(max_attempts=2, backoff=rtask.backoff.constant(0.1))
        async def fails_once() -> str:
            started.append(time.monotonic())
            if len(started) == 1:
                raise RuntimeError("first attempt fails")
            return "ok"

        try:
            job = await fails_once.enqueue()
            async with background(app, concurrency=1, idle_poll_s=3.0):
                assert await job.result(timeout=RESULT_TIMEOUT) == "ok"
            assert started[1] - started[0] >= 0.1 - 0.01
            assert started[1] - started[0] < 1.0, "the retry waited for the idle poll"
        finally:
            await close(app)

    run(body)


def test_callable_backoff_gets_the_attempt(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        asked: list[int] = []

        def backoff(attempt: int) -> float:
            asked.append(attempt)
            return 0.01

        @app.task(max_attempts=3, backoff=backoff)
        async def fails() -> None:
            raise RuntimeError("nope")

        try:
            async with background(app):
                job = await fails.enqueue()
                with pytest.raises(rtask.JobFailed):
                    await job.result(timeout=RESULT_TIMEOUT)
            assert asked[:2] == [1, 2]
        finally:
            await close(app)

    run(body)
