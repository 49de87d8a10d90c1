"""Interleaved A/B of two versions of the Lua scripts, stage by stage:
`.venv/bin/python benchmarks/lua_ab.py OLD_LUA_DIR [NEW_LUA_DIR] --runs 8`
(≈5 s a run).

Runs the stages of `lua_costs.py` (enqueue one and bulk, claim, finish below
and at the retention cap) with the scripts of OLD_LUA_DIR and NEW_LUA_DIR
(default: this checkout's lua/) in turn, on one private redis-server and in
one process, and flips which goes first every run: the machine's drift,
which moves one stage by ±10% within minutes here, falls on both alike.
Prints each stage's median Redis µs per job (EVALSHA, from `INFO
commandstats`) for both, and the change. A stage whose script did not change
shows the noise, and the garbage the other stages' scripts leave (Lua's
collector is shared by every script, and steps after calls). One untimed run
of each goes first. The scripts of an older commit:
`mkdir /tmp/old && git archive <rev> lua | tar -x -C /tmp/old`, then
`/tmp/old/lua`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import lua_costs  # noqa: E402
from rtask import _scripts, _wire_shared  # noqa: E402
from tests._redis_server import RedisServer  # noqa: E402


def _clear_caches() -> None:
    _scripts.script.cache_clear()
    _scripts._read.cache_clear()
    _wire_shared.script_loads.cache_clear()


@contextmanager
def scripts_from(directory: Path) -> Iterator[None]:
    """rtask's scripts read from `directory` instead of lua/ (a benchmark's
    patch of the loader: every script is cached by name, so the caches are
    cleared on the way in and out; a new App then loads and calls these)."""
    if not (directory / "claim.lua").is_file():
        raise SystemExit(f"{directory} holds no claim.lua: not a lua/ directory")
    original = _scripts.lua_dir
    _scripts.lua_dir = lambda: directory  # type: ignore[assignment]
    _clear_caches()
    try:
        yield
    finally:
        _scripts.lua_dir = original
        _clear_caches()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("old", type=Path, help="the lua/ directory to compare against")
    parser.add_argument("new", type=Path, nargs="?", default=ROOT / "lua")
    parser.add_argument("--runs", type=int, default=8, help="runs of each (default 8)")
    parser.add_argument("--n", type=int, default=20_000, help="jobs per run (default 20,000)")
    parser.add_argument("--batch", type=int, default=100, help="jobs per claim and finish call")
    parser.add_argument("--ones", type=int, default=500, help="jobs enqueued one by one")
    args = parser.parse_args()
    sides = {"old": args.old.resolve(), "new": args.new.resolve()}
    per_stage: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    with RedisServer() as server:
        for side in sides.values():  # untimed: the first run of a process is slower
            with scripts_from(side):
                lua_costs.one_run(server.url, args.n, args.batch, args.ones)
        for i in range(args.runs):
            order = ["old", "new"] if i % 2 == 0 else ["new", "old"]
            print(f"run {i + 1}/{args.runs}: {' then '.join(order)}", file=sys.stderr)
            for side in order:
                with scripts_from(sides[side]):
                    stages = lua_costs.one_run(server.url, args.n, args.batch, args.ones)
                for stage, (script_us, _) in stages.items():
                    per_stage[side].setdefault(stage, []).append(script_us)
    print(f"\nRedis µs per job (EVALSHA), medians of {args.runs} interleaved runs\n")
    print(f"old: {sides['old']}\nnew: {sides['new']}\n")
    print("| stage | old | new | change |\n|---|--:|--:|--:|")
    for stage, old_values in per_stage["old"].items():
        old = statistics.median(old_values)
        new = statistics.median(per_stage["new"][stage])
        print(f"| {stage} | {old:.2f} | {new:.2f} | {(new - old) / old:+.1%} |")


if __name__ == "__main__":
    main()
