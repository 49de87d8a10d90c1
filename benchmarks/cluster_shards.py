"""Throughput of no-op jobs on a 3-primary Redis Cluster with 1, 3 and 6
queue shards, drained by 2 worker processes:

    .venv/bin/python benchmarks/cluster_shards.py [--jobs 20000] [--runs 3]

Starts a LocalCluster on free loopback ports (as the cluster tests do, in a
temp dir, stopped by pid). Per run: a fresh key prefix; two `rtask worker`
processes (`--concurrency 100`) start on the empty queue and are waited for;
then N no-op jobs are enqueued with `enqueue_many` (one call per shard and
1,000 jobs) and the clock runs from the enqueue until every job succeeded
(polled from the queue's stats, summed over its shards). Prints a Markdown
table of the medians of `--runs` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.cluster_shards_app import QUEUE, make  # noqa: E402
from tests.cluster._cluster import LocalCluster  # noqa: E402

APP_MODULE = "benchmarks.cluster_shards_app:app"
PROCESSES = 2


def spawn(url: str, prefix: str, shards: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = dict(
        os.environ,
        RTASK_BENCH_URL=url,
        RTASK_BENCH_PREFIX=prefix,
        RTASK_BENCH_SHARDS=str(shards),
        PYTHONPATH=str(ROOT),
    )
    argv = [sys.executable, "-m", "rtask", "worker", APP_MODULE, "--concurrency", "100"]
    procs = []
    for i in range(PROCESSES):
        with (logs / f"{prefix}-{i}.log").open("wb") as out:
            procs.append(
                subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            )
    return procs


def wait_for(cond: object, timeout: float, every: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(every)  # polling other processes' progress


def one_run(url: str, shards: int, jobs: int, logs: Path) -> float:
    """Jobs per second of one drain."""
    prefix = f"bs{uuid.uuid4().hex[:8]}"
    app = make(url, prefix, shards)
    procs = spawn(url, prefix, shards, logs)
    try:
        logs_of = [logs / f"{prefix}-{i}.log" for i in range(PROCESSES)]
        wait_for(lambda: all("serving" in p.read_text() for p in logs_of), 60, 0.05)
        started = time.perf_counter()
        task = app.tasks["noop"]
        for i in range(0, jobs, 5000):
            task.enqueue_many_sync([()] * min(5000, jobs - i))
        enqueued = time.perf_counter() - started
        wait_for(lambda: app.stats_sync([QUEUE])[0].succeeded >= jobs, 600, 0.02)
        took = time.perf_counter() - started
        print(f"  {shards} shards: enqueued in {enqueued:.2f}s, drained in {took:.2f}s",
              file=sys.stderr)  # fmt: skip
        return jobs / took
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shards", default="1,3,6")
    args = parser.parse_args()
    counts = [int(s) for s in args.shards.split(",")]
    with tempfile.TemporaryDirectory(prefix="rtask-cluster-bench-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster").start()
        try:
            rows = []
            for shards in counts:
                rates = [
                    one_run(cluster.url, shards, args.jobs, Path(tmp)) for _ in range(args.runs)
                ]
                rows.append((shards, statistics.median(rates), rates))
                print(f"shards={shards}: {[round(r) for r in rates]} jobs/s", file=sys.stderr)
        finally:
            cluster.stop()
    print(f"| shards | jobs/s (median of {args.runs}) | runs |")
    print("|---:|---:|---|")
    for shards, median, rates in rows:
        print(f"| {shards} | {median:,.0f} | {', '.join(f'{r:,.0f}' for r in rates)} |")


if __name__ == "__main__":
    main()
