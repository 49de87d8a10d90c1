"""Schedules end to end through the Python API (async and sync), on Redis and
memory://: declaring, ticks, missed-time policies, stop, trigger, listing."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

import rtask
from rtask import InvalidSchedule, JobStatus, ScheduleNotFound
from rtask._protocol_schedules import ScheduleResult, StopResult

from ._helpers import RESULT_TIMEOUT, background, close, run, until, worker

pytestmark = pytest.mark.timeout(40)

EVERY = 0.2  # seconds between ticks in these tests


def tick_of(job_id: str) -> int:
    return int(job_id.rsplit(":", 1)[1])


def test_every_tick_fires_once_until_end(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        runs: list[str] = []

        @app.task
        async def beat(n: int) -> None:
            runs.append(rtask.current_job().id)

        end = time.time() + 6 * EVERY + 0.1
        # (create: a tick claimed late on a loaded machine still runs)
        app.schedule(
            beat, id="beat", every=EVERY, args=(1,), end=end, labels={"team": "a"}, missed="create"
        )
        try:
            async with background(app):
                info = await until(lambda: _stopped(app, "beat"), "the schedule to end", 10)
            assert info.stop_reason == "ended"
            ticks = [tick_of(j) for j in runs]
            assert len(ticks) == len(set(ticks)) == 6  # each tick once, none missed
            assert all(b - a == EVERY * 1000 for a, b in itertools.pairwise(ticks))
            assert ticks[-1] < end * 1000
            for job_id in runs:
                job = await app.job(job_id)
                assert (await job.info()).status is JobStatus.SUCCEEDED
            assert info.active_job is None and info.labels == {"team": "a"}
        finally:
            await close(app)

    run(body)


async def _stopped(app: rtask.App, sid: str) -> rtask.ScheduleInfo | None:
    try:
        info = await app.get_schedule(sid)
    except ScheduleNotFound:  # the worker has not stored it yet
        return None
    return info if info.stopped else None


def test_declaration_is_upserted_not_duplicated(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        def declare(every: float) -> rtask.App:
            app = rtask.App(backend_url, prefix=prefix)

            @app.task(name="report")
            async def report() -> None: ...

            app.schedule(report, every=every)  # id defaults to the task's name
            return app

        first, same, changed = declare(60), declare(60), declare(30)
        try:
            await worker(first).run(burst=True)
            before = await first.get_schedule("report")
            assert before.version == 1 and before.active_status is JobStatus.SCHEDULED
            await worker(same).run(burst=True)  # a restart with the same code
            assert await same.get_schedule("report") == before
            await worker(changed).run(burst=True)
            after = await changed.get_schedule("report")
            assert after.version == 2 and after.timing.every_ms == 30_000
            assert after.active_job != before.active_job  # the unrun job was replaced
            assert await changed.count_schedules() == 1
            assert before.active_job is not None
            with pytest.raises(rtask.JobNotFound):
                await (await changed.job(before.active_job)).info()
        finally:
            await close(first, same, changed)

    run(body)


def test_slow_job_never_overlaps_the_next_tick(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        spans: list[tuple[float, float]] = []

        @app.task
        async def slow() -> None:
            start = time.monotonic()
            await asyncio.sleep(0.35)
            spans.append((start, time.monotonic()))

        app.schedule(slow, every=0.1, immediate=True)
        try:
            async with background(app, concurrency=10):
                await until(lambda: _count(spans, 4), "four runs", 10)
            spans.sort()
            assert all(b[0] >= a[1] for a, b in itertools.pairwise(spans))
        finally:
            await close(app)

    run(body)


async def _count(items: list[Any], n: int) -> bool:
    return len(items) >= n


def test_missed_ticks_skip_and_create(backend_url: str, prefix: str) -> None:
    """No worker for several ticks, then one starts: `skip` drops the missed
    ticks (the stale job is cancelled as missed), `create` runs each of them,
    one job at a time, in tick order."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        runs: list[str] = []

        @app.task
        async def job() -> None:
            runs.append(rtask.current_job().id)

        skip = app.schedule(job, id="skip", every=EVERY)
        create = app.schedule(job, id="create", every=EVERY, missed="create")
        try:
            await app.add_schedules([skip, create])
            first = {s: (await app.get_schedule(s)).active_job for s in ("skip", "create")}
            await asyncio.sleep(5.5 * EVERY)  # five ticks pass with no worker at all
            started = time.time() * 1000
            async with background(app):
                await until(lambda: _created_after(runs, started), "create to catch up", 10)
            skipped = [j for j in runs if j.startswith("skip:")]
            created = [tick_of(j) for j in runs if j.startswith("create:")]
            # create: the missed ticks ran in order, each once, none missing
            assert created[:6] == [tick_of(first["create"] or "") + i * 200 for i in range(6)]
            # skip: the stale first job did not run; the next run is after the restart
            assert first["skip"] not in skipped
            assert skipped and all(tick_of(j) >= started - 1 for j in skipped)
            assert first["skip"] is not None
            stale = await (await app.job(first["skip"])).info()
            assert stale.status is JobStatus.CANCELLED
            assert stale.errors[-1]["type"] == "missed"
        finally:
            await close(app)

    run(body)


async def _created_after(runs: list[str], after_ms: float) -> bool:
    return any(j.startswith("create:") and tick_of(j) > after_ms for j in runs)


def test_once_fires_once_then_stops_and_manual_waits_for_trigger(
    backend_url: str, prefix: str
) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        runs: list[str] = []

        @app.task
        async def job() -> None:
            runs.append(rtask.current_job().id)

        app.schedule(job, id="once", at=time.time() + 0.2)
        app.schedule(job, id="manual", manual=True)
        try:
            async with background(app):
                await until(lambda: _stopped(app, "once"), "the once schedule to end", 10)
                manual = await app.get_schedule("manual")
                assert manual.active_job is None and not manual.stopped
                triggered = await app.trigger_schedule("manual")
                assert await triggered.result(timeout=RESULT_TIMEOUT) is None
                await until(lambda: _idle(app, "manual"), "the manual schedule to be idle", 10)
            assert [j.split(":")[0] for j in runs] == ["once", "manual"]
            assert not (await app.get_schedule("manual")).stopped
        finally:
            await close(app)

    run(body)


async def _idle(app: rtask.App, sid: str) -> bool:
    return (await app.get_schedule(sid)).active_job is None


def test_trigger_runs_now_in_place_of_the_waiting_tick(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def job() -> str:
            return rtask.current_job().id

        s = app.schedule(job, id="hourly", cron="0 * * * *")
        try:
            await app.add_schedules([s])
            waiting = (await app.get_schedule("hourly")).active_job
            handle = await app.trigger_schedule("hourly")
            assert handle.id != waiting  # a run now, in place of the waiting tick's job
            assert (await app.get_schedule("hourly")).active_job == handle.id
            async with background(app):
                assert await handle.result(timeout=RESULT_TIMEOUT) == handle.id
                info = await until(lambda: _next_job(app, handle.id), "the follow-up", 10)
            # the next hour's tick is planned again: triggering lost no tick
            assert info.active_job == waiting
            assert info.active_status is JobStatus.SCHEDULED
        finally:
            await close(app)

    run(body)


async def _next_job(app: rtask.App, previous: str | None) -> rtask.ScheduleInfo | None:
    info = await app.get_schedule("hourly")
    return info if info.active_job not in (None, previous) else None


def test_stop_with_and_without_cancelling_the_active_job(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task
    def job() -> None: ...

    a = app.schedule(job, id="a", every=60)
    b = app.schedule(job, id="b", every=60)
    try:
        app.add_schedules_sync([a, b])
        kept = app.stop_schedule_sync("a")
        assert kept.result is StopResult.STOPPED and kept.cancel is None
        assert kept.active_job is not None
        assert app.job_sync(kept.active_job).info().status is JobStatus.SCHEDULED
        gone = app.stop_schedule_sync("b", cancel_active=True, reason="retired")
        assert gone.cancel == 1 and gone.active_job is not None
        info = app.job_sync(gone.active_job).info()
        assert info.status is JobStatus.CANCELLED
        assert info.errors[-1]["message"] == "retired"
        b_info = app.get_schedule_sync("b")
        assert b_info.stopped and b_info.stop_reason == "retired" and b_info.active_job is None
        assert app.stop_schedule_sync("b").result is StopResult.ALREADY_STOPPED
        with pytest.raises(InvalidSchedule, match="stopped"):
            app.trigger_schedule_sync("b")
        with pytest.raises(ScheduleNotFound):
            app.stop_schedule_sync("nope")
    finally:
        app.close()


def test_cancelled_job_frees_its_schedule_for_the_next_tick(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def job() -> None: ...

        s = app.schedule(job, id="s", every=30)
        try:
            await app.add_schedules([s])
            first = (await app.get_schedule("s")).active_job
            assert first is not None
            await (await app.job(first)).cancel("not this one")
            assert (await app.get_schedule("s")).active_job is None  # pending
            async with background(app):  # the recovery sweep plans the next tick
                info = await until(lambda: _planned(app), "the next tick", 10)
            assert tick_of(info.active_job) == tick_of(first) + 30_000
        finally:
            await close(app)

    run(body)


async def _planned(app: rtask.App) -> rtask.ScheduleInfo | None:
    info = await app.get_schedule("s")
    return info if info.active_job else None


def test_add_list_count_and_pages(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task(queue="reports")
    def job(n: int) -> None: ...

    @app.task
    def other() -> None: ...

    many = [
        app.schedule(job, id=f"s{i}", every=60, args=(i,), labels={"i": str(i % 2)})
        for i in range(7)
    ]
    try:
        results = app.add_schedules_sync([*many, app.schedule(other, id="x", cron="0 0 * * *")])
        assert results == [ScheduleResult.CREATED] * 8
        again = app.add_schedules_sync(many[:2], if_not_exists=True)
        assert again == [ScheduleResult.UNCHANGED] * 2
        assert app.count_schedules_sync() == 8
        assert app.count_schedules_sync(task=job.name) == 7
        assert app.count_schedules_sync(labels={"i": "1"}) == 3
        assert app.count_schedules_sync(queues=["default"]) == 1
        # all seven share one next run time: pages stay stable under the tie
        seen, page = [], None
        while True:
            got = app.list_schedules_sync(task=job.name, order="next_run", limit=3, page=page)
            seen += [i.id for i in got.items]
            if got.next_page is None:
                break
            page = got.next_page
        assert seen == [f"s{i}" for i in range(7)]
        desc = app.list_schedules_sync(task=job.name, descending=True, limit=2)
        assert [i.id for i in desc.items] == ["s6", "s5"]
        shown = app.get_schedule_sync("s3")
        assert (shown.queue, shown.args, shown.kwargs) == ("reports", [3], {})
        app.stop_schedule_sync("s3")
        assert [i.id for i in app.list_schedules_sync(stopped=True).items] == ["s3"]
        with pytest.raises(rtask.InvalidInput, match="page token"):
            app.list_schedules_sync(page="garbage")
    finally:
        app.close()


def test_invalid_declarations_are_rejected_and_write_nothing(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task
    def job() -> None: ...

    @app.task
    def other() -> None: ...

    try:
        with pytest.raises(InvalidSchedule, match="invalid cron"):
            app.schedule(job, cron="not a cron")
        with pytest.raises(InvalidSchedule, match="positive interval"):
            app.schedule(job, every=-1)
        with pytest.raises(InvalidSchedule, match="empty time range"):
            app.schedule(job, every=1, start=time.time() + 10, end=time.time() + 5)
        with pytest.raises(InvalidSchedule, match="invalid schedule id"):
            app.schedule(job, id="bad id", every=1)
        with pytest.raises(rtask.CodecError):
            app.schedule(job, every=1, args=(object(),))
        assert app.schedules == {}
        app.schedule(job, every=1)
        with pytest.raises(InvalidSchedule, match="declared twice"):
            app.schedule(job, every=2)
        past = app.schedule(job, id="past", at=time.time() - 60)
        ok = app.schedule(job, id="ok", every=60)
        with pytest.raises(InvalidSchedule, match="no execution time"):
            app.add_schedules_sync([ok, past])
        assert app.count_schedules_sync() == 0  # the valid one was not written either
        app.add_schedules_sync([ok])
        # another deployment uses the same id for another task
        elsewhere = rtask.App(backend_url, prefix=prefix)
        clash = elsewhere.schedule(elsewhere.task(other.fn, name="other"), id="ok", every=60)
        with pytest.raises(InvalidSchedule, match="another task"):
            elsewhere.add_schedules_sync([clash])
        elsewhere.close()
        assert app.get_schedule_sync("ok").task == job.name
    finally:
        app.close()


def test_cron_decorator_registers_and_schedules(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.cron("*/5 * * * *", tz="Europe/Paris", id="five")
    async def tidy() -> int:
        return 1

    @app.cron("0 3 * * *")
    @app.task(name="nightly")
    def nightly() -> None: ...

    assert isinstance(tidy, rtask.Task) and tidy.name in app.tasks
    assert {sid for _, sid in app.schedules} == {"five", "nightly"}
    assert app.schedules[("default", "five")].timing.tz == "Europe/Paris"
    assert asyncio.run(tidy()) == 1  # still a plain function
    app.close()
