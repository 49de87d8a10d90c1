"""app.jobs (pages with opaque tokens) and app.count through the public API."""

from __future__ import annotations

import pytest

import rtask
from rtask import InvalidInput, JobStatus

from ._helpers import close, run

pytestmark = pytest.mark.timeout(30)


def test_pages_of_queued_and_finished_jobs(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(name="a")
        async def a(n: int) -> int:
            return n

        @app.task(name="b")
        async def b(n: int) -> int:
            return n

        try:
            ja = await a.enqueue_many([(k,) for k in range(7)])
            jb = await b.options(tags=["x"]).enqueue_many([(k,) for k in range(3)])
            seen: list[str] = []
            token = None
            while True:
                page = await app.jobs(status="queued", limit=3, page_token=token)
                assert len(page.jobs) <= 3
                seen += [j.id for j in page.jobs]
                token = page.next_page_token
                if token is None:
                    break
            assert seen == [j.id for j in ja] + [j.id for j in jb]
            tagged = await app.jobs(status=JobStatus.QUEUED, tags=["x"], limit=10)
            assert [j.id for j in tagged.jobs] == [j.id for j in jb]
            assert all(j.task == "b" and j.status is JobStatus.QUEUED for j in tagged.jobs)
            only_a = app.jobs_sync(status="queued", tasks=["a"], descending=True, limit=100)
            assert [j.id for j in only_a.jobs] == [j.id for j in reversed(ja)]

            assert await app.count(status="queued") == 10
            assert app.count_sync(status="queued", task="b") == 3
            await app.worker(handle_signals=False).run(burst=True)
            assert await app.count(status="succeeded") == 10
            done = await app.jobs(status="succeeded", limit=1000)
            assert sorted(j.result for j in done.jobs) == sorted([*range(7), *range(3)])
            assert done.next_page_token is None

            with pytest.raises(InvalidInput):
                await app.jobs(page_token="not a token")
            with pytest.raises(InvalidInput):
                await app.jobs(limit=0)
            assert await app.count(status="retrying") == 0
            assert await app.count(status="succeeded", task="a") == 7
            with pytest.raises(InvalidInput):
                await app.count(status="queued", task="a", where=rtask.JobFilter(tasks=["b"]))
        finally:
            await close(app)

    run(body)


def test_time_range_filters(backend_url: str, prefix: str) -> None:
    from datetime import UTC, datetime, timedelta

    app = rtask.App(backend_url, prefix=prefix)

    @app.task(name="a")
    def a() -> None: ...

    try:
        soon = a.options(delay=60).enqueue_sync()
        later = a.options(delay=3600).enqueue_sync()
        now = datetime.now(UTC)
        page = app.jobs_sync(status="scheduled", scheduled=(None, now + timedelta(minutes=5)))
        assert [j.id for j in page.jobs] == [soon.id]
        page = app.jobs_sync(status="scheduled", scheduled=(now + timedelta(minutes=5), None))
        assert [j.id for j in page.jobs] == [later.id]
        created = app.jobs_sync(status="scheduled", created=(now - timedelta(hours=1), None))
        assert len(created.jobs) == 2
        with pytest.raises(InvalidInput):
            app.jobs_sync(status="scheduled", created=(datetime.now(), None))
    finally:
        app.close()


def test_retrying_count_is_kept_by_the_scripts(backend_url: str, prefix: str) -> None:
    """count(status="retrying") and stats read the counts the scripts keep:
    jobs that failed an attempt and wait an hour for the next one."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, shards={"sharded": 2})

        @app.task(name="flaky", max_attempts=3, backoff=3600)
        async def flaky(n: int) -> None:
            if n % 2:
                raise ValueError("try later")

        @app.task(name="far", queue="sharded", max_attempts=2, backoff=3600)
        async def far(n: int) -> None:
            raise ValueError("try later")

        try:
            await flaky.enqueue_many([(k,) for k in range(5)])
            await far.enqueue_many([(k,) for k in range(6)])
            await app.worker(handle_signals=False).run(burst=True)
            assert await app.count(status="retrying") == 2
            assert app.count_sync(status="retrying", task="flaky") == 2
            assert await app.count(status="retrying", queue="sharded") == 6
            # the counts agree with a listing of the jobs
            listed = await app.jobs(status="retrying", limit=100)
            assert len(listed.jobs) == 2
            (stats,) = await app.stats(["sharded"])
            assert stats.retrying == 6 and sum(s.retrying for s in stats.shards) == 6
            await app.cancel_jobs("sharded", statuses=["retrying"])
            assert await app.count(status="retrying", queue="sharded") == 0
        finally:
            await close(app)

    run(body)
