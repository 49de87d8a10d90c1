"""Kill a primary of a Redis Cluster mid-stream: its replica takes over, the
worker and the producer follow, every acknowledged job reaches a final status."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from rtask import JobStatus
from tests._redis_server import RedisServer
from tests.cluster._cluster import LocalCluster
from tests.cluster.conftest import queues_on_every_node
from tests.scaleout._stream import run_stream
from tests.scaleout._workers import start_worker
from tests.scaleout.apps import build_app

CONCURRENCY = 4


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """3 primaries + 3 replicas; a silent primary fails over after about 1 s."""
    nodes = LocalCluster(tmp_path / "cluster", replicas=1, node_timeout_ms=1000).start()
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def record(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(dir=tmp_path / "record") as server:
        yield server


def test_a_replica_takes_over_and_no_acknowledged_job_is_lost(
    replicated_cluster: LocalCluster, record: RedisServer, prefix: str, tmp_path: Path
) -> None:
    cluster = replicated_cluster
    queues = queues_on_every_node(cluster, f"fq{prefix[-6:]}")
    app = build_app(cluster.url, prefix, record.url, tuple(queues))
    worker = start_worker(
        cluster.url, prefix, record.url, tmp_path / "worker.log",
        "--queues", ",".join(queues), "--concurrency", str(CONCURRENCY),
        "--prefetch", "0", "--lease", "3", "--grace", "1",
        queues=",".join(queues),
    )  # fmt: skip
    victim = cluster.slot_owner(key_slot(queues[0].encode()))
    recorder = redis.Redis(port=record.port)
    try:
        report = run_stream(
            [app.tasks[f"work.{q}"] for q in queues],
            recorder,
            prefix,
            kill=lambda: cluster.node_on(victim).kill(),
            on_timeout=worker.output_tail,
        )
        print(f"\ncluster failover: {report}")
        new_owner = cluster.slot_owner(key_slot(queues[0].encode()))
        assert new_owner != victim
        assert report.statuses == {JobStatus.SUCCEEDED: report.acked}
        assert report.ran_twice <= 2 * CONCURRENCY, report
        assert worker.alive
        worker.send(signal.SIGTERM)
        assert worker.wait_exit(20) == 0, worker.output_tail()
        assert "Traceback" not in worker.output(), worker.output_tail()
    finally:
        worker.kill_group()
        recorder.close()
        app.close()
