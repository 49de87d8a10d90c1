"""`rtask bench`: measure your own Redis with rtask and recommend settings.

Runs against the URL you give (a private key prefix, removed afterwards):
the round-trip time, the enqueue rate one at a time and in batches, and the
drain rate of an in-process worker at a few concurrencies. Prints what it
measured and the settings it recommends.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field

import redis.asyncio

from ._app import App
from ._client import redact

BATCH_SIZES = (10, 100, 1000)
CONCURRENCIES = (10, 50, 200, 500)


@dataclass
class BenchReport:
    """What `run_bench` measured."""

    url: str
    rtt_ms: float = 0.0
    enqueue_one_per_s: float = 0.0
    enqueue_batch_per_s: dict[int, float] = field(default_factory=dict)
    drain_per_s: dict[int, float] = field(default_factory=dict)

    def recommended_concurrency(self) -> int:
        """The smallest concurrency within 10 % of the best drain rate."""
        best = max(self.drain_per_s.values())
        return min(c for c, rate in self.drain_per_s.items() if rate >= 0.9 * best)

    def recommended_batch(self) -> int:
        """The smallest batch within 10 % of the best batched enqueue rate."""
        best = max(self.enqueue_batch_per_s.values())
        return min(b for b, rate in self.enqueue_batch_per_s.items() if rate >= 0.9 * best)

    def lines(self) -> list[str]:
        out = [
            f"rtask bench on {redact(self.url)}",
            f"  round trip (PING)      p50 {self.rtt_ms:.3f} ms",
            f"  enqueue, one at a time {self.enqueue_one_per_s:,.0f} jobs/s",
        ]
        for size, rate in self.enqueue_batch_per_s.items():
            out.append(f"  enqueue_many({size:>4})     {rate:,.0f} jobs/s")
        for conc, rate in self.drain_per_s.items():
            out.append(f"  worker concurrency {conc:>3}  {rate:,.0f} no-op jobs/s (one process)")
        out += [
            "recommended:",
            f"  rtask worker … --concurrency {self.recommended_concurrency()}"
            "   (for short async jobs; more if your jobs wait on I/O)",
            f"  enqueue in batches of {self.recommended_batch()} with enqueue_many",
        ]
        if self.rtt_ms > 1.0:
            out.append(
                f"  your round trip is {self.rtt_ms:.1f} ms: prefer enqueue_many and higher"
                " concurrency, which batch round trips"
            )
        return out


async def _rtt_ms(url: str, count: int = 200) -> float:
    if url.startswith("memory://"):
        return 0.0
    client = redis.asyncio.Redis.from_url(url)
    try:
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            await client.ping()
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)
    finally:
        await client.aclose()


async def _run_worker(app: App, concurrency: int) -> float:
    """Seconds an in-process worker takes to run every queued job."""
    worker = app.worker(concurrency=concurrency, handle_signals=False)
    started = time.perf_counter()
    await worker.run(burst=True)
    return time.perf_counter() - started


async def _drain(app: App, n: int, concurrency: int) -> float:
    await app.tasks["rtask.bench.noop"].enqueue_many([()] * n)
    return n / await _run_worker(app, concurrency)


async def run_bench(url: str, *, jobs: int = 5000) -> BenchReport:
    """Measure `url` with `jobs` no-op jobs per step; keys are removed afterwards."""
    prefix = f"rtask-bench-{os.getpid()}-{os.urandom(3).hex()}"
    app = App(url, prefix=prefix)

    @app.task(name="rtask.bench.noop")
    async def noop() -> None:
        return None

    report = BenchReport(url, rtt_ms=await _rtt_ms(url))
    try:
        count = max(100, jobs // 5)
        started = time.perf_counter()
        for _ in range(count):
            await noop.enqueue()
        report.enqueue_one_per_s = count / (time.perf_counter() - started)
        await _run_worker(app, 200)  # clears the queue for the next step
        for size in BATCH_SIZES:
            started = time.perf_counter()
            for _ in range(max(1, jobs // size)):
                await noop.enqueue_many([()] * size)
            elapsed = time.perf_counter() - started
            report.enqueue_batch_per_s[size] = max(1, jobs // size) * size / elapsed
            await _run_worker(app, 200)
        for concurrency in CONCURRENCIES:
            report.drain_per_s[concurrency] = await _drain(app, jobs, concurrency)
    finally:
        await _delete_prefix(app)
        await app.aclose()
    return report


async def _delete_prefix(app: App) -> None:
    client = app.async_client().redis
    batch = []
    async for key in client.scan_iter(match=f"{app.prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)


def main(url: str, jobs: int) -> None:
    """Entry point of `rtask bench`."""
    report = asyncio.run(run_bench(url, jobs=jobs))
    print("\n".join(report.lines()))
