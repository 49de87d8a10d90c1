"""A busy worker's claims: lazy ones skip the scheduled sets and the tasks
that gave nothing, eager ones (at least every PROMOTE_S) read them, so a job
of another task and a delayed job that comes due start while the worker is
still busy with a long run of one task, not after it."""

from __future__ import annotations

import asyncio

import rtask
from tests.integration._helpers import RESULT_TIMEOUT, background, close, run

FLOOD = 5000
ARRIVE_AT = 500  # flood jobs run before the other jobs are enqueued


def test_jobs_arriving_at_a_busy_worker_start_before_the_flood_ends(
    backend_url: str, prefix: str
) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        order: list[str] = []
        busy = asyncio.Event()

        @app.task
        async def flood() -> None:
            order.append("flood")
            if len(order) == ARRIVE_AT:
                busy.set()

        @app.task
        async def other(name: str) -> None:
            order.append(name)

        try:
            await flood.enqueue_many([()] * FLOOD)
            async with background(app, concurrency=100) as (w, _):
                await busy.wait()
                now = await other.enqueue("now")
                later = await other.options(delay=0.05).enqueue("later")
                await now.result(timeout=RESULT_TIMEOUT)
                await later.result(timeout=RESULT_TIMEOUT)
                while len(order) < FLOOD + 2:
                    await asyncio.sleep(0.01)
            # each started while flood jobs were still running (many after it),
            # not once the flood ran out (then the claims come up short)
            assert order.index("now") < len(order) - 1000
            assert order.index("later") < len(order) - 1000
            assert order.count("flood") == FLOOD
            assert w.stats["claimed"] == FLOOD + 2
        finally:
            await close(app)

    run(body)
