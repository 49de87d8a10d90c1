"""rtask's own figures, without the peers: `./dev bench-core` (or
`.venv/bin/python benchmarks/core.py`).

Starts a private redis-server on a free loopback port and measures, with
no-op tasks (no Redis call inside the task, unlike the peer harness):

* enqueue rate, one at a time (async and sync) and bulk (`enqueue_many`);
* drain rate of N queued jobs with 1 and 2 worker processes (`rtask worker`),
  Redis commands per job (INFO commandstats, commands inside scripts
  included) and Redis CPU per 1,000 jobs (INFO cpu);
* 2,000 jobs sleeping 10 ms on one worker process at concurrency 100
  (wall time from the first start to the last end, over the ideal 0.2 s);
* pickup latency, enqueue → start, on an idle worker (jobs 5 ms apart);
* what an idle worker costs Redis per second (commands/s over 10 s).

Each figure is the median of `--runs` runs. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rtask  # noqa: E402
from benchmarks.adapters.base import compile_sources  # noqa: E402
from tests._redis_server import RedisServer  # noqa: E402

PREFIX = "core"
APP_MODULE = "benchmarks.core_app:app"


def build_app(url: str) -> Any:
    os.environ["RTASK_BENCH_URL"] = url
    from benchmarks import core_app

    return core_app.make(url)


def redis_totals(r: redis.Redis) -> tuple[int, float]:
    stats = r.info("commandstats")
    cpu = r.info("cpu")
    calls = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
    return calls, cpu["used_cpu_sys"] + cpu["used_cpu_user"]


def spawn_workers(url: str, processes: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, RTASK_BENCH_URL=url, PYTHONPATH=str(ROOT))
    argv = [
        sys.executable,
        "-m",
        "rtask",
        "--log-level",
        "WARNING",
        "worker",
        APP_MODULE,
        "--concurrency",
        str(concurrency),
    ]
    return [subprocess.Popen(argv, env=env, cwd=ROOT) for _ in range(processes)]


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)


def wait_for(cond: Callable[[], bool], timeout: float = 120.0, every: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(every)  # polling an external process's progress


def enqueue_rates(url: str, n: int) -> dict[str, float]:
    app = build_app(url)
    task = app.tasks["noop"]
    r = redis.Redis.from_url(url)

    async def one_by_one() -> float:
        started = time.perf_counter()
        for _ in range(n):
            await task.enqueue()
        return n / (time.perf_counter() - started)

    async def bulk() -> float:
        started = time.perf_counter()
        await task.enqueue_many([()] * n)
        return n / (time.perf_counter() - started)

    out = {"enqueue one (async)": asyncio.run(one_by_one())}
    r.flushall()
    started = time.perf_counter()
    for _ in range(n):
        task.enqueue_sync()
    out["enqueue one (sync)"] = n / (time.perf_counter() - started)
    r.flushall()
    out["enqueue bulk"] = asyncio.run(bulk())
    r.flushall()
    started = time.perf_counter()
    for _ in range(n):
        r.lpush("baseline", b"x" * 64)
    out["baseline LPUSH loop (sync)"] = n / (time.perf_counter() - started)
    r.flushall()
    return out


def drain(url: str, n: int, processes: int, concurrency: int) -> dict[str, float]:
    app = build_app(url)
    r = redis.Redis.from_url(url)
    app.tasks["noop"].enqueue_many_sync([()] * n)
    keys = app.keys("default")
    calls0, cpu0 = redis_totals(r)
    started = time.perf_counter()
    procs = spawn_workers(url, processes, concurrency)
    zcards = 0

    def drained() -> bool:
        nonlocal zcards
        zcards += 1
        if r.zcard(keys.succeeded) < min(n, app.retention.succeeded_max):
            return False
        zcards += 2
        ready, running = r.zcard(keys.ready("noop")), r.zcard(keys.running)
        return ready == 0 and running == 0

    try:
        wait_for(drained)
        elapsed = time.perf_counter() - started
        calls1, cpu1 = redis_totals(r)
        calls1 -= zcards  # the wait loop's own commands are not the worker's
    finally:
        stop(procs)
    r.flushall()
    return {
        f"drain {processes} proc (jobs/s)": n / elapsed,
        f"drain {processes} proc: Redis commands/job": (calls1 - calls0) / n,
        f"drain {processes} proc: Redis CPU ms/1k jobs": (cpu1 - cpu0) * 1e6 / n,
    }


def sleep_bound(url: str, n: int = 2000, concurrency: int = 100) -> dict[str, float]:
    """n jobs sleeping 10 ms, one worker process at `concurrency` (ideal n/concurrency × 10 ms)."""
    app = build_app(url)
    r = redis.Redis.from_url(url)
    jobs = app.tasks["sleep10"].enqueue_many_sync([()] * n)
    keys = app.keys("default")
    procs = spawn_workers(url, 1, concurrency)
    try:
        wait_for(lambda: r.zcard(keys.succeeded) >= n)
        infos = [j.info() for j in jobs]
    finally:
        stop(procs)
    r.flushall()
    first = min(i.started_at for i in infos if i.started_at)
    last = max(i.result for i in infos)  # each job returns time.time() at its end
    ideal = n / concurrency * 0.010
    return {"sleep-bound 2000 x 10 ms, c=100: wall / ideal": (last - first.timestamp()) / ideal}


def pickup_and_idle(url: str, count: int, idle_s: float) -> dict[str, float]:
    app = build_app(url)
    r = redis.Redis.from_url(url)
    procs = spawn_workers(url, 1, 100)
    try:
        probe = app.tasks["probe"]
        probe.enqueue_sync(time.time()).result(timeout=30)  # worker is up
        time.sleep(1.0)  # let start-up traffic settle before counting idle cost
        calls0, _ = redis_totals(r)
        time.sleep(idle_s)  # the measurement window itself
        calls1, _ = redis_totals(r)
        latencies = []
        for _ in range(count):
            job = probe.enqueue_sync(time.time())
            time.sleep(0.005)  # pacing: jobs 5 ms apart
            latencies.append(job)
        values = sorted(j.result(timeout=30) * 1000 for j in latencies)
    finally:
        stop(procs)
    r.flushall()
    return {
        "pickup p50 (ms)": values[len(values) // 2],
        "pickup p99 (ms)": values[int(len(values) * 0.99) - 1],
        "idle worker: Redis commands/s": (calls1 - calls0) / idle_s,
    }


def main() -> None:
    compile_sources()  # worker processes start from bytecode, as from a wheel
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--pickup", type=int, default=500)
    parser.add_argument("--idle-s", type=float, default=10.0)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {}
    with RedisServer() as server:
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs}", file=sys.stderr)
            figures: dict[str, float] = {}
            figures |= enqueue_rates(server.url, args.n)
            figures |= drain(server.url, args.n, 1, args.concurrency)
            figures |= drain(server.url, args.n, 2, args.concurrency)
            figures |= sleep_bound(server.url)
            figures |= pickup_and_idle(server.url, args.pickup, args.idle_s)
            for key, value in figures.items():
                runs.setdefault(key, []).append(value)
    print(
        f"\nrtask {rtask.__version__}, N={args.n}, concurrency {args.concurrency}, "
        f"medians of {args.runs} runs ({os.cpu_count()} cores, redis-server on loopback)\n"
    )
    print("| figure | median | runs |\n|---|--:|---|")
    for key, values in runs.items():
        fmt = (lambda v: f"{v:,.2f}") if max(values) < 100 else (lambda v: f"{v:,.0f}")
        print(f"| {key} | {fmt(statistics.median(values))} | {', '.join(fmt(v) for v in values)} |")


if __name__ == "__main__":
    main()
