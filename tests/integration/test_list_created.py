"""app.jobs(order="created"): every status by created time, from the queue's
created index, paged with tokens stable under ties; on a sharded queue the
shards' pages are merged."""

from __future__ import annotations

import pytest

import rtask
from rtask import InvalidInput, JobInfo, JobStatus

from ._helpers import close, run

pytestmark = pytest.mark.timeout(60)


def _walk(app: rtask.App, limit: int, **query: object) -> list[JobInfo]:
    """Every page of app.jobs_sync(order="created", ...), concatenated."""
    out: list[JobInfo] = []
    page = app.jobs_sync(order="created", limit=limit, **query)  # type: ignore[arg-type]
    out += page.jobs
    while page.next_page_token is not None:
        page = app.jobs_sync(page_token=page.next_page_token, limit=limit)
        assert len(page.jobs) <= limit
        out += page.jobs
    return out


def _key(info: JobInfo) -> tuple[object, str]:
    return info.created_at, info.id


async def _fill(app: rtask.App, a: rtask.Task[..., object], b: rtask.Task[..., object]) -> None:
    """Jobs in every status; ties: ids of one call share a created ms."""
    await a.enqueue_many([(k,) for k in range(3)], ids=["m-1", "z-1", "c-1"])
    await app.worker(handle_signals=False).run(burst=True)  # succeeded (and failed)
    await b.options(tags=["x"]).enqueue_many([(k,) for k in range(4)], ids=["q3", "q1", "q4", "q2"])
    await b.options(delay=3600).enqueue(9)  # scheduled
    gone = await b.enqueue(10)
    await gone.cancel()


def test_created_order_across_statuses(backend_url: str, prefix: str) -> None:
    run(lambda: _across_statuses(backend_url, prefix))


async def _across_statuses(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix, index_created=True)

    @app.task(name="a", max_attempts=1)
    def a(n: int) -> int:
        if n == 2:
            raise ValueError("no")
        return n

    @app.task(name="b")
    def b(n: int) -> int:
        return n

    try:
        await _fill(app, a, b)
        everything = [j for s in JobStatus for j in _all_of(app, s)]
        expected = sorted(everything, key=_key)
        assert len(expected) == 9
        assert {j.status for j in expected} == {
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.QUEUED,
            JobStatus.SCHEDULED,
            JobStatus.CANCELLED,
        }
        for limit in (1, 2, 4, 100):
            asc = _walk(app, limit)
            assert [j.id for j in asc] == [j.id for j in expected]
            desc = _walk(app, limit, descending=True)
            assert [j.id for j in desc] == [j.id for j in reversed(expected)]
        # ties of one call come in id order
        ids = [j.id for j in _walk(app, 3, tasks=["a"])]
        assert ids == ["c-1", "m-1", "z-1"]
        # statuses and the other filters apply
        some = _walk(app, 2, status=["queued", "failed"])
        assert [j.id for j in some] == [
            j.id for j in expected if j.status in (JobStatus.QUEUED, JobStatus.FAILED)
        ]
        assert [j.id for j in some][:1] == ["c-1"]
        tagged = _walk(app, 3, status="queued", tags=["x"], descending=True)
        assert [j.id for j in tagged] == ["q4", "q3", "q2", "q1"]
        assert _walk(app, 5, tasks=["nope"]) == []
        with pytest.raises(InvalidInput):
            app.jobs_sync(order="by-magic")
        with pytest.raises(InvalidInput):
            app.jobs_sync(status=["queued", "failed"])  # several: created order only
        with pytest.raises(InvalidInput):
            app.jobs_sync(order="created", status=["nope"])
    finally:
        await close(app)


def _all_of(app: rtask.App, status: JobStatus) -> list[JobInfo]:
    page = app.jobs_sync(status=status, limit=1000)
    assert page.next_page_token is None
    return page.jobs


def test_created_order_merges_the_shards(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix, shards={"emails": 3}, index_created=True)

    @app.task(name="send", queue="emails")
    def send(n: int) -> int:
        return n

    try:
        jobs = []
        for k in range(12):  # separate calls: created times grow (or tie)
            jobs += send.enqueue_many_sync([(k,), (k + 100,)])
        assert len({j.queue for j in jobs}) > 1
        infos = [j.info() for j in jobs]
        expected = sorted(infos, key=_key)
        for limit in (1, 5, 50):
            got = _walk(app, limit, queue="emails")
            assert [j.id for j in got] == [j.id for j in expected]
            back = _walk(app, limit, queue="emails", descending=True)
            assert [j.id for j in back] == [j.id for j in reversed(expected)]
    finally:
        app.close()


def test_a_small_budget_and_a_sparse_filter_keep_the_merged_order(
    backend_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each list.lua call examines at most 3 members, and only every third
    job matches: calls stop short of a page, and a job is still returned
    only once every shard read past it."""
    import rtask._list

    monkeypatch.setattr(rtask._list, "BUDGET", 3)
    app = rtask.App(backend_url, prefix=prefix, shards={"emails": 3}, index_created=True)

    @app.task(name="send", queue="emails")
    def send(n: int) -> int:
        return n

    try:
        jobs = []
        for k in range(30):
            task = send.options(tags=["x"]) if k % 3 == 0 else send
            jobs.append(task.enqueue_sync(k))
        infos = sorted((j.info() for j in jobs), key=_key)
        expected = [i.id for i in infos if "x" in i.tags]
        assert len(expected) == 10
        for limit in (1, 4, 100):
            got = _walk(app, limit, queue="emails", tags=["x"])
            assert [j.id for j in got] == expected
            back = _walk(app, limit, queue="emails", tags=["x"], descending=True)
            assert [j.id for j in back] == expected[::-1]
    finally:
        app.close()


def test_without_the_option_no_index_is_kept(backend_url: str, prefix: str) -> None:
    """Off by default: no `created` key is written, and order="created" says
    what it needs."""
    app = rtask.App(backend_url, prefix=prefix)

    @app.task(name="a")
    def a(n: int) -> int:
        return n

    try:
        a.enqueue_many_sync([(1,), (2,)])
        job = a.enqueue_sync(3)
        job.cancel()
        assert app.sync_client().redis.exists(app.keys("default").created) == 0
        with pytest.raises(InvalidInput, match="index_created"):
            app.jobs_sync(order="created")
        assert len(app.jobs_sync(status="queued").jobs) == 2
    finally:
        app.close()
