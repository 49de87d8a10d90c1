"""Redis memory stays flat under sustained load with the default retention:
after far more jobs than the retention keeps, the queue holds a bounded number
of keys and records (real Redis: the count of jobs makes memory:// slow)."""

from __future__ import annotations

import pytest
import redis

import rtask

from ._helpers import close, run, worker

pytestmark = pytest.mark.timeout(120)

JOBS = 25_000  # 2.5x the default of 10,000 succeeded jobs kept


def test_default_retention_keeps_keys_and_records_bounded(redis_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(redis_url, prefix=prefix)  # default rtask.Retention()

        @app.task(name="noop")
        async def noop(n: int) -> None:
            return None

        try:
            for start in range(0, JOBS, 5_000):
                await noop.enqueue_many([(n,) for n in range(start, start + 5_000)])
                await worker(app, concurrency=200).run(burst=True)
        finally:
            await close(app)

    run(body)

    keep = rtask.Retention().succeeded_max
    r = redis.Redis.from_url(redis_url)
    keys = rtask.App(redis_url, prefix=prefix).keys("default")
    assert r.zcard(keys.succeeded) == keep  # trimmed as it went, not after
    assert r.hlen(keys.jobs) <= 2 * keep  # state + payload per kept job (no result)
    names = {k.decode() for k in r.scan_iter(match=f"{prefix}:*", count=1000)}
    # the queue's fixed keys and one scheduled/ready pair per task: nothing per job
    assert len(names) <= 16, sorted(names)
    r.close()
