"""Redis dies and comes back (empty: no persistence): the worker survives,
reconnects, reloads its scripts (NOSCRIPT) and runs new jobs."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtask import JobNotFound, JobStatus
from tests._redis_server import RedisServer
from tests.faults._harness import Harness
from tests.faults.apps import build_app


@pytest.fixture
def own_harness(own_redis_server: RedisServer, prefix: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(own_redis_server.url, prefix, tmp_path)
    try:
        yield h
    finally:
        h.close()


def _all_succeeded(h: Harness, jobs: list) -> bool:  # type: ignore[type-arg]
    return all(i.status is JobStatus.SUCCEEDED for i in h.infos(jobs))


def test_worker_survives_redis_restart(own_redis_server: RedisServer, own_harness: Harness) -> None:
    h, server = own_harness, own_redis_server
    worker = h.worker("--concurrency", "10", "--lease", "2", "--grace", "1")
    before = h.app.tasks["sleepy"].enqueue_many_sync([(0.01,)] * 5)
    h.wait(lambda: _all_succeeded(h, before), 20, "the jobs before the restart")

    # Jobs running while Redis dies: their records vanish with it.
    h.app.tasks["sleepy"].enqueue_many_sync([(30.0,)] * 3)
    h.wait(lambda: h.ran_count() == 8, 20, "3 long jobs to start")
    server.kill()
    h.wait(
        lambda: "heartbeat failed" in worker.output(),
        20,
        "the worker to notice Redis is gone",
    )
    assert worker.alive
    server.start()  # same port, empty, no scripts loaded
    with pytest.raises(JobNotFound):
        before[0].info()

    # The worker's heartbeat reaches the new server (NOSCRIPT → script reloaded).
    h.wait(lambda: h.worker_pids() == {worker.pid}, 20, "the worker to heartbeat again")
    after = h.app.tasks["sleepy"].enqueue_many_sync([(0.01,)] * 20)
    h.wait(lambda: _all_succeeded(h, after), 20, "the jobs enqueued after the restart")
    for info in h.infos(after):
        assert (info.attempt, info.errors) == (1, []), info
    assert {r.pid for r in h.ran()} == {worker.pid}
    assert worker.alive

    # The long jobs lost with the old data were stopped, so shutdown is quick and clean.
    h.wait(lambda: h.running_count() == 0, 10, "nothing running")
    worker.send(signal.SIGTERM)
    assert worker.wait_exit(15) == 0


def test_sync_producer_after_redis_restart(own_redis_server: RedisServer, prefix: str) -> None:
    """The first calls after Redis came back succeed: stale connections are replaced."""
    app = build_app(own_redis_server.url, prefix)
    task = app.tasks["free"]
    try:
        assert all(j.created for j in task.enqueue_many_sync([()] * 3))
        own_redis_server.kill()
        own_redis_server.start()
        job = task.enqueue_sync()  # NOSCRIPT on the empty server: loaded again
        assert job.info().status is JobStatus.QUEUED
    finally:
        app.close()


def test_async_producer_after_redis_restart(own_redis_server: RedisServer, prefix: str) -> None:
    """Like the sync client, the async client's first calls after Redis came back
    succeed; several concurrent calls first fill its pool with connections."""
    app = build_app(own_redis_server.url, prefix)
    task = app.tasks["free"]

    async def scenario() -> list[JobStatus]:
        try:
            await asyncio.gather(*(task.enqueue() for _ in range(5)))
            own_redis_server.kill()
            own_redis_server.start()
            jobs = await asyncio.gather(*(task.enqueue() for _ in range(5)))
            return [(await job.info()).status for job in jobs]
        finally:
            await app.aclose()

    assert asyncio.run(scenario()) == [JobStatus.QUEUED] * 5
