"""What schedules cost: `.venv/bin/python benchmarks/schedules.py`.

Starts a private redis-server and one idle `rtask worker` process, first with
no schedule, then with K schedules ticking every second (`every=1`), and
reports:

* tick lateness: when a tick's job was claimed (Redis time, the job's `st`)
  minus its tick, p50 / p99 over every tick;
* the Redis cost of one schedule per tick: extra commands (INFO commandstats,
  commands inside scripts included) and Redis CPU per tick, over the idle
  worker's own cost in the same time.

Each figure is the median of `--runs` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import orjson
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.core import redis_totals, spawn_workers, stop, wait_for  # noqa: E402
from tests._redis_server import RedisServer  # noqa: E402


def window(url: str, schedules: int, seconds: float) -> tuple[float, float, list[int]]:
    """(commands/s, CPU ms/s, lateness of each tick in ms) of one idle worker
    with `schedules` schedules, over `seconds` after start-up settles."""
    os.environ["RTASK_BENCH_SCHEDULES"] = str(schedules)
    r = redis.Redis.from_url(url)
    procs = spawn_workers(url, 1, 100)
    try:
        wait_for(lambda: r.zcard("core:{default}:workers") > 0, 30)
        if schedules:
            wait_for(lambda: r.hlen("core:{default}:schedules") == 4 * schedules, 30)
        time.sleep(2.0)  # start-up traffic settles before the window
        calls0, cpu0 = redis_totals(r)
        time.sleep(seconds)  # the measurement window: ticks happen in it
        calls1, cpu1 = redis_totals(r)
    finally:
        stop(procs)
        os.environ.pop("RTASK_BENCH_SCHEDULES")
    late = []
    for field, raw in r.hgetall("core:{default}:jobs").items():
        if b":" in field and not field.endswith((b":p", b":r", b":e")):
            st = orjson.loads(raw)
            if "st" in st and "tk" in st:
                late.append(int(st["st"]) - int(st["tk"]))
    r.flushall()
    return (calls1 - calls0) / seconds, (cpu1 - cpu0) * 1000 / seconds, late


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    k = args.schedules
    runs: dict[str, list[float]] = {}
    with RedisServer() as server:
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs}", file=sys.stderr)
            base_calls, base_cpu, _ = window(server.url, 0, args.seconds)
            calls, cpu, late = window(server.url, k, args.seconds)
            late.sort()
            figures = {
                "tick lateness p50 (ms)": float(late[len(late) // 2]),
                "tick lateness p99 (ms)": float(late[max(0, int(len(late) * 0.99) - 1)]),
                "ticks measured": float(len(late)),
                "Redis commands per schedule tick": (calls - base_calls) / k,
                "Redis CPU per schedule tick (ms)": (cpu - base_cpu) / k,
                "idle worker, no schedule: commands/s": base_calls,
            }
            for key, value in figures.items():
                runs.setdefault(key, []).append(value)
    print(
        f"\n{k} schedules ticking every second on one idle worker, {args.seconds:g} s windows, "
        f"medians of {args.runs} runs ({os.cpu_count()} cores)\n"
    )
    print("| figure | median | runs |\n|---|--:|---|")
    for key, values in runs.items():
        print(
            f"| {key} | {statistics.median(values):,.2f} | "
            f"{', '.join(f'{v:,.2f}' for v in values)} |"
        )


if __name__ == "__main__":
    main()
