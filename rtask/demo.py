"""The demo: `python -m rtask.demo` (or `./dev demo`).

Starts worker processes and a producer on the local Redis (`RTASK_REDIS_URL`,
else redis://localhost:6379/0 when it answers), or else in-process on
`memory://`. Enqueues a large batch (some jobs fail and retry, a few fail for
good, some are delayed), shows progress, and ends with a summary: jobs/s,
time in queue, idle pickup latency p50/p99, outcomes by status.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import click
import redis

import rtask
from rtask import backoff
from rtask._protocol import read_job

# Worker processes import this module: the App is built from the environment.
URL = os.environ.get("RTASK_DEMO_URL", "memory://demo")
PREFIX = os.environ.get("RTASK_DEMO_PREFIX", "rtask-demo")
app = rtask.App(URL, prefix=PREFIX, retention=rtask.Retention(succeeded_max=1_000_000))


@app.task(name="demo.work", max_attempts=3, backoff=backoff.constant(0.2))
async def work(kind: str) -> str:
    """A no-op job; `flaky` fails its first attempt, `broken` every attempt."""
    attempt = rtask.current_job().attempt
    if kind == "flaky" and attempt == 1:
        raise RuntimeError("flaky: first attempt fails")
    if kind == "broken":
        raise RuntimeError("broken: always fails")
    return kind


@app.task(name="demo.probe")
async def probe(sent_at: float) -> float:
    """Pickup latency: seconds from enqueue (producer clock) to start (same host)."""
    return time.time() - sent_at


def pick_url() -> str:
    """RTASK_REDIS_URL, else the local Redis if it answers, else memory://."""
    url = os.environ.get("RTASK_REDIS_URL")
    if url:
        return url
    try:
        redis.Redis.from_url("redis://localhost:6379/0", socket_timeout=0.5).ping()
    except redis.RedisError:
        return "memory://demo"
    return "redis://localhost:6379/0"


def _kinds(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return rng.choices(["ok", "flaky", "broken", "delayed"], weights=[90, 6, 1, 3], k=n)


async def _enqueue(n: int, bar: Any) -> tuple[list[rtask.Job[str]], float]:
    jobs: list[rtask.Job[str]] = []
    kinds = _kinds(n)
    started = time.perf_counter()
    for i in range(0, n, 1000):
        chunk = kinds[i : i + 1000]
        now = [(k,) for k in chunk if k != "delayed"]
        jobs += await work.enqueue_many(now)
        delayed = len(chunk) - len(now)
        if delayed:
            jobs += await work.options(delay=1.0).enqueue_many([("delayed",)] * delayed)
        bar(len(jobs))
    return jobs, time.perf_counter() - started


async def _finished_count() -> int:
    keys = app.keys("default")
    pipe = app.async_client().redis.pipeline(transaction=False)
    for index in (keys.succeeded, keys.failed, keys.cancelled):
        pipe.zcard(index)
    return sum(await pipe.execute())


async def _wait_all(n: int, bar: Any) -> None:
    while (done := await _finished_count()) < n:
        bar(done)
        await asyncio.sleep(0.1)  # progress display refresh
    bar(n)


def _bar(label: str, total: int) -> Any:
    def show(done: int) -> None:
        width = 40
        fill = int(width * done / max(total, 1))
        sys.stderr.write(f"\r{label:>9} [{'#' * fill}{'.' * (width - fill)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


async def _pickup_probe(count: int) -> list[float]:
    """Idle workers: enqueue one job at a time, 5 ms apart; enqueue → start in ms."""
    jobs = []
    for _ in range(count):
        jobs.append(await probe.enqueue(time.time()))
        await asyncio.sleep(0.005)  # the probe's pacing, not a wait for a result
    return [await j.result(timeout=10) * 1000 for j in jobs]


async def _summary(jobs: list[rtask.Job[str]], elapsed: float, enqueue_s: float) -> None:
    statuses: Counter[str] = Counter()
    waits = []
    keys = app.keys("default")
    for i in range(0, len(jobs), 1000):
        chunk = jobs[i : i + 1000]
        raws = await app.async_client().run_many([read_job(keys, j.id) for j in chunk])
        for job, raw in zip(chunk, raws, strict=True):
            info = rtask.JobInfo.from_raw(job.id, "default", raw)
            statuses[info.status.value] += 1
            if info.attempt == 1 and info.started_at and info.created_at:
                waits.append((info.started_at - info.created_at).total_seconds() * 1000)
    pickup = await _pickup_probe(200)
    n = len(jobs)
    by_status = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    print(f"\n  jobs            {n}  ({by_status})")
    print(f"  enqueue         {n / enqueue_s:,.0f} jobs/s (bulk, 1000 per call)")
    print(f"  throughput      {n / elapsed:,.0f} jobs/s (enqueue start → last job finished)")
    print(f"  time in queue   p50 {_pct(waits, 50):.1f} ms, p99 {_pct(waits, 99):.1f} ms")
    print(
        f"  idle pickup     p50 {_pct(pickup, 50):.2f} ms, p99 {_pct(pickup, 99):.2f} ms"
        f" (200 jobs enqueued 5 ms apart)"
    )


async def _produce(n: int) -> None:
    started = time.perf_counter()
    jobs, enqueue_s = await _enqueue(n, _bar("enqueued", n))
    await _wait_all(n, _bar("finished", n))
    await _summary(jobs, time.perf_counter() - started, enqueue_s)


async def _run_in_process(n: int, concurrency: int) -> None:
    worker = app.worker(concurrency=concurrency, handle_signals=False)
    running = asyncio.create_task(worker.run())
    try:
        await _produce(n)
    finally:
        worker.stop()
        await running


def _cleanup(url: str) -> None:
    client = redis.Redis.from_url(url)
    for batch in _batched(client.scan_iter(f"{PREFIX}:*", count=1000), 1000):
        client.unlink(*batch)


def _batched(items: Any, size: int) -> Any:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@click.command()
@click.option(
    "--jobs", "n", type=int, default=None, help="Jobs to run (default 50,000; 5,000 on memory://)."
)
@click.option("--processes", default=2, show_default=True, help="Worker processes (Redis only).")
@click.option("--concurrency", default=200, show_default=True, help="Jobs at once per process.")
def main(n: int | None, processes: int, concurrency: int) -> None:
    """Run the rtask demo."""
    url = pick_url()
    prefix = f"rtask-demo-{os.getpid()}"
    os.environ.update(RTASK_DEMO_URL=url, RTASK_DEMO_PREFIX=prefix)
    global app, work, probe
    memory = url.startswith("memory://")
    n = n or (5_000 if memory else 50_000)
    # rebuild the App with the chosen URL and a prefix private to this run
    app = rtask.App(url, prefix=prefix, retention=rtask.Retention(succeeded_max=1_000_000))
    work = app.task(name="demo.work", max_attempts=3, backoff=backoff.constant(0.2))(work.fn)
    probe = app.task(name="demo.probe")(probe.fn)
    where = "the embedded memory:// mode" if memory else rtask._client.redact(url)
    print(f"rtask demo: {n} jobs on {where}")
    if memory:
        print("  one in-process worker")
        asyncio.run(_run_in_process(n, concurrency))
        return
    print(f"  {processes} worker processes × concurrency {concurrency}, key prefix {prefix}")
    workers = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtask",
            "--log-level",
            "WARNING",
            "worker",
            "rtask.demo:app",
            "--processes",
            str(processes),
            "--concurrency",
            str(concurrency),
        ],
    )
    try:
        asyncio.run(_produce(n))
    finally:
        workers.send_signal(signal.SIGTERM)
        workers.wait(timeout=60)
        _cleanup(url)


if __name__ == "__main__":
    main()
