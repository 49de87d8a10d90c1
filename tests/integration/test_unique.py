"""Uniqueness and if_not_exists through the public API, async and sync, on both backends."""

from __future__ import annotations

import pytest

import rtask
from rtask import InvalidInput, JobStatus, Replace, Unique

from ._helpers import RESULT_TIMEOUT, background, close, run

pytestmark = pytest.mark.timeout(30)


def test_duplicate_returns_the_existing_job(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(name="report")
        async def report(day: str) -> str:
            return f"report {day}"

        try:
            rule = Unique.while_queued("2026-11-23")
            first = await report.options(unique=rule).enqueue("2026-11-23")
            again = await report.options(unique=rule).enqueue("2026-11-23")
            other = await report.options(unique=Unique.while_queued("x")).enqueue("x")
            assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
            assert again.id == first.id and other.id != first.id

            async with background(app):
                assert await again.result(timeout=RESULT_TIMEOUT) == "report 2026-11-23"
                await other.result(timeout=RESULT_TIMEOUT)
            # released when it finished: a new job may be enqueued
            third = await report.options(unique=rule).enqueue("2026-11-23")
            assert not third.duplicate and third.id != first.id
        finally:
            await close(app)

    run(body)


def test_debounce_keeps_the_last_arguments(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task(name="save")
    def save(text: str) -> str:
        return text

    try:
        bound = save.options(unique=Unique.debounce("doc-1"), delay=30)
        jobs = [bound.enqueue_sync(f"v{k}") for k in range(4)]
        assert len({j.id for j in jobs}) == 1
        assert [j.replaced for j in jobs] == [False, True, True, True]
        info = jobs[0].info()
        assert info.status is JobStatus.SCHEDULED
        app.update_sync(jobs[0].id, delay=0)  # make it due now, then run it
        asyncio_result = _drain_and_result(app, jobs[0].id)
        assert asyncio_result == "v3"
    finally:
        app.close()


def _drain_and_result(app: rtask.App, job_id: str) -> object:
    async def body() -> object:
        try:
            await app.worker(handle_signals=False).run(burst=True)
            return await (await app.job(job_id)).result(timeout=RESULT_TIMEOUT)
        finally:
            await app.aclose()

    return run(body)


def test_replace_priority_for_any_status(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(name="t")
        async def t() -> None: ...

        try:
            rule = Unique(
                within=300, replace=Replace(frozenset({"priority"}), frozenset(JobStatus))
            )
            a = await t.options(unique=rule, priority=5).enqueue()
            b = await t.options(unique=rule, priority=-7).enqueue()
            assert b.id == a.id and b.replaced
            assert (await a.info()).priority == -7
            assert [s.queued for s in await app.stats(["default"])] == [1]
        finally:
            await close(app)

    run(body)


def test_idempotency_key_survives_the_job(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task(name="charge")
        async def charge(cents: int) -> int:
            return cents

        try:
            rule = Unique.idempotent("order-42", ttl=600)
            first = await charge.options(unique=rule).enqueue(100)
            async with background(app):
                assert await first.result(timeout=RESULT_TIMEOUT) == 100
            again = await charge.options(unique=rule).enqueue(100)
            assert again.duplicate and again.id == first.id
        finally:
            await close(app)

    run(body)


def test_if_not_exists_is_all_or_nothing(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task(name="t")
    def t(n: int) -> None: ...

    try:
        made = t.enqueue_many_sync([(1,), (2,)], ids=["a1", "a2"], if_not_exists=True)
        assert [j.created for j in made] == [True, True]
        refused = t.enqueue_many_sync([(3,), (2,)], ids=["a3", "a2"], if_not_exists=True)
        assert [j.created for j in refused] == [False, False]
        with pytest.raises(rtask.JobNotFound):
            app.job_sync("a3")
        with pytest.raises(InvalidInput, match="explicit ids"):
            t.enqueue_many_sync([(1,)], if_not_exists=True)
    finally:
        app.close()


def test_bad_rules_are_refused(backend_url: str, prefix: str) -> None:
    with pytest.raises(InvalidInput):
        Unique(by_task=False)
    with pytest.raises(InvalidInput):
        Unique("k", within=-1)
    with pytest.raises(InvalidInput):
        Unique("k", statuses=frozenset({"sleeping"}))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Replace(frozenset({"colour"}))
    with pytest.raises(InvalidInput):
        Unique("k", by_task=False, replace=Replace(frozenset({"args"})))
    with pytest.raises(InvalidInput):
        Unique("k", after_finish=5)  # default statuses never include finished ones
    app = rtask.App(backend_url, prefix=prefix)

    @app.task(name="t")
    def t() -> None: ...

    with pytest.raises(InvalidInput):
        t.options(unique="k")  # type: ignore[arg-type]


def test_memory_stays_flat_with_unique_jobs(backend_url: str, prefix: str) -> None:
    """Many unique jobs with distinct identities, processed with a small
    retention: the unique hash ends empty and the records stay bounded."""

    async def body() -> None:
        keep = rtask.Retention(succeeded_max=50)
        app = rtask.App(backend_url, prefix=prefix, retention=keep)

        @app.task(name="t")
        async def t(n: int) -> int:
            return n

        try:
            for start in range(0, 600, 200):
                for k in range(start, start + 200):
                    await t.options(unique=Unique.while_running(f"k{k}")).enqueue(k)
                await app.worker(handle_signals=False).run(burst=True)
            keys = app.keys("default")
            r = app.sync_client().redis
            assert r.hlen(keys.unique) == 0
            # 4 fields per job at most (state, payload, result, errors), 50 kept
            assert r.hlen(keys.jobs) <= 4 * 50
            assert await app.count(status="succeeded") == 50
        finally:
            await close(app)
            app.close()

    run(body)


def test_task_default_rule_and_per_job_override(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task(name="sync_user", unique=Unique.while_queued())
    def sync_user(user: int) -> None: ...

    try:
        first = sync_user.enqueue_sync(1)
        assert sync_user.enqueue_sync(2).id == first.id  # one waiting job per task
        other = sync_user.options(unique=Unique.while_queued("user-2")).enqueue_sync(2)
        assert not other.duplicate
        with pytest.raises(rtask.ConfigError):
            app.task(name="bad", unique="yes")(lambda: None)  # type: ignore[call-overload]
    finally:
        app.close()
