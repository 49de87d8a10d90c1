"""The App of benchmarks/cluster_shards.py; worker processes import `app`.

RTASK_BENCH_URL (the cluster), RTASK_BENCH_PREFIX and RTASK_BENCH_SHARDS set
the App; finished jobs are all kept (the drain is counted from them).
"""

from __future__ import annotations

import os

import rtask
from rtask import Retention

QUEUE = "bench"


def make(url: str, prefix: str, shards: int) -> rtask.App:
    app = rtask.App(
        url,
        prefix=prefix,
        shards={QUEUE: shards},
        retention=Retention(succeeded_max=0, succeeded_s=3600.0),
    )

    @app.task(name="noop", queue=QUEUE)
    async def noop() -> None:
        return None

    return app


app = make(
    os.environ.get("RTASK_BENCH_URL", "memory://cluster-shards"),
    os.environ.get("RTASK_BENCH_PREFIX", "shards"),
    int(os.environ.get("RTASK_BENCH_SHARDS", "1")),
)
