"""Direct hand-off through a real worker: an idle worker parks (park.lua +
BLPOP on the handoff list), an enqueue hands it the job (enqueue_plain.lua),
and the job runs without a claim; capped and rate-limited tasks are never
handed off; a stop ends the pop at once; memory:// never parks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import rtask
from rtask import JobStatus
from rtask import _protocol as proto
from rtask._worker import _loops

from ._helpers import RESULT_TIMEOUT, background, close, run, stopped, until, worker

pytestmark = pytest.mark.timeout(40)


def parked_on(app: rtask.App, task: str, w: rtask.Worker) -> Callable[[], Awaitable[Any]]:
    """Whether `w` stands registered for hand-offs of `task`."""
    member = proto.park_member(int(w.config.lease_s * 1000), w.id)
    key = app.keys("default").parked(task)

    async def check() -> Any:
        return await app.async_client().redis.zscore(key, member)

    return check


def test_an_idle_worker_gets_each_job_handed_off(redis_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(redis_url, prefix=prefix)
        ran: list[int] = []

        @app.task(name="probe")
        async def probe(n: int) -> int:
            ran.append(n)
            return n * 2

        try:
            async with background(app, concurrency=4) as (w, _):
                for n in range(5):
                    await until(parked_on(app, "probe", w), "the worker to park")
                    job = await probe.enqueue(n)
                    assert await job.result(timeout=RESULT_TIMEOUT) == n * 2
                    info = await job.info()
                    assert (info.status, info.attempt, info.worker) == (
                        JobStatus.SUCCEEDED,
                        1,
                        w.id,
                    )
                assert ran == [0, 1, 2, 3, 4]
                # every job came by hand-off: none was claimed by claim.lua
                assert w.stats["handed_off"] == w.stats["claimed"] == 5
        finally:
            await close(app)

    run(body)


def test_capped_and_rate_limited_tasks_are_never_handed_off(redis_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(redis_url, prefix=prefix)

        @app.task(name="free")
        async def free() -> str:
            return "free"

        @app.task(name="capped", concurrency=2)
        async def capped() -> str:
            return "capped"

        @app.task(name="limited", rate_limit="100/s")
        async def limited() -> str:
            return "limited"

        try:
            async with background(app) as (w, _):
                await until(parked_on(app, "free", w), "the worker to park")
                for task in (capped, limited):
                    assert not await parked_on(app, task.name, w)()
                    job = await task.enqueue()
                    assert await job.result(timeout=RESULT_TIMEOUT) == task.name
                assert w.stats["handed_off"] == 0
                job = await free.enqueue()
                assert await job.result(timeout=RESULT_TIMEOUT) == "free"
                assert w.stats["handed_off"] == 1
        finally:
            await close(app)

    run(body)


@pytest.mark.parametrize("parks", [True, False], ids=["popped", "swept"])
def test_a_job_handed_to_a_worker_that_is_gone_still_runs_once(
    redis_url: str, prefix: str, parks: bool
) -> None:
    """Popped by the next worker that parks, or (a worker that does not park
    for the task: here, it caps it) handed back by the recovery sweep."""

    async def body() -> None:
        app = rtask.App(redis_url, prefix=prefix)
        ran: list[str] = []

        @app.task(name="probe", concurrency=None if parks else 5)
        async def probe() -> None:
            ran.append("probe")

        keys = app.keys("default")
        try:
            # a registration left by a worker that died while parked
            ghost = proto.park_member(30_000, "ghost")
            await app.async_client().run(proto.park(keys, ["probe"], member=ghost, live_ms=60_000))
            job = await probe.enqueue()
            info = await job.info()
            assert (info.status, info.worker) == (JobStatus.RUNNING, "ghost")
            async with background(app) as (w, _):
                await job.result(timeout=RESULT_TIMEOUT)
                assert w.stats["handed_off"] == (1 if parks else 0)
            assert ran == ["probe"]
            info = await job.info()
            assert (info.attempt, info.errors, info.worker) == (1, [], w.id)
        finally:
            await close(app)

    run(body)


def test_stop_ends_a_parked_pop_at_once_and_unregisters(redis_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(redis_url, prefix=prefix)

        @app.task(name="probe")
        async def probe() -> None:
            return None

        try:
            w = worker(app)
            runner = asyncio.create_task(w.run())
            await until(parked_on(app, "probe", w), "the worker to park")
            t0 = time.monotonic()
            w.stop()
            await stopped(runner, RESULT_TIMEOUT)
            # not the rest of a PARK_S-long pop
            assert time.monotonic() - t0 < _loops.PARK_S / 2
            assert not await parked_on(app, "probe", w)()
        finally:
            await close(app)

    run(body)


def test_a_job_handed_off_as_the_worker_closes_goes_back_unrun(redis_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(redis_url, prefix=prefix)

        @app.task(name="probe")
        async def probe() -> str:
            return "ran"

        keys = app.keys("default")
        client = app.async_client()
        try:
            w = worker(app)
            member = proto.park_member(int(w.config.lease_s * 1000), w.id)
            await client.run(proto.park(keys, ["probe"], member=member, live_ms=60_000))
            job = await probe.enqueue()
            entry = await client.redis.lpop(keys.handoff)  # what w's pop would take
            assert isinstance(entry, bytes)
            w._closed.set()  # run() has ended: no pump would report the job
            await _loops._adopt(w, client, w.queues[0], entry)
            info = await job.info()
            assert (info.status, info.attempt) == (JobStatus.QUEUED, 0)
            async with background(app) as _:
                assert await job.result(timeout=RESULT_TIMEOUT) == "ran"
        finally:
            await close(app)

    run(body)


def test_memory_workers_never_park(prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(f"memory://{prefix}", prefix=prefix)

        @app.task(name="probe")
        async def probe() -> int:
            return 1

        try:
            assert app.async_client().parker() is None
            async with background(app) as (w, _):
                assert await (await probe.enqueue()).result(timeout=RESULT_TIMEOUT) == 1
                assert w.stats["handed_off"] == 0
                assert not await app.async_client().redis.exists(
                    app.keys("default").parked("probe")
                )
        finally:
            await close(app)

    run(body)


def test_a_job_handed_off_to_a_full_worker_goes_back_in_line(redis_url: str, prefix: str) -> None:
    """A worker's slots may fill by claims while it stands parked: a pop then
    hands the job back rather than hold more than the worker may."""

    async def body() -> None:
        app = rtask.App(redis_url, prefix=prefix)
        release = asyncio.Event()

        # (capped, so that the worker does not park for it: the pop is this test's)
        @app.task(name="hold", concurrency=5)
        async def hold() -> str:
            await release.wait()
            return "done"

        keys = app.keys("default")
        client = app.async_client()
        try:
            async with background(app, concurrency=1, prefetch=0) as (w, _):
                first = await hold.enqueue()
                await until(lambda: _running(first), "the first job to run")
                assert not w.has_room()
                # a registration the worker made before it filled up
                member = proto.park_member(int(w.config.lease_s * 1000), w.id)
                await client.run(proto.park(keys, ["hold"], member=member, live_ms=60_000))
                second = await hold.enqueue()
                entry = await client.redis.lpop(keys.handoff)
                assert isinstance(entry, bytes)
                await _loops._adopt(w, client, w.queues[0], entry)
                info = await second.info()
                assert (info.status, info.attempt) == (JobStatus.QUEUED, 0)
                release.set()
                assert await second.result(timeout=RESULT_TIMEOUT) == "done"
                assert await first.result(timeout=RESULT_TIMEOUT) == "done"
        finally:
            await close(app)

    run(body)


async def _running(job: rtask.Job[Any]) -> bool:
    return (await job.info()).status is JobStatus.RUNNING


def test_a_parked_worker_keeps_its_slot_and_gives_it_up_to_a_claim(
    redis_url: str, prefix: str
) -> None:
    """The slot a parked worker keeps for a hand-off is not claimed from under
    it (a hand-off always finds room); a claim that wants that slot ends the
    park at once, and no hand-off comes to the worker while it is full."""

    async def body() -> None:
        app = rtask.App(redis_url, prefix=prefix)
        release = asyncio.Event()

        # (capped: never handed off, so it comes by a claim)
        @app.task(name="hold", concurrency=5)
        async def hold() -> str:
            await release.wait()
            return "done"

        @app.task(name="probe")
        async def probe() -> int:
            return 1

        try:
            async with background(app, concurrency=1, prefetch=0) as (w, _):
                await until(parked_on(app, "probe", w), "the worker to park")
                t0 = time.monotonic()
                held = await hold.enqueue()
                await until(lambda: _running(held), "the claimed job to run")
                # the park ended for the claim: it did not wait for its pop to time out
                assert time.monotonic() - t0 < _loops.PARK_S / 2
                assert w.parked == 0 and not await parked_on(app, "probe", w)()
                job = await probe.enqueue()
                assert (await job.info()).status is JobStatus.QUEUED
                release.set()
                assert await job.result(timeout=RESULT_TIMEOUT) == 1
                assert await held.result(timeout=RESULT_TIMEOUT) == "done"
                assert w.stats["claimed"] == 2 and w.stats["handed_off"] == 0
                assert (await job.info()).attempt == 1  # never handed back
        finally:
            await close(app)

    run(body)
