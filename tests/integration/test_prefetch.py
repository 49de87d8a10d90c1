"""Prefetch: jobs claimed ahead of free slots wait in the worker, start as soon
as a slot frees, go back unrun on shutdown and can be cancelled while waiting."""

from __future__ import annotations

import asyncio

import rtask
from rtask import JobStatus
from tests.integration._helpers import RESULT_TIMEOUT, background, close, run


def test_prefetched_jobs_wait_for_a_slot_then_run(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        release = asyncio.Event()
        executing = 0
        most = 0

        @app.task
        async def hold(n: int) -> int:
            nonlocal executing, most
            executing += 1
            most = max(most, executing)
            await release.wait()
            executing -= 1
            return n

        try:
            jobs = await hold.enqueue_many([(n,) for n in range(6)])
            async with background(app, concurrency=2, prefetch=2) as (w, _):
                while w.in_flight() < 4:  # 2 executing + 2 prefetched
                    await asyncio.sleep(0.01)
                statuses = [(await j.info()).status for j in jobs]
                # prefetched jobs hold a lease: running in Redis, not executing here
                assert statuses.count(JobStatus.RUNNING) == 4
                assert statuses.count(JobStatus.QUEUED) == 2
                assert executing == 2
                release.set()
                results = [await j.result(timeout=RESULT_TIMEOUT) for j in jobs]
            assert results == list(range(6))
            assert most == 2  # concurrency holds, prefetch or not
        finally:
            await close(app)

    run(body)


def test_shutdown_hands_prefetched_jobs_back_at_once(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        release = asyncio.Event()

        @app.task
        async def hold(n: int) -> int:
            await release.wait()
            return n

        try:
            jobs = await hold.enqueue_many([(n,) for n in range(4)])
            async with background(app, concurrency=1, prefetch=3, grace_s=30.0) as (w, task):
                while w.in_flight() < 4:
                    await asyncio.sleep(0.01)
                w.stop()
                # the three waiting jobs go back unrun while the first still runs
                while [(await j.info()).status for j in jobs].count(JobStatus.QUEUED) < 3:
                    await asyncio.sleep(0.01)
                infos = [await j.info() for j in jobs]
                assert [i.status for i in infos].count(JobStatus.RUNNING) == 1
                assert all(i.attempt == 0 for i in infos if i.status is JobStatus.QUEUED)
                release.set()
                await asyncio.wait_for(task, RESULT_TIMEOUT)
            done = [await j.info() for j in jobs]
            assert sorted(i.status.value for i in done) == ["queued"] * 3 + ["succeeded"]
        finally:
            await close(app)

    run(body)


def test_cancel_of_a_prefetched_job_means_it_never_runs(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        release = asyncio.Event()
        ran: list[int] = []

        @app.task
        async def hold(n: int) -> int:
            ran.append(n)
            await release.wait()
            return n

        try:
            first, second = await hold.enqueue_many([(0,), (1,)])
            async with background(app, concurrency=1, prefetch=1) as (w, _):
                while w.in_flight() < 2:
                    await asyncio.sleep(0.01)
                assert await second.cancel("not needed") is True
                # the heartbeat tells the worker; the waiting job is settled unrun
                while w.in_flight() > 1:
                    await asyncio.sleep(0.01)
                release.set()
                assert await first.result(timeout=RESULT_TIMEOUT) == 0
            info = await second.info()
            assert info.status is JobStatus.CANCELLED
            assert ran == [0]
        finally:
            await close(app)

    run(body)


def test_a_job_arriving_at_a_busy_worker_starts_without_waiting_for_a_batch(
    backend_url: str, prefix: str
) -> None:
    """Two free slots of twenty (under the batch target) are claimed at once
    when a job arrives: only outcomes wait to be batched."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        release = asyncio.Event()

        @app.task
        async def hold(n: int) -> int:
            await release.wait()
            return n

        @app.task
        async def quick() -> str:
            return "done"

        try:
            holders = await hold.enqueue_many([(n,) for n in range(18)])
            async with background(app, concurrency=20, prefetch=0) as (w, _):
                while w.in_flight() < 18:
                    await asyncio.sleep(0.01)
                job = await quick.enqueue()
                assert await job.result(timeout=RESULT_TIMEOUT) == "done"
                assert w.in_flight() == 18  # the holders still hold
                release.set()
                for h in holders:
                    await h.result(timeout=RESULT_TIMEOUT)
        finally:
            await close(app)

    run(body)


def test_the_automatic_prefetch_grows_for_short_jobs_only(backend_url: str, prefix: str) -> None:
    """Default prefetch: concurrency // 2 to start with and for jobs of 50 ms
    or more, 2 * concurrency once the jobs run shorter (WorkerConfig.prefetch_for)."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def quick() -> None:
            return None

        @app.task
        async def slow() -> None:
            await asyncio.sleep(0.06)

        try:
            async with background(app, concurrency=4) as (w, _):
                assert w._capacity() == 4 + 2  # no job seen yet: as if long
                jobs = await quick.enqueue_many([()] * 200)
                for job in jobs:
                    await job.result(timeout=RESULT_TIMEOUT)
                assert w._capacity() == 4 + 8
                jobs = await slow.enqueue_many([()] * 80)
                for job in jobs:
                    await job.result(timeout=RESULT_TIMEOUT)
                assert w._capacity() == 4 + 2
            async with background(app, concurrency=4, prefetch=1) as (w, _):
                await (await quick.enqueue()).result(timeout=RESULT_TIMEOUT)
                assert w._capacity() == 4 + 1  # a set prefetch stays as set
        finally:
            await close(app)

    run(body)
