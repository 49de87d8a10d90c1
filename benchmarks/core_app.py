"""The tasks of benchmarks/core.py; worker processes import `app`."""

from __future__ import annotations

import asyncio
import os
import time

import rtask


def make(url: str) -> rtask.App:
    # RTASK_BENCH_EVENTS=1 measures the cost of lifecycle events.
    events = os.environ.get("RTASK_BENCH_EVENTS") == "1"
    app = rtask.App(url, prefix="core", events=events)

    @app.task(name="noop")
    async def noop() -> None:
        return None

    @app.task(name="sleep10")
    async def sleep10() -> float:
        await asyncio.sleep(0.01)
        return time.time()

    @app.task(name="probe")
    async def probe(sent_at: float) -> float:
        return time.time() - sent_at

    # benchmarks/schedules.py: this many schedules of `noop`, one tick a second
    for i in range(int(os.environ.get("RTASK_BENCH_SCHEDULES") or 0)):
        app.schedule(noop, id=f"tick-{i}", every=1.0)
    return app


app = make(os.environ.get("RTASK_BENCH_URL", "memory://core"))
