"""An App on a Redis Cluster: tasks on three queues served by three nodes, one worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

import rtask
from rtask import JobStatus
from tests._redis_server import unique_prefix
from tests.integration._helpers import RESULT_TIMEOUT, background, close, run, worker

pytestmark = pytest.mark.timeout(60)


def app_on_three_nodes(
    url: str, queues: list[str]
) -> tuple[rtask.App, dict[str, rtask.Task[Any, Any]]]:
    app = rtask.App(url, prefix=unique_prefix())
    tasks = {}
    for queue in queues:

        @app.task(name=f"double.{queue}", queue=queue)
        async def double(n: int, queue: str = queue) -> tuple[str, int]:
            return queue, 2 * n

        tasks[queue] = double
    return app, tasks


def test_burst_worker_serves_three_nodes(
    cluster_url: str, spread_queues: Callable[[], list[str]]
) -> None:
    queues = spread_queues()

    async def body() -> None:
        app, tasks = app_on_three_nodes(cluster_url, queues)
        try:
            jobs = []
            for queue in queues:
                jobs += await tasks[queue].enqueue_many([(n,) for n in range(20)])
            jobs.append(await tasks[queues[0]].enqueue(100))
            w = worker(app, queues=queues, concurrency=16)
            await w.run(burst=True)
            assert w.stats["outcome.succeeded"] == 61
            results = [await job.result(timeout=RESULT_TIMEOUT) for job in jobs]
            expected = [[q, 2 * n] for q in queues for n in range(20)] + [[queues[0], 200]]
            assert [list(r) for r in results] == expected
            infos = [await job.info() for job in jobs]
            assert {i.status for i in infos} == {JobStatus.SUCCEEDED}
            assert {i.queue for i in infos} == set(queues)
            assert {i.attempt for i in infos} == {1}
        finally:
            await close(app)

    run(body)


def test_background_worker_results_retries_and_cancel(
    cluster_url: str, spread_queues: Callable[[], list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    queues = spread_queues()
    a, b, c = queues

    async def body() -> None:
        app = rtask.App(cluster_url, prefix=unique_prefix())
        started = asyncio.Event()
        cancelled = asyncio.Event()

        @app.task(queue=a)
        async def add(x: int, y: int) -> int:
            return x + y

        @app.task(queue=b, max_attempts=3, backoff=0)
        async def flaky(fail_times: int) -> int:
            attempt = rtask.current_job().attempt
            if attempt <= fail_times:
                raise ValueError(f"attempt {attempt} fails")
            return attempt

        @app.task(queue=c)
        async def forever() -> str:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "finished"

        try:
            async with background(app, queues=queues, concurrency=8) as (w, _):
                # woken through pub/sub: the jobs arrive after the worker started
                sums = [await add.enqueue(n, 1) for n in range(10)]
                recovered = await flaky.enqueue(2)
                failing = await flaky.enqueue(5)
                long = await forever.enqueue()
                later = await add.options(delay=60).enqueue(1, 1)

                assert [await j.result(timeout=RESULT_TIMEOUT) for j in sums] == list(range(1, 11))
                assert await recovered.result(timeout=RESULT_TIMEOUT) == 3
                with pytest.raises(rtask.JobFailed) as failed:
                    await failing.result(timeout=RESULT_TIMEOUT)
                assert failed.value.status == "failed"
                assert [e["message"] for e in failed.value.errors] == [
                    "builtins.ValueError: attempt 1 fails",
                    "builtins.ValueError: attempt 2 fails",
                    "builtins.ValueError: attempt 3 fails",
                ]
                retried = await recovered.info()
                assert retried.attempt == 3
                assert len(retried.errors) == 2

                await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
                assert await long.cancel("stop") is True
                await asyncio.wait_for(cancelled.wait(), RESULT_TIMEOUT)
                with pytest.raises(rtask.JobFailed) as stopped:
                    await long.result(timeout=RESULT_TIMEOUT)
                assert stopped.value.status == "cancelled"

                assert await later.cancel("not needed") is True
                assert (await later.info()).status is JobStatus.CANCELLED
            assert w.stats["outcome.succeeded"] == 11
        finally:
            await close(app)

    caplog.set_level(logging.WARNING, logger="rtask")
    run(body)
    # the wake-up listener, heartbeat and recovery sweep ran without a failure
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_sync_producer_on_the_cluster(
    cluster_url: str, spread_queues: Callable[[], list[str]]
) -> None:
    queues = spread_queues()
    app, tasks = app_on_three_nodes(cluster_url, queues)
    try:
        jobs = [tasks[q].enqueue_sync(7) for q in queues]
        jobs += tasks[queues[1]].enqueue_many_sync([(n,) for n in range(5)])
        assert [j.info().status for j in jobs] == [JobStatus.QUEUED] * 8

        async def drain() -> None:
            try:
                await worker(app, queues=queues).run(burst=True)
            finally:
                await app.aclose()

        asyncio.run(drain())
        assert [list(j.result(timeout=RESULT_TIMEOUT)) for j in jobs] == [
            [q, 14] for q in queues
        ] + [[queues[1], 2 * n] for n in range(5)]
        assert jobs[0].cancel() is False  # finished already
    finally:
        app.close()


def test_events_rate_limit_and_progress_on_three_nodes(
    cluster_url: str, spread_queues: Callable[[], list[str]]
) -> None:
    """The optional keys (events stream, rate logs) and progress.lua stay in
    each queue's slot: events, a rate limit and progress work on every node."""
    queues = spread_queues()

    async def body() -> None:
        app = rtask.App(cluster_url, prefix=unique_prefix(), events=True)
        tasks = []
        for queue in queues:

            @app.task(name=f"limited.{queue}", queue=queue, rate_limit="2/50ms")
            async def limited(n: int) -> int:
                rtask.current_job().log(f"n={n}")
                await rtask.current_job().set_progress(n)
                return n

            tasks.append(limited)
        try:
            jobs = [job for t in tasks for job in await t.enqueue_many([(n,) for n in range(4)])]
            async with background(app, queues=queues, concurrency=8):
                for job in jobs:
                    await job.result(timeout=RESULT_TIMEOUT)
            for job in jobs:
                info = await job.info()
                assert (info.attempt, info.progress) == (1, info.result)
                assert [e["msg"] for e in info.log] == [f"n={info.result}"]
            for queue in queues:
                events = [e async for e in app.events(queue)]
                kinds = [e.kind for e in events]
                assert sorted(kinds) == sorted(["enqueued", "started", "succeeded"] * 4)
                starts = sorted(int(e.at.timestamp() * 1000) for e in events if e.kind == "started")
                assert all(b - a >= 50 for a, b in zip(starts, starts[2:], strict=False))
        finally:
            await close(app)


def test_unique_enqueue_and_waiting_across_nodes(
    cluster_url: str, spread_queues: Callable[[], list[str]]
) -> None:
    queues = spread_queues()

    async def body() -> None:
        app, tasks = app_on_three_nodes(cluster_url, queues)
        try:
            rule = rtask.Unique.while_running("k")
            jobs = [await tasks[q].options(unique=rule).enqueue(1) for q in queues]
            again = [await tasks[q].options(unique=rule).enqueue(2) for q in queues]
            assert [j.id for j in again] == [j.id for j in jobs]
            assert all(j.duplicate for j in again)
            async with background(app, queues=queues):
                infos = await app.wait(jobs, timeout=RESULT_TIMEOUT)
                synced = await asyncio.to_thread(app.wait_sync, jobs, RESULT_TIMEOUT)
            assert [i.result for i in infos] == [[q, 2] for q in queues]
            assert [i.status for i in synced] == [JobStatus.SUCCEEDED] * 3
            assert await app.count(queues[1], status="succeeded") == 1
        finally:
            await close(app)
            app.close()

    run(body)
