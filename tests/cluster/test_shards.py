"""A sharded queue on the 3-primary cluster, drained by two worker processes
with a per-task concurrency cap that is never exceeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from rtask import JobStatus
from tests._redis_server import unique_prefix
from tests.cluster._cluster import LocalCluster
from tests.cluster.shard_apps import CAP, QUEUE, SHARDS, build_app, record_key
from tests.faults._harness import REPO, WorkerProcess, wait_until

pytestmark = pytest.mark.timeout(120)
CAPPED_JOBS = 60
FREE_JOBS = 30


def test_sharded_queue_two_processes_cap_never_exceeded(
    cluster: LocalCluster, redis_url: str, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    app = build_app(cluster.url, prefix, redis_url)
    record = redis.Redis.from_url(redis_url)
    shards = app.shards(QUEUE)
    assert len(shards) == SHARDS
    # the shards' hash tags spread the queue over every primary
    owners = {cluster.slot_owner(key_slot(app.keys(s).jobs.encode())) for s in shards}
    assert owners == {node.port for node in cluster.primaries()}

    env = dict(os.environ)
    env.update(
        RTASK_TEST_URL=cluster.url,
        RTASK_TEST_PREFIX=prefix,
        RTASK_TEST_RECORD_URL=redis_url,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    workers = [
        WorkerProcess(
            ["worker", "tests.cluster.shard_apps:app", "--concurrency", "2", "--prefetch", "0",
             "--lease", "10"],
            env,
            tmp_path / f"worker-{i}.log",
        )
        for i in range(2)
    ]  # fmt: skip
    try:
        # each process holds at most 2 jobs: reaching the cap of 3 takes both
        for w in workers:
            wait_until(lambda w=w: f"serving {QUEUE}" in w.output(), 30, f"{w!r} to start")
        capped = app.tasks["capped"].enqueue_many_sync([(0.05,)] * CAPPED_JOBS)
        free = app.tasks["free"].enqueue_many_sync([()] * FREE_JOBS)
        assert {j.queue for j in capped} == set(shards)

        def finished() -> bool:
            return app.stats_sync([QUEUE])[0].succeeded == CAPPED_JOBS + FREE_JOBS

        wait_until(finished, 60, "every job to finish")
        infos = [j.info() for j in capped + free]
        assert {i.status for i in infos} == {JobStatus.SUCCEEDED}
        assert all(i.attempt == 1 for i in infos)

        # never more than CAP capped runs at once across both processes and
        # all six shards, and the cap was reached
        assert int(record.get(record_key(prefix, "max")) or 0) == CAP
        assert int(record.get(record_key(prefix, "running")) or 0) == 0
        runs = [r.decode().split() for r in record.lrange(record_key(prefix, "ran"), 0, -1)]
        assert len(runs) == CAPPED_JOBS + FREE_JOBS  # each job ran once
        assert {int(pid) for pid, task, _ in runs if task == "capped"} == {w.pid for w in workers}
        assert {q for _, task, q in runs if task == "capped"} == set(shards)

        # the logical queue's stats sum its shards; a job is found by its id
        stats = app.stats_sync([QUEUE])[0]
        assert [s.queue for s in stats.shards] == shards
        assert sum(s.succeeded for s in stats.shards) == stats.succeeded
        assert (stats.queued, stats.running) == (0, 0)
        some = capped[7]
        assert app.job_sync(some.id, QUEUE).queue == some.queue

        for w in workers:
            w.send(signal.SIGTERM)
        assert [w.wait_exit(20) for w in workers] == [0, 0], workers[0].output_tail()
        assert "Traceback" not in workers[0].output() + workers[1].output()
        # the workers gave their permits back on the way out
        node = cluster.primaries()[0]
        with redis.RedisCluster(host=cluster.host, port=node.port) as home:
            assert home.zcard(app.keys(QUEUE).permits("capped")) == 0
    finally:
        for w in workers:
            w.kill_group()
        app.close()
        record.delete(*(record_key(prefix, n) for n in ("ran", "running", "max")))


def test_the_sharded_cluster_example_runs_on_the_cluster(cluster: LocalCluster) -> None:
    env = dict(os.environ, RTASK_CLUSTER_URL=cluster.url)
    done = subprocess.run(
        [sys.executable, "examples/sharded_cluster/main.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for line in (
        "backend: redis+cluster",
        "every shard got jobs: True",
        "emails sent, in order: True",
        "render_pdf cap held across shards: peak 2 <= 2: True",
        "found by id in its shard: True",
        "stats: 60 succeeded over 4 shards",
    ):
        assert line in done.stdout, done.stdout
