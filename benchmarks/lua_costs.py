"""Where Redis spends its time per job, stage by stage: `.venv/bin/python
benchmarks/lua_costs.py` (≈1 min).

Starts a private redis-server on a free loopback port and runs each stage's
script on its own, as the client and the worker send it, reading Redis's own
account of the time (`INFO commandstats`: the EVALSHA total, and the commands
the script ran inside it) after each call:

* enqueue one: `Task.enqueue_sync`, one `enqueue_plain.lua` call per job;
* enqueue bulk: `Task.enqueue_many_sync`, 1,000 jobs per call;
* claim: `claim.lua`, `--batch` jobs per call from a ready set of N jobs
  (eager calls: each also reads the scheduled set's head, one ZRANGE a call,
  which a busy worker's lazy claims skip);
* finish: `finish.lua`, the claimed jobs succeeded, `--batch` outcomes per
  call; split into the calls before the succeeded index reaches its
  retention cap and the calls at the cap, which also trim (delete) as many
  old jobs as they add.

Per stage: Redis µs per job in the script (EVALSHA, commands included), in
the commands it ran, and the rest (the Lua itself: decoding, strings, tables,
arguments and reply). Medians of `--runs` runs; a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rtask  # noqa: E402
from rtask import _protocol as protocol  # noqa: E402
from tests._redis_server import RedisServer  # noqa: E402

WORKER = "lua-costs"
LEASE_MS = 60_000


def spent(r: redis.Redis, run: Callable[[], Any]) -> tuple[Any, float, float]:
    """`run()`'s result, and the Redis µs of EVALSHA and of the commands the
    scripts ran, from a reset of the command statistics."""
    r.config_resetstat()
    out = run()
    stats = r.info("commandstats")
    evalsha = sum(v["usec"] for k, v in stats.items() if k.startswith("cmdstat_evalsha"))
    inner = sum(
        v["usec"]
        for k, v in stats.items()
        if not k.startswith(("cmdstat_evalsha", "cmdstat_info", "cmdstat_config", "cmdstat_script"))
    )
    return out, evalsha, inner


class Costs:
    """Per-stage totals: jobs, script µs, command µs."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    def add(self, stage: str, jobs: int, script_us: float, inner_us: float) -> None:
        t = self.totals.setdefault(stage, [0, 0.0, 0.0])
        t[0] += jobs
        t[1] += script_us
        t[2] += inner_us

    def per_job(self) -> dict[str, tuple[float, float]]:
        return {s: (t[1] / t[0], t[2] / t[0]) for s, t in self.totals.items() if t[0]}


def one_run(url: str, n: int, batch: int, ones: int) -> dict[str, tuple[float, float]]:
    app = rtask.App(url, prefix="luacost")

    @app.task(name="noop")
    async def noop() -> None:
        return None

    r = redis.Redis.from_url(url)
    client = app.sync_client()
    costs = Costs()
    _, script_us, inner_us = spent(r, lambda: [noop.enqueue_sync() for _ in range(ones)])
    costs.add("enqueue one", ones, script_us, inner_us)
    r.flushall()

    _, script_us, inner_us = spent(r, lambda: noop.enqueue_many_sync([()] * n))
    costs.add("enqueue bulk (1,000 per call)", n, script_us, inner_us)

    keys = app.keys("default")
    tasks = [("noop", 0)]
    cap = app.retention.succeeded_max
    done = 0
    while True:
        claim = protocol.claim(
            keys, "default", worker=WORKER, n=batch, lease_ms=LEASE_MS, tasks=tasks
        )
        reply, script_us, inner_us = spent(r, lambda c=claim: client.run(c))
        if not reply.jobs:
            break
        costs.add(f"claim ({batch} per call)", len(reply.jobs), script_us, inner_us)
        outcomes = [protocol.succeeded(j.id, j.token, b"") for j in reply.jobs]
        finish = protocol.finish(keys, outcomes, tasks=tasks, retention=app.retention)
        result, script_us, inner_us = spent(r, lambda f=finish: client.run(f))
        if any(code != protocol.FinishResult.APPLIED for code in result.results):
            raise RuntimeError(f"finish.lua did not apply every outcome: {result.results[:5]}")
        stage = "finish, at the retention cap (trims)" if done >= cap else "finish, below the cap"
        costs.add(f"{stage} ({batch} per call)", len(outcomes), script_us, inner_us)
        done += len(outcomes)
    if done != n:
        raise RuntimeError(f"claimed {done} of {n} jobs")
    app.close()
    r.flushall()
    return costs.per_job()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="jobs (default 20,000: 2× the cap)")
    parser.add_argument("--batch", type=int, default=100, help="jobs per claim and finish call")
    parser.add_argument("--ones", type=int, default=2_000, help="jobs enqueued one by one")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {}
    with RedisServer() as server:
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs}", file=sys.stderr)
            for stage, figures in one_run(server.url, args.n, args.batch, args.ones).items():
                runs.setdefault(stage, []).append(figures)
        version = redis.Redis.from_url(server.url).info("server")["redis_version"]
    print(
        f"\nRedis {version}, N={args.n}, medians of {args.runs} runs: Redis µs per job "
        "(INFO commandstats)\n"
    )
    print("| stage | script (EVALSHA) | its commands | the Lua itself |\n|---|--:|--:|--:|")
    for stage, values in runs.items():
        script_us = statistics.median(v[0] for v in values)
        inner_us = statistics.median(v[1] for v in values)
        print(f"| {stage} | {script_us:.1f} | {inner_us:.1f} | {script_us - inner_us:.1f} |")


if __name__ == "__main__":
    main()
