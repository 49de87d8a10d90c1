"""Redis Sentinel: `redis+sentinel://` URLs reach the primary the sentinels
name, and a worker follows a failover with every acknowledged job finished."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import redis

from rtask import App, BackendError, ConfigError, JobStatus
from tests._redis_server import RedisServer
from tests.faults._harness import wait_until
from tests.scaleout._stream import run_stream
from tests.scaleout._topology import SERVICE, SentinelSet
from tests.scaleout._workers import start_worker
from tests.scaleout.apps import build_app

CONCURRENCY = 4


def test_sync_and_async_clients_reach_the_primary(sentinel_set: SentinelSet, prefix: str) -> None:
    app = App(sentinel_set.url, prefix=prefix)

    @app.task(name="add")
    async def add(x: int, y: int) -> int:
        return x + y

    job = add.enqueue_sync(1, 2)
    assert job.info().status is JobStatus.QUEUED

    async def scenario() -> int:
        try:
            await app.worker(["default"], concurrency=2).run(burst=True)
            return await (await app.job(job.id)).result(timeout=5)
        finally:
            await app.aclose()

    assert asyncio.run(scenario()) == 3
    # the job lives on the primary and was replicated
    with redis.Redis(port=sentinel_set.primary_port()) as r:
        assert r.exists(app.keys("default").jobs)
    app.close()


def test_wait_replicas(sentinel_set: SentinelSet, prefix: str) -> None:
    """wait_replicas=1 is met by the one replica; asking for 2 fails loudly."""
    app = App(f"{sentinel_set.url}&wait_replicas=1", prefix=prefix)
    noop = app.task(name="noop")(lambda: None)
    assert noop.enqueue_sync().info().status is JobStatus.QUEUED
    app.close()

    strict = App(f"{sentinel_set.url}&wait_replicas=2&wait_timeout_ms=50", prefix=prefix)
    strict_noop = strict.task(name="noop")(lambda: None)
    with pytest.raises(BackendError, match="1 of 2 replicas"):
        strict_noop.enqueue_sync()
    strict.close()


def test_clients_follow_a_demoted_primary(sentinel_set: SentinelSet, prefix: str) -> None:
    """SENTINEL FAILOVER swaps the roles: the old primary, still up, answers
    READONLY to the clients' open connections; they ask the sentinels again."""
    app = App(sentinel_set.url, prefix=prefix)
    noop = app.task(name="noop")(lambda: None)
    before = noop.enqueue_sync()

    async def enqueue() -> str:
        return (await noop.enqueue()).id

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(enqueue())  # the async client's connections are open too
        old = sentinel_set.primary_port()
        with redis.Redis(port=sentinel_set.sentinels[0].port) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
        wait_until(lambda: sentinel_set.primary_port() != old, 30, "the failover")
        with redis.Redis(port=old) as r:
            wait_until(lambda: r.info("replication")["role"] == "slave", 30, "the demotion")
        after_sync = noop.enqueue_sync()
        after_async = loop.run_until_complete(enqueue())
        with redis.Redis(port=sentinel_set.primary_port()) as r:
            stored = r.hkeys(app.keys("default").jobs)
        assert {before.id.encode(), after_sync.id.encode(), after_async.encode()} <= set(stored)
        loop.run_until_complete(app.aclose())
    finally:
        loop.close()
        app.close()


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://127.0.0.1:1/0",  # no service_name
        "redis+sentinel://127.0.0.1/0?service_name=m",  # no port
        "redis+sentinel://127.0.0.1:1/x?service_name=m",  # bad db
        "redis+sentinel://127.0.0.1:1/0?service_name=m&wait_replicas=two",
    ],
)
def test_bad_sentinel_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        App(url)


def test_worker_follows_a_failover(
    sentinel_set: SentinelSet, record_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    """SIGKILL the primary mid-stream: the sentinels promote the replica, the
    worker and the producer follow it, every acknowledged job succeeds."""
    app = build_app(sentinel_set.url, prefix, record_server.url)
    worker = start_worker(
        sentinel_set.url, prefix, record_server.url, tmp_path / "worker.log",
        "--concurrency", str(CONCURRENCY), "--prefetch", "0", "--lease", "3", "--grace", "1",
    )  # fmt: skip
    old = sentinel_set.primary_port()
    record = redis.Redis(port=record_server.port)
    try:
        report = run_stream(
            [app.tasks["work"]],
            record,
            prefix,
            kill=lambda: sentinel_set.server_on(old).kill(),
            on_timeout=worker.output_tail,
        )
        print(f"\nsentinel failover: {report}")
        assert sentinel_set.primary_port() != old
        assert report.statuses == {JobStatus.SUCCEEDED: report.acked}
        # only jobs the worker held when the primary died (running, or run
        # with their outcome not yet written) can run twice
        assert report.ran_twice <= 2 * CONCURRENCY, report
        assert worker.alive
        worker.send(signal.SIGTERM)
        assert worker.wait_exit(20) == 0, worker.output_tail()
    finally:
        worker.kill_group()
        record.close()
        app.close()


def test_resend_rules() -> None:
    """Pure parts of the sentinel client: what is sent again, what WAIT means."""
    import time

    from rtask import _protocol as proto
    from rtask._keys import queue_keys
    from rtask._sentinel import _NOT_RUN, _replies, _unknown
    from tests.lua._state import new_job

    enqueue = proto.enqueue(queue_keys("p", "q"), [new_job("j")], now_ms=1)
    claim = proto.claim(queue_keys("p", "q"), "q", worker="w", n=1, lease_ms=1000, tasks=[])
    broken = redis.exceptions.ConnectionError("reset")
    later = time.monotonic() + 60
    assert _unknown(broken, [enqueue], later) is None  # idempotent: sent again
    assert isinstance(_unknown(broken, [enqueue, claim], later), BackendError)
    assert isinstance(_unknown(broken, [enqueue], time.monotonic() - 1), BackendError)

    noscript = redis.exceptions.NoScriptError("NOSCRIPT")
    assert _replies([enqueue], [noscript], 0) == [_NOT_RUN]
    assert _replies([enqueue], [[1, 1], 1], 1)[0].stored == [True]
    with pytest.raises(BackendError, match="only 0 of 1 replicas"):
        _replies([enqueue], [[1, 1], 0], 1)
