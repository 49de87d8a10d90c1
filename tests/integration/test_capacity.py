"""Worker concurrency, per-task caps, and a worker at capacity being woken up."""

from __future__ import annotations

import asyncio

import pytest

import rtask
from rtask import JobStatus

from ._helpers import RESULT_TIMEOUT, background, close, run, worker

pytestmark = pytest.mark.timeout(20)


class Meter:
    """Tracks how many jobs run at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def hold(self, seconds: float) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1


@pytest.mark.timeout(15)
def test_worker_at_capacity_woken_by_an_enqueue_keeps_running(
    backend_url: str, prefix: str
) -> None:
    """concurrency=1, one job running; enqueueing another publishes a wake-up.

    The worker cannot claim (no free slot), so it must go back to waiting and
    let the running job finish, then run the new one.
    """

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        started = asyncio.Event()

        @app.task
        async def step(n: int) -> int:
            started.set()
            await asyncio.sleep(0.2)
            return n

        try:
            async with background(app, concurrency=1):
                first = await step.enqueue(1)
                await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
                second = await step.enqueue(2)
                assert await first.result(timeout=RESULT_TIMEOUT) == 1
                assert await second.result(timeout=RESULT_TIMEOUT) == 2
        finally:
            await close(app)

    run(body)


def test_worker_concurrency_limits_jobs_at_once(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        meter = Meter()

        @app.task
        async def hold() -> None:
            await meter.hold(0.05)

        try:
            jobs = await hold.enqueue_many([() for _ in range(8)])
            await worker(app, concurrency=3).run(burst=True)
            for job in jobs:
                assert (await job.info()).status is JobStatus.SUCCEEDED
            assert meter.peak == 3
        finally:
            await close(app)

    run(body)


def test_task_cap_does_not_block_other_tasks(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        meter = Meter()
        order: list[str] = []

        @app.task(concurrency=2)
        async def capped() -> None:
            await meter.hold(0.1)
            order.append("capped")

        @app.task
        async def free() -> None:
            order.append("free")

        try:
            capped_jobs = await capped.enqueue_many([() for _ in range(6)])
            free_jobs = await free.enqueue_many([() for _ in range(3)])
            async with background(app, concurrency=10):
                for job in free_jobs + capped_jobs:
                    await job.result(timeout=RESULT_TIMEOUT)
            assert meter.peak == 2
            # the free jobs did not wait behind the capped ones
            assert order[:3] == ["free", "free", "free"]
        finally:
            await close(app)

    run(body)
