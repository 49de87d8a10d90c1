"""Middleware end to end: hooks on the App and the task, and the shipped ones."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import rtask
from rtask.middleware import (
    CallNext,
    CircuitBreaker,
    EnqueueContext,
    ExecuteContext,
    Logging,
    Middleware,
    Timing,
)
from rtask.testing import assert_enqueued, drain_sync, frozen_clock

pytestmark = pytest.mark.timeout(30)


class Trace(Middleware):
    """Records the order of hooks in a shared list."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    def on_enqueue(self, ctx: EnqueueContext) -> None:
        self.seen.append(f"{self.name}:enqueue")

    async def around_execute(self, ctx: ExecuteContext, call_next: CallNext) -> Any:
        self.seen.append(f"{self.name}:before")
        try:
            return await call_next()
        finally:
            self.seen.append(f"{self.name}:after")


def test_app_middleware_wraps_task_middleware(rtask_memory_url: str) -> None:
    seen: list[str] = []
    app = rtask.App(rtask_memory_url, middleware=[Trace("app", seen)])

    @app.task(middleware=[Trace("task", seen)])
    def work() -> str:
        seen.append("run")
        return "done"

    try:
        job = work.enqueue_sync()
        assert drain_sync(app).succeeded == 1
        assert job.result(timeout=5) == "done"
    finally:
        app.close()
    assert seen == [
        "app:enqueue",
        "task:enqueue",
        "app:before",
        "task:before",
        "run",
        "task:after",
        "app:after",
    ]


class Routing(Middleware):
    """Changes options and arguments at enqueue; skips jobs for user 0."""

    def on_enqueue(self, ctx: EnqueueContext) -> None:
        if ctx.args and ctx.args[0] == 0:
            raise rtask.EnqueueSkipped("no job for user 0")
        ctx.set_options(tags=["routed"], labels={"tenant": "acme"}, priority=-5)
        ctx.kwargs["source"] = "middleware"


def test_on_enqueue_changes_options_or_skips(rtask_app: rtask.App) -> None:
    @rtask_app.task(middleware=[Routing()])
    def notify(user: int, source: str = "") -> str:
        return source

    job = notify.enqueue_sync(7)
    many = notify.enqueue_many_sync([(8,), (9,)])
    with pytest.raises(rtask.EnqueueSkipped, match="user 0"):
        notify.enqueue_sync(0)

    info = job.info()
    assert (info.tags, info.labels, info.priority) == (["routed"], {"tenant": "acme"}, -5)
    assert_enqueued(rtask_app, notify, count=3, tags=["routed"], kwargs={"source": "middleware"})
    assert_enqueued(rtask_app, notify, args=[0], count=0)  # nothing stored
    assert drain_sync(rtask_app).succeeded == 3
    assert [j.result(timeout=5) for j in [job, *many]] == ["middleware"] * 3


class RetryOnce(Middleware):
    """Asks for a retry before the first attempt runs; skips runs of "cached" jobs."""

    async def around_execute(self, ctx: ExecuteContext, call_next: CallNext) -> Any:
        if ctx.args == ["cached"]:
            return "from cache"  # the task is not called; the job succeeds
        if ctx.job.attempt == 1:
            raise rtask.Retry(delay=0, reason="warming up")
        return await call_next()


def test_around_execute_can_retry_or_skip(rtask_app: rtask.App) -> None:
    calls: list[str] = []

    @rtask_app.task(middleware=[RetryOnce()])
    async def fetch(key: str) -> str:
        calls.append(key)
        return f"fresh {key}"

    fresh = fetch.enqueue_sync("k")
    cached = fetch.enqueue_sync("cached")
    result = drain_sync(rtask_app)

    assert (result.retried, result.succeeded) == (1, 2)
    assert fresh.result(timeout=5) == "fresh k"
    assert cached.result(timeout=5) == "from cache"
    assert calls == ["k"]
    info = fresh.info()
    assert info.attempt == 2
    assert [(e["type"], e["message"]) for e in info.errors] == [("retry", "warming up")]


def test_logging_middleware_structured_records(
    rtask_memory_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = rtask.App(rtask_memory_url, middleware=[Logging()])

    @app.task(name="jobs.flaky", max_attempts=2, backoff=0)
    def flaky() -> None:
        if rtask.current_job().attempt == 1:
            raise ValueError("first try fails")

    caplog.set_level(logging.INFO, logger="rtask.jobs")
    try:
        job = flaky.enqueue_sync()
        drain_sync(app)
    finally:
        app.close()

    records = [r for r in caplog.records if r.name == "rtask.jobs"]
    fields = [r.rtask for r in records]  # type: ignore[attr-defined]
    assert [f.get("outcome") for f in fields] == [None, None, "error", None, "succeeded"]
    assert fields[0] == {"task": "jobs.flaky", "queue": "default"}
    assert [f.get("attempt") for f in fields[1:]] == [1, 1, 2, 2]
    assert all(f["job_id"] == job.id for f in fields[1:])
    error = records[2]
    assert error.levelno == logging.WARNING and error.exc_info is not None
    assert fields[4]["duration_ms"] >= 0


def test_timing_middleware_reports_durations(rtask_app: rtask.App) -> None:
    timings: list[tuple[str, float, str]] = []

    def record(ctx: ExecuteContext, duration_s: float, outcome: str) -> None:
        timings.append((ctx.job.id, duration_s, outcome))

    class Check(Middleware):  # outside Timing: sees what it stored
        async def around_execute(self, ctx: ExecuteContext, call_next: CallNext) -> Any:
            try:
                return await call_next()
            finally:
                assert ctx.extra["duration_s"] >= 0.05

    @rtask_app.task(middleware=[Check(), Timing(record)], max_attempts=1)
    async def slow(fail: bool) -> None:
        await asyncio.sleep(0.05)
        if fail:
            raise rtask.Abort("gave up")

    ok = slow.enqueue_sync(False)
    bad = slow.enqueue_sync(True)
    assert drain_sync(rtask_app).ran == 2

    by_job = {job_id: (duration, outcome) for job_id, duration, outcome in timings}
    assert by_job[ok.id][1] == "succeeded" and by_job[bad.id][1] == "abort"
    assert all(duration >= 0.05 for duration, _ in by_job.values())


def test_circuit_breaker_opens_snoozes_then_half_opens(rtask_app: rtask.App) -> None:
    partner = {"down": True}
    calls: list[tuple[str, int]] = []
    with frozen_clock(rtask_app) as clock:
        breaker = CircuitBreaker(failure_threshold=2, recovery_s=30, clock=clock.time)

        @rtask_app.task(name="partner", middleware=[breaker], max_attempts=10, backoff=0)
        def call_partner(n: int) -> None:
            calls.append((rtask.current_job().id, rtask.current_job().attempt))
            if partner["down"]:
                raise ConnectionError("partner down")

        jobs = call_partner.enqueue_many_sync([(i,) for i in range(4)])
        one_by_one = {"concurrency": 1, "prefetch": 0}
        result = drain_sync(rtask_app, **one_by_one)

        # two failures in a row open the circuit; every later run is snoozed
        assert (result.retried, result.snoozed) == (2, 4)
        assert breaker.state("partner") == "open"
        assert len(calls) == 2
        infos = [j.info() for j in jobs]
        assert [i.attempt for i in infos] == [2, 0, 0, 0]  # snoozes used no attempt
        assert {i.scheduled_at for i in infos} == {infos[0].scheduled_at}  # all wait 30 s

        partner["down"] = False
        clock.advance(29)
        assert drain_sync(rtask_app, **one_by_one).claimed == 0
        clock.advance(1)
        assert breaker.state("partner") == "half_open"
        # the first run is the probe; it succeeds and closes the circuit
        result = drain_sync(rtask_app, **one_by_one)
        assert (result.succeeded, result.snoozed) == (4, 0)
        assert breaker.state("partner") == "closed"
        assert [j.info().attempt for j in jobs] == [3, 1, 1, 1]


def test_circuit_breaker_probe_failure_reopens(rtask_app: rtask.App) -> None:
    with frozen_clock(rtask_app) as clock:
        breaker = CircuitBreaker(failure_threshold=1, recovery_s=10, clock=clock.time)

        @rtask_app.task(name="down", middleware=[breaker], backoff=0, max_attempts=5)
        def always_down() -> None:
            raise ConnectionError("still down")

        job = always_down.enqueue_sync()
        assert drain_sync(rtask_app, concurrency=1, prefetch=0).retried == 1
        assert breaker.state("down") == "open"
        clock.advance(10)
        assert breaker.state("down") == "half_open"
        result = drain_sync(rtask_app, concurrency=1, prefetch=0)
        assert (result.retried, result.snoozed) == (1, 1)  # the probe failed: open again
        assert breaker.state("down") == "open"
        assert job.info().attempt == 2


def test_bad_middleware_and_rate_limit_are_config_errors(rtask_app: rtask.App) -> None:
    with pytest.raises(rtask.ConfigError, match="middleware"):
        rtask.App("memory://x", middleware=[object()])  # type: ignore[list-item]
    for i, bad in enumerate(["fast", "0/s", "10/0s", (5, -1), (0, 1.0)]):
        with pytest.raises(rtask.ConfigError, match="rate_limit"):
            rtask_app.task(name=f"bad{i}", rate_limit=bad)(lambda: None)  # type: ignore[arg-type]
    assert not any(name.startswith("bad") for name in rtask_app.tasks)
    task = rtask_app.task(name="ok", rate_limit="100/2s")(lambda: None)
    assert task.rate_limit == (100, 2000)
    assert rtask_app.task(name="ok2", rate_limit=(3, 0.5))(lambda: None).rate_limit == (3, 500)
