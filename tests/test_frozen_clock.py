"""rtask.testing.frozen_clock, used the way a user's unit test would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

import rtask
from rtask.testing import assert_enqueued, drain, drain_sync, frozen_clock

pytestmark = pytest.mark.timeout(30)


def test_a_delayed_job_runs_after_advance(rtask_app: rtask.App) -> None:
    ran: list[int] = []

    @rtask_app.task
    def report(n: int) -> None:
        ran.append(n)

    with frozen_clock(rtask_app) as clock:
        start = clock.time()
        job = report.options(delay=3600).enqueue_sync(1)
        assert drain_sync(rtask_app).claimed == 0  # not due for an hour
        assert job.info().status is rtask.JobStatus.SCHEDULED

        clock.advance(3599)
        assert drain_sync(rtask_app).claimed == 0
        clock.advance(1)
        assert drain_sync(rtask_app).succeeded == 1

        info = job.info()
        assert info.status is rtask.JobStatus.SUCCEEDED
        assert info.started_at == datetime.fromtimestamp(int(start * 1000) / 1000 + 3600, UTC)
    assert ran == [1]


def test_retry_with_backoff_moves_with_the_clock(rtask_app: rtask.App) -> None:
    calls: list[int] = []

    @rtask_app.task(backoff=rtask.backoff.constant(300), max_attempts=3)
    async def flaky() -> str:
        calls.append(rtask.current_job().attempt)
        if len(calls) < 3:
            raise RuntimeError("partner down")
        return "ok"

    async def body() -> None:
        with frozen_clock(rtask_app) as clock:
            job = await flaky.enqueue()
            assert (await drain(rtask_app)).retried == 1
            assert (await job.info()).status is rtask.JobStatus.RETRYING
            assert (await drain(rtask_app)).claimed == 0  # backoff: due in 300 s
            clock.advance(300)
            assert (await drain(rtask_app)).retried == 1
            clock.advance(300)
            assert (await drain(rtask_app)).succeeded == 1
            assert await job.result(timeout=5) == "ok"
        await rtask_app.aclose()

    asyncio.run(body())
    assert calls == [1, 2, 3]


def test_explicit_retry_delay_and_at_follow_the_fake_clock(rtask_app: rtask.App) -> None:
    @rtask_app.task
    def once() -> None:
        if rtask.current_job().attempt == 1:
            raise rtask.Retry(delay=60)

    start = datetime(2030, 1, 1, tzinfo=UTC)
    with frozen_clock(rtask_app, start=start) as clock:
        job = once.options(at=start + timedelta(minutes=10)).enqueue_sync()
        assert_enqueued(rtask_app, once, scheduled_at=start + timedelta(minutes=10))
        clock.advance(600)
        assert drain_sync(rtask_app).retried == 1
        clock.advance(59)
        assert drain_sync(rtask_app).claimed == 0
        clock.advance(1)
        assert drain_sync(rtask_app).succeeded == 1
        assert job.info().finished_at == start + timedelta(minutes=11)


def test_clock_only_moves_forward_and_is_released(rtask_app: rtask.App) -> None:
    with frozen_clock(rtask_app) as clock:
        with pytest.raises(rtask.InvalidInput):
            clock.advance(-1)
        with pytest.raises(rtask.RtaskError), frozen_clock(rtask_app):
            pass
    assert rtask_app.now_ms() is None  # back to the Redis clock


def test_rate_limit_windows_move_with_the_clock(rtask_app: rtask.App) -> None:
    @rtask_app.task(rate_limit="2/10s")
    def ping(n: int) -> int:
        return n

    with frozen_clock(rtask_app) as clock:
        jobs = ping.enqueue_many_sync([(n,) for n in range(5)])
        assert drain_sync(rtask_app).succeeded == 2  # the rest wait for the window
        assert drain_sync(rtask_app).claimed == 0
        clock.advance(10)
        assert drain_sync(rtask_app).succeeded == 2
        clock.advance(10)
        assert drain_sync(rtask_app).succeeded == 1
        assert [j.info().attempt for j in jobs] == [1] * 5  # waiting used no attempt


def test_schedules_move_with_the_clock(rtask_app: rtask.App) -> None:
    """A daily cron ticks each time the clock passes 06:00 in its zone, without
    waiting; a drain before that runs nothing."""
    ran: list[str] = []

    @rtask_app.task
    def report() -> None:
        ran.append(rtask.current_job().id)

    rtask_app.schedule(report, id="daily", cron="0 6 * * *", tz="Europe/Paris")
    start = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    with frozen_clock(rtask_app, start) as clock:
        assert drain_sync(rtask_app).claimed == 0  # stored by the drain's worker; not due
        for _ in range(3):
            clock.advance(24 * 3600)
            assert drain_sync(rtask_app).succeeded == 1
    ticks = [datetime.fromtimestamp(int(j.split(":")[1]) / 1000, UTC) for j in ran]
    # 06:00 in Paris: 05:00 UTC in winter time, 04:00 UTC from 29 March (summer time)
    assert [t.isoformat() for t in ticks] == [
        "2026-03-28T05:00:00+00:00",
        "2026-03-29T04:00:00+00:00",
        "2026-03-30T04:00:00+00:00",
    ]
    info = rtask_app.get_schedule_sync("daily")
    assert info.next_run_at == datetime(2026, 3, 31, 4, 0, tzinfo=UTC)
