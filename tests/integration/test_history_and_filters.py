"""Execution history (`JobInfo.executions`) and the label / schedule / one-of
tag filters of `app.jobs` and `app.count`, through the public API."""

from __future__ import annotations

import pytest

import rtask
from rtask import ExecutionOutcome, InvalidInput, JobFilter, JobStatus

from ._helpers import close, run, worker

pytestmark = pytest.mark.timeout(30)


def test_executions_of_a_retried_and_rerun_job(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        calls: list[int] = []

        @app.task(max_attempts=3, backoff=0)
        async def flaky() -> int:
            calls.append(1)
            if len(calls) == 1:
                raise ValueError("first time fails")
            return len(calls)

        try:
            job = await flaky.enqueue()
            await worker(app).run(burst=True)
            info = await job.info()
            assert info.status is JobStatus.SUCCEEDED
            first, second = info.executions
            assert (first.attempt, first.outcome) == (1, ExecutionOutcome.FAILED)
            assert first.error_type == "error"
            assert first.message is not None and "first time fails" in first.message
            assert first.traceback is not None and "ValueError" in first.traceback
            assert (second.attempt, second.outcome, second.error_type) == (
                2,
                ExecutionOutcome.SUCCEEDED,
                None,
            )
            for run_ in info.executions:
                assert run_.worker and run_.started_at and run_.finished_at
                assert run_.started_at <= run_.finished_at
            assert first.finished_at <= second.started_at  # type: ignore[operator]

            await job.rerun()
            await worker(app).run(burst=True)
            again = (await job.info()).executions
            assert [(e.attempt, e.outcome) for e in again] == [
                (1, ExecutionOutcome.FAILED),
                (2, ExecutionOutcome.SUCCEEDED),
                (3, ExecutionOutcome.SUCCEEDED),
            ]
            # listing returns the same history
            page = await app.jobs(status="succeeded")
            assert page.jobs[0].executions == again

            waiting = await flaky.options(delay=60).enqueue()
            await waiting.cancel("not needed")
            (cancelled,) = (await waiting.info()).executions
            assert cancelled.outcome is ExecutionOutcome.CANCELLED
            assert (cancelled.started_at, cancelled.message) == (None, "not needed")
        finally:
            await close(app)

    run(body)


def test_label_schedule_and_any_tag_filters(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task(name="a")
    def a() -> None: ...

    try:
        acme = a.options(labels={"tenant": "acme", "tier": "gold"}, tags=["x"]).enqueue_sync()
        globex = a.options(labels={"tenant": "globex"}, tags=["y"]).enqueue_sync()
        plain = a.options(tags=["x", "y"]).enqueue_sync()
        sched = app.schedule(a, id="nightly", every=3600, immediate=True)
        app.add_schedules_sync([sched])
        (made,) = [j for j in app.jobs_sync(status="queued").jobs if j.id.startswith("nightly:")]

        def ids(**filters: object) -> set[str]:
            page = app.jobs_sync(status="queued", limit=100, **filters)  # type: ignore[arg-type]
            return {j.id for j in page.jobs}

        assert ids(labels={"tenant": "acme"}) == {acme.id}
        assert ids(labels={"tenant": None}) == {acme.id, globex.id}
        assert ids(labels={"tenant": "acme", "tier": "silver"}) == set()
        assert ids(any_tags=["y"]) == {globex.id, plain.id}
        assert ids(any_tags=["x", "y"]) == {acme.id, globex.id, plain.id}
        assert ids(any_tags=[]) == set()
        assert ids(tags=["x"], any_tags=["y"]) == {plain.id}
        assert ids(schedules=["nightly"]) == {made.id}
        assert ids(schedules=["other"]) == set()

        assert app.count_sync(status="queued") == 4
        assert app.count_sync(status="queued", where=JobFilter(labels={"tenant": None})) == 2
        assert app.count_sync(status="queued", where=JobFilter(any_tags=["x"])) == 2
        assert app.count_sync(status="queued", where=JobFilter(schedules=["nightly"])) == 1
        assert app.count_sync(status="scheduled", where=JobFilter(any_tags=["x"])) == 0

        # the token carries the filters
        first = app.jobs_sync(status="queued", labels={"tenant": None}, limit=1)
        assert first.next_page_token is not None
        rest = app.jobs_sync(limit=10, page_token=first.next_page_token)
        assert {j.id for j in first.jobs + rest.jobs} == {acme.id, globex.id}

        with pytest.raises(InvalidInput):
            app.jobs_sync(labels={"tenant": 3})  # type: ignore[dict-item]
        with pytest.raises(InvalidInput):
            app.jobs_sync(any_tags="x")
    finally:
        app.close()


def test_count_of_retrying_jobs(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(max_attempts=2, backoff=600)
        async def fails() -> None:
            raise RuntimeError("no")

        try:
            await fails.enqueue_many([() for _ in range(3)])
            await worker(app).run(burst=True)
            assert await app.count(status="retrying") == 3
            # scheduled / queued counts are of the task's sets: retrying jobs wait there too
            assert await app.count(status="scheduled") == 3
            page = await app.jobs(status="retrying")
            assert len(page.jobs) == 3
            assert all(j.executions[0].outcome is ExecutionOutcome.FAILED for j in page.jobs)
            where = JobFilter(tasks=[fails.name])
            assert await app.count(status="retrying", where=where) == 3
        finally:
            await close(app)

    run(body)
