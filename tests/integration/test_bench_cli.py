"""`rtask bench` measures a Redis, recommends settings and leaves no keys behind."""

from __future__ import annotations

import asyncio

import redis
from click.testing import CliRunner

from rtask._bench import BATCH_SIZES, CONCURRENCIES, BenchReport, run_bench
from rtask._cli import main


def test_report_recommends_the_smallest_setting_near_the_best() -> None:
    report = BenchReport(
        "redis://x",
        enqueue_batch_per_s={10: 5_000.0, 100: 40_000.0, 1000: 42_000.0},
        drain_per_s={10: 3_000.0, 50: 19_000.0, 200: 20_000.0, 500: 20_500.0},
    )
    assert report.recommended_batch() == 100
    assert report.recommended_concurrency() == 50


def test_bench_runs_on_redis_and_cleans_up(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    before = set(r.scan_iter(match="rtask-bench-*"))

    report = asyncio.run(run_bench(redis_url, jobs=200))

    assert report.rtt_ms > 0
    assert set(report.enqueue_batch_per_s) == set(BATCH_SIZES)
    assert set(report.drain_per_s) == set(CONCURRENCIES)
    assert all(rate > 0 for rate in report.drain_per_s.values())
    assert report.recommended_concurrency() in CONCURRENCIES
    assert set(r.scan_iter(match="rtask-bench-*")) == before


def test_cli_prints_the_recommendation() -> None:
    result = CliRunner().invoke(main, ["bench", "memory://bench-cli", "--jobs", "100"])
    assert result.exit_code == 0, result.output
    assert "recommended:" in result.output
    assert "--concurrency" in result.output
