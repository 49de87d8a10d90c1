"""`python -m rtask worker` draining queues on three cluster nodes."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rtask import JobStatus
from tests._redis_server import unique_prefix
from tests.cluster.apps import build_app
from tests.faults._harness import REPO, WorkerProcess

pytestmark = pytest.mark.timeout(90)
RESULT_TIMEOUT = 30.0


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for proc in started:
        proc.kill_group()


def start_worker(
    workers: list[WorkerProcess], tmp_path: Path, env: dict[str, str], *args: str
) -> WorkerProcess:
    log = tmp_path / f"worker-{len(workers)}.log"
    proc = WorkerProcess(["worker", "tests.cluster.apps:app", *args], env, log)
    workers.append(proc)
    return proc


def test_worker_process_drains_three_nodes(
    cluster_url: str,
    spread_queues: Callable[[], list[str]],
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    queues = spread_queues()
    prefix = unique_prefix()
    env = dict(os.environ)
    env.update(
        RTASK_TEST_URL=cluster_url,
        RTASK_TEST_PREFIX=prefix,
        RTASK_TEST_QUEUES=",".join(queues),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    app = build_app(cluster_url, prefix, queues)
    tasks = {q: app.get_task(f"where.{q}") for q in queues}
    try:
        # a backlog on every node before the worker starts
        first = [
            job for q in queues for job in tasks[q].enqueue_many_sync([(n,) for n in range(30)])
        ]
        proc = start_worker(
            workers, tmp_path, env,
            "--queues", ",".join(queues), "--concurrency", "20", "--lease", "5", "--grace", "5",
        )  # fmt: skip
        results = [job.result(timeout=RESULT_TIMEOUT) for job in first]
        assert [(q, n) for q, n, _, _ in results] == [(q, n) for q in queues for n in range(30)]
        assert {pid for _, _, pid, _ in results} == {proc.pid}, proc.output_tail()
        # jobs arriving while the worker waits (woken through pub/sub), one retried
        second = [tasks[q].enqueue_sync(100, fail_first=(q == queues[1])) for q in queues]
        again = [job.result(timeout=RESULT_TIMEOUT) for job in second]
        assert [(q, n, attempt) for q, n, _, attempt in again] == [
            (queues[0], 100, 1),
            (queues[1], 100, 2),
            (queues[2], 100, 1),
        ]
        retried = second[1].info()
        assert retried.status is JobStatus.SUCCEEDED
        assert [e["message"] for e in retried.errors] == [
            "builtins.RuntimeError: first attempt fails"
        ]

        proc.send(signal.SIGTERM)
        assert proc.wait_exit(20) == 0, proc.output_tail()
        assert "Traceback" not in proc.output(), proc.output_tail()
    finally:
        app.close()


def test_burst_worker_process_exits_when_the_cluster_queues_are_empty(
    cluster_url: str,
    spread_queues: Callable[[], list[str]],
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    queues = spread_queues()
    prefix = unique_prefix()
    env = dict(os.environ)
    env.update(
        RTASK_TEST_URL=cluster_url,
        RTASK_TEST_PREFIX=prefix,
        RTASK_TEST_QUEUES=",".join(queues),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    app = build_app(cluster_url, prefix, queues)
    try:
        jobs = [app.get_task(f"where.{q}").enqueue_sync(n) for n in range(5) for q in queues]
        proc = start_worker(workers, tmp_path, env, "--queues", ",".join(queues), "--burst")
        assert proc.wait_exit(60) == 0, proc.output_tail()
        assert [j.info().status for j in jobs] == [JobStatus.SUCCEEDED] * 15
        assert {j.result(timeout=1)[2] for j in jobs} == {proc.pid}
    finally:
        app.close()
