#!/usr/bin/env python3
"""Benchmark rtask's peers (and later rtask) side by side on one private Redis.

    .peers-venv/bin/python benchmarks/run.py                 # everything, --runs 3, n=20000
    .peers-venv/bin/python benchmarks/run.py --quick         # smoke run (small n, 1 run)
    .peers-venv/bin/python benchmarks/run.py --frameworks arq,saq --workloads A,B

Started with any other interpreter it re-executes itself under
``.peers-venv/bin/python`` (create that venv with ``benchmarks/setup_peers.sh``).

It starts its own ``redis-server`` on a free loopback port in a temp dir
(``--save "" --appendonly no``; never 127.0.0.1:6379), FLUSHALLs it before every
measurement, runs each measurement ``--runs`` times and keeps the median, then
writes ``benchmarks/results/latest.json``, ``benchmarks/results/chart.png`` and the
results section of ``benchmarks/README.md``.  See the README for the method.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_VENV = ROOT / ".peers-venv"
RESULTS_DIR = HERE / "results"
README = HERE / "README.md"
START_MARK = "<!-- results:start -->"
END_MARK = "<!-- results:end -->"

WORKLOADS = ["A", "B", "C", "D", "E"]
C_CONCURRENCY = 100
D_SPACING_S = 0.005
BASELINE_PAYLOAD = b"x" * 64


def _ensure_peers_venv() -> None:
    if os.environ.get("BENCH_NO_REEXEC"):
        return
    if Path(sys.prefix).resolve() == PEERS_VENV.resolve():
        return
    py = PEERS_VENV / "bin" / "python"
    if py.exists():
        os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.exit(f"{PEERS_VENV} not found: run benchmarks/setup_peers.sh first")


_ensure_peers_venv()
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402  (peers venv only)

from benchmarks.adapters import ALL as ALL_FRAMEWORKS  # noqa: E402
from benchmarks.adapters import _common as common  # noqa: E402
from benchmarks.adapters.base import (  # noqa: E402
    AsyncAdapter,
    BaseAdapter,
    Unavailable,
    compile_sources,
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- redis
class RedisServer:
    """A throw-away redis-server on a free loopback port, in a temp dir."""

    def __init__(self) -> None:
        self.exe = shutil.which("redis-server")
        if not self.exe:
            sys.exit("redis-server not found on PATH (apt-get install redis-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="rtask-bench-"))
        self.port = self._free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _free_port() -> int:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port != 6379:
                return port

    def start(self) -> None:
        argv = [
            self.exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        self.r = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.r.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def version(self) -> str:
        return str(self.r.info("server").get("redis_version"))

    def flush(self) -> None:
        self.r.flushall()

    def used_memory(self) -> int:
        return int(self.r.info("memory")["used_memory"])

    def stats(self) -> dict[str, Any]:
        cs = self.r.info("commandstats")
        cpu = self.r.info("cpu")
        calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in cs.items()}
        return {"calls": calls, "cpu": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])}


# ------------------------------------------------------------------- helpers
class WorkerProblem(RuntimeError):
    pass


def poll_counter(
    r: redis.Redis, adapter: BaseAdapter, n: int, timeout: float, interval: float = 0.005
) -> tuple[float | None, float, int]:
    """Poll bench:done until it reaches n. Returns (t_first_seen, t_done, polls), perf_counter."""
    deadline = time.perf_counter() + timeout
    t_first: float | None = None
    polls = 0
    while True:
        v = r.get(common.DONE_KEY)
        polls += 1
        now = time.perf_counter()
        done = int(v or 0)
        if done and t_first is None:
            t_first = now
        if done >= n:
            return t_first, now, polls
        if now > deadline:
            raise WorkerProblem(f"timeout after {timeout:.0f}s ({done}/{n} done)")
        if polls % 20 == 0 and not adapter.workers_alive():
            raise WorkerProblem(f"worker exited ({done}/{n} done)\n{adapter.worker_log_tail()}")
        time.sleep(interval)


def tree_rss(pids: list[int]) -> int:
    import psutil

    total = 0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs = [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for q in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += q.memory_info().rss
    return total


def med(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every numeric field across runs; keeps the raw runs."""
    out: dict[str, Any] = {}
    for key in runs[0]:
        vals = [r.get(key) for r in runs]
        if all(isinstance(v, (int, float)) or v is None for v in vals):
            out[key] = med([v for v in vals if v is not None])
    out["runs"] = runs
    return out


def percentile(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = (len(sorted_vals) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


# ---------------------------------------------------------------- baseline
def lpush_sync_s(url: str, n: int) -> float:
    """Seconds for n LPUSHes in a blocking redis-py loop."""
    r = redis.Redis.from_url(url)
    r.ping()
    t = time.perf_counter()
    for _ in range(n):
        r.lpush("bench:baseline", BASELINE_PAYLOAD)
    d = time.perf_counter() - t
    r.close()
    return d


def lpush_async_s(url: str, n: int) -> float:
    """Seconds for n LPUSHes in a redis-py asyncio loop (its own event loop)."""
    import asyncio

    import redis.asyncio as aredis

    async def loop() -> float:
        r = aredis.Redis.from_url(url)
        await r.ping()
        t = time.perf_counter()
        for _ in range(n):
            await r.lpush("bench:baseline", BASELINE_PAYLOAD)
        d = time.perf_counter() - t
        await r.aclose()
        return d

    return asyncio.run(loop())


def lpush_pipeline_s(url: str, n: int) -> float:
    """Seconds for n LPUSHes sent as one redis-py pipeline."""
    r = redis.Redis.from_url(url)
    r.ping()
    t = time.perf_counter()
    p = r.pipeline(transaction=False)
    for _ in range(n):
        p.lpush("bench:baseline", BASELINE_PAYLOAD)
    p.execute()
    d = time.perf_counter() - t
    r.close()
    return d


def bench_baseline(srv: RedisServer, n: int, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, fn in [
        ("lpush_sync", lpush_sync_s),
        ("lpush_async", lpush_async_s),
        ("lpush_pipeline", lpush_pipeline_s),
    ]:
        rs = []
        for i in range(runs):
            srv.flush()
            d = fn(srv.url, n)
            rs.append({"seconds": d, "jobs_per_s": n / d})
            log(f"  [baseline] {key} run {i + 1}/{runs}: {n / d:,.0f}/s")
        out[key] = summarize(rs)
    return out


# ------------------------------------------------------------- workloads
class Bench:
    def __init__(self, srv: RedisServer, args: argparse.Namespace, logdir: Path) -> None:
        self.srv = srv
        self.r = srv.r
        self.args = args
        self.logdir = logdir
        self.adapter: BaseAdapter | None = None

    def flush(self) -> None:
        self.srv.flush()
        if self.adapter is not None:
            self.adapter.on_flush()

    def prequeue(self, a: BaseAdapter, n: int, kind: str) -> str:
        if a.bulk_na is None:
            a.enqueue_bulk(n, kind)
            return "bulk"
        a.enqueue_one(n, kind)
        return "one-by-one"

    def drain_timeout(self, n: int) -> float:
        return 60 + n / 100

    # A ------------------------------------------------------------------
    def workload_a(self, a: BaseAdapter) -> dict[str, Any]:
        # Each one-by-one run is paired with a run of the LPUSH loop of its
        # own kind just before it (asyncio for an asyncio producer), so the
        # ratio to the loop is measured on the same machine state: a shared
        # machine drifts between the baseline and this framework's turn.
        one_loop = lpush_async_s if isinstance(a, AsyncAdapter) else lpush_sync_s
        out: dict[str, Any] = {
            "one": self.timed_enqueues(a, "one-by-one", a.enqueue_one, paired=one_loop)
        }
        if a.has_sync_one:
            out["one_sync"] = self.timed_enqueues(
                a, "one-by-one (sync)", a.enqueue_one_sync, paired=lpush_sync_s
            )
        if a.bulk_na is not None:
            out["bulk"] = {"na": a.bulk_na}
        else:
            out["bulk"] = self.timed_enqueues(a, "bulk", a.enqueue_bulk)
            out["bulk"]["how"] = a.bulk_how
        return out

    def timed_enqueues(
        self,
        a: BaseAdapter,
        label: str,
        enqueue: Callable[[int, str], None],
        paired: Callable[[str, int], float] | None = None,
    ) -> dict[str, Any]:
        """Median of the runs of `enqueue(n, "noop")`, each on a flushed Redis.
        With `paired` (an LPUSH loop), each run is preceded by a run of it:
        `lpush_jobs_per_s` and `ratio_to_lpush` (this run over that one) too."""
        n, rs = self.args.n, []
        for i in range(self.args.runs):
            run: dict[str, Any] = {}
            if paired is not None:
                self.flush()
                run["lpush_jobs_per_s"] = n / paired(self.srv.url, n)
            self.flush()
            t = time.perf_counter()
            enqueue(n, "noop")
            d = time.perf_counter() - t
            run = {"seconds": d, "jobs_per_s": n / d, **run}
            if paired is not None:
                run["ratio_to_lpush"] = run["jobs_per_s"] / run["lpush_jobs_per_s"]
            rs.append(run)
            beside = f" (LPUSH loop beside it: {run['lpush_jobs_per_s']:,.0f}/s)" if paired else ""
            log(f"  [{a.name}] A {label} run {i + 1}: {n / d:,.0f} jobs/s{beside}")
        return summarize(rs)

    # B (+E) ---------------------------------------------------------------
    def drain_once(self, a: BaseAdapter, procs: int, cost: bool) -> dict[str, Any]:
        n = self.args.n
        self.flush()
        mem0 = self.srv.used_memory()
        how = self.prequeue(a, n, "noop")
        mem1 = self.srv.used_memory()
        if int(self.r.get(common.DONE_KEY) or 0):
            raise WorkerProblem("jobs ran before any worker was started")
        s0 = self.srv.stats()
        t_spawn = time.perf_counter()
        a.start_workers(procs, a.drain_concurrency)
        try:
            t_first, t_done, polls = poll_counter(self.r, a, n, self.drain_timeout(n))
            rss = tree_rss(a.worker_pids()) if cost else None
            s1 = self.srv.stats()
        finally:
            a.stop_workers()
        res: dict[str, Any] = {
            "seconds": t_done - t_spawn,
            "jobs_per_s": n / (t_done - t_spawn),
            "startup_s": (t_first or t_done) - t_spawn,
            "jobs_per_s_steady": n / (t_done - t_first) if t_first and t_done > t_first else None,
            "prequeue": how,
        }
        if cost:
            calls = {
                k: s1["calls"].get(k, 0) - s0["calls"].get(k, 0)
                for k in set(s1["calls"]) | set(s0["calls"])
                if k != "info"
            }
            calls["get"] = calls.get("get", 0) - polls  # the harness' own polling
            total = sum(calls.values())
            # the done counters' flushes: one INCRBY and one INCR each (_common)
            harness = 2 * int(self.r.get(common.FLUSHES_KEY) or 0)
            res.update(
                {
                    "redis_cmds_per_job_raw": total / n,
                    "redis_cmds_per_job": (total - harness) / n,
                    "done_flushes_per_job": harness / 2 / n,
                    "redis_cpu_ms_per_1k_jobs": (s1["cpu"] - s0["cpu"]) * 1000 / n * 1000,
                    "worker_rss_mb": rss / 2**20 if rss is not None else None,
                    "redis_bytes_per_queued_job": (mem1 - mem0) / n,
                    "cmd_breakdown_per_job": {
                        k: round(v / n, 3)
                        for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
                        if v / n >= 0.01
                    },
                }
            )
        return res

    def workload_b(self, a: BaseAdapter, procs_list: list[int], want_e: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for procs in procs_list:
            rs = []
            for i in range(self.args.runs):
                res = self.drain_once(a, procs, cost=(procs == 1 and want_e))
                rs.append(res)
                log(
                    f"  [{a.name}] B {procs} proc run {i + 1}: {res['jobs_per_s']:,.0f} jobs/s"
                    f" (startup {res['startup_s']:.2f}s"
                    + (
                        f", {res['redis_cmds_per_job']:.2f} cmds/job)"
                        if "redis_cmds_per_job" in res
                        else ")"
                    )
                )
            s = summarize(rs)
            s["processes"] = procs
            s["concurrency"] = a.drain_concurrency
            out[f"p{procs}"] = s
        return out

    # C ------------------------------------------------------------------
    def workload_c(self, a: BaseAdapter) -> dict[str, Any]:
        n = self.args.c_n
        conc, note = a.c_concurrency(C_CONCURRENCY)
        ideal = n * common.SLEEP_S / C_CONCURRENCY
        rs = []
        for i in range(self.args.runs):
            self.flush()
            self.prequeue(a, n, "sleep")
            t_spawn = time.perf_counter()
            a.start_workers(1, conc)
            try:
                _, t_done_pc, _ = poll_counter(
                    self.r, a, n, 60 + n * common.SLEEP_S * 2, interval=0.002
                )
                t_done = time.time()
                t0 = float(self.r.get(common.T0_KEY) or "nan")
            finally:
                a.stop_workers()
            wall = t_done - t0
            rs.append(
                {
                    "wall_s": wall,
                    "ratio_to_ideal": wall / ideal,
                    "wall_from_spawn_s": t_done_pc - t_spawn,
                }
            )
            log(f"  [{a.name}] C run {i + 1}: {wall:.3f}s ({wall / ideal:.1f}x ideal)")
        s = summarize(rs)
        s.update({"jobs": n, "ideal_s": ideal, "concurrency": conc, "note": note})
        return s

    # D ------------------------------------------------------------------
    def workload_d(self, a: BaseAdapter) -> dict[str, Any]:
        m = self.args.d_n
        rs = []
        for i in range(self.args.runs):
            self.flush()
            a.start_workers(1, a.drain_concurrency)
            try:
                a.enqueue_lat(time.time())  # warm-up: wait until the worker really runs jobs
                poll_counter(self.r, a, 1, 120, interval=0.01)
                self.r.delete(common.DONE_KEY, common.LAT_KEY)
                time.sleep(0.2)
                start = time.perf_counter()
                for k in range(m):
                    delay = start + k * D_SPACING_S - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    a.enqueue_lat(time.time())
                poll_counter(self.r, a, m, 60, interval=0.01)
                lats = sorted(float(x) * 1000 for x in self.r.lrange(common.LAT_KEY, 0, -1))
            finally:
                a.stop_workers()
            res = {
                "p50_ms": percentile(lats, 50),
                "p95_ms": percentile(lats, 95),
                "p99_ms": percentile(lats, 99),
                "max_ms": lats[-1],
                "mean_ms": statistics.fmean(lats),
            }
            rs.append(res)
            log(
                f"  [{a.name}] D run {i + 1}: p50 {res['p50_ms']:.2f} p95 {res['p95_ms']:.2f}"
                f" p99 {res['p99_ms']:.2f} ms"
            )
        s = summarize(rs)
        s.update({"jobs": m, "spacing_ms": D_SPACING_S * 1000, "concurrency": a.drain_concurrency})
        return s

    # --------------------------------------------------------------------
    def framework(self, name: str, workloads: list[str]) -> dict[str, Any]:
        res: dict[str, Any] = {"name": name}
        try:
            mod = importlib.import_module(f"benchmarks.adapters.{name}")
            cls = mod.Adapter
            res["version"] = _dist_version(getattr(cls, "dist", name))
            a: BaseAdapter = cls(self.srv.url, self.logdir)
        except Unavailable as e:
            res.update(status="unavailable", reason=str(e))
            log(f"[{name}] unavailable: {e}")
            return res
        except Exception as e:  # import error, missing package, ...
            res.update(status="unavailable", reason=f"{type(e).__name__}: {e}")
            log(f"[{name}] unavailable: {type(e).__name__}: {e}")
            return res
        res.update(
            status="ok",
            drain_concurrency=a.drain_concurrency,
            concurrency_unit=a.concurrency_unit,
            bulk=a.bulk_na or "yes",
            bulk_how=a.bulk_how,
            c_concurrency=a.c_concurrency(C_CONCURRENCY)[0],
            c_note=a.c_concurrency(C_CONCURRENCY)[1],
            notes=list(a.notes),
        )
        log(f"[{name}] {res['version']}")
        self.adapter = a
        try:
            a.setup()
        except Exception as e:
            res.update(status="unavailable", reason=f"setup failed: {type(e).__name__}: {e}")
            return res
        steps: list[tuple[str, Any]] = []
        if "A" in workloads:
            steps.append(("A", lambda: self.workload_a(a)))
        if "B" in workloads or "E" in workloads:
            procs = [1, 2] if "B" in workloads else [1]
            steps.append(("B", lambda: self.workload_b(a, procs, "E" in workloads)))
        if "C" in workloads:
            steps.append(("C", lambda: self.workload_c(a)))
        if "D" in workloads:
            steps.append(("D", lambda: self.workload_d(a)))
        for key, fn in steps:
            try:
                res[key] = fn()
            except Exception as e:
                a.stop_workers()
                msg = f"{type(e).__name__}: {e}"
                log(f"  [{name}] {key} failed: {msg}")
                if not isinstance(e, WorkerProblem):
                    log(traceback.format_exc())
                res[key] = {"error": msg.splitlines()[0]}
        with contextlib.suppress(Exception):
            a.close()
        self.adapter = None
        return res


def _dist_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------- machine
def machine_info(srv: RedisServer) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    pkgs = {}
    for d in [
        "arq",
        "saq",
        "taskiq",
        "taskiq-redis",
        "streaq",
        "dramatiq",
        "celery",
        "kombu",
        "rq",
        "huey",
        "redis",
        "hiredis",
        "coredis",
        "rtask",
    ]:
        pkgs[d] = _dist_version(d)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": nproc,
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_server": srv.version(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": pkgs,
    }


# ---------------------------------------------------------------- output
def _f(v: Any, fmt: str = ",.0f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return format(v, fmt)


def _cell(res: dict[str, Any], key: str, render: Any) -> str:
    if res.get("status") != "ok":
        return "—"
    w = res.get(key)
    if w is None:
        return "not run"
    if "error" in w:
        return f"error: {w['error'][:60]}"
    return str(render(w))


def render_markdown(data: dict[str, Any]) -> str:
    m, args = data["machine"], data["args"]
    L = []
    L.append(
        f"Generated {m['date']} by `benchmarks/run.py` — runs per measurement: {args['runs']} "
        f"(median), N={args['n']:,} (A/B/E), C: {args['c_n']:,} jobs, D: {args['d_n']:,} jobs"
        + (" — **--quick smoke run, not representative**" if args.get("quick") else "")
        + "."
    )
    L.append("")
    L.append(
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, "
        f"redis-server {m['redis_server']}, {m['platform']}. Load average (1/5/15 min) at start "
        f"{m.get('loadavg_at_start')}, at end {m.get('loadavg_at_end')} — other processes on the "
        "machine skew the numbers."
    )
    L.append("")
    L.append(
        "Packages: "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v != "not installed")
        + "."
    )
    L.append("")
    fw = data["frameworks"]
    L += _table_main(data, fw, args)
    L += _table_targets(fw)
    L += _table_cost(fw)
    L += _table_config(fw)
    return "\n".join(L)


def _table_main(data: dict[str, Any], fw: dict[str, Any], args: dict[str, Any]) -> list[str]:
    L: list[str] = []
    L.append("### Throughput and latency")
    L.append("")
    L.append(
        "| framework | A enqueue one-by-one (jobs/s) | A enqueue bulk (jobs/s) "
        "| B drain, 1 proc (jobs/s) | B drain, 2 procs (jobs/s) "
        "| C 10 ms jobs: wall s (× ideal) | D pickup p50 / p95 / p99 (ms) |"
    )
    L.append("|---|--:|--:|--:|--:|--:|--:|")
    base = data.get("baseline") or {}
    if base:
        L.append(
            f"| *redis-py LPUSH, sync (baseline)* | {_f(base['lpush_sync']['jobs_per_s'])} "
            f"| {_f(base['lpush_pipeline']['jobs_per_s'])} (pipeline) | | | | |"
        )
        L.append(
            f"| *redis-py LPUSH, asyncio (baseline)* | {_f(base['lpush_async']['jobs_per_s'])} "
            "| | | | | |"
        )

    def b_cell(p: str):
        def r(w: dict[str, Any]) -> str:
            x = w.get(p)
            if not x:
                return "not run"
            return f"{_f(x['jobs_per_s'])} ({_f(x.get('jobs_per_s_steady'))})"

        return r

    for name, res in fw.items():
        if res.get("status") != "ok":
            L.append(f"| {name} | unavailable: {res.get('reason', '?')} | | | | | |")
            continue
        a = _cell(
            res,
            "A",
            lambda w: (
                _f(w["one"]["jobs_per_s"])
                + (f" (sync {_f(w['one_sync']['jobs_per_s'])})" if "one_sync" in w else "")
            ),
        )
        ab = _cell(
            res,
            "A",
            lambda w: "n/a" if "na" in w["bulk"] else _f(w["bulk"]["jobs_per_s"]),
        )
        b1 = _cell(res, "B", b_cell("p1"))
        b2 = _cell(res, "B", b_cell("p2"))
        c = _cell(
            res,
            "C",
            lambda w: (
                f"{_f(w['wall_s'], '.3f')} ({_f(w['ratio_to_ideal'], '.1f')}×)"
                + ("" if w["concurrency"] == C_CONCURRENCY else f" [c={w['concurrency']}]")
            ),
        )
        d = _cell(
            res,
            "D",
            lambda w: (
                f"{_f(w['p50_ms'], '.1f')} / {_f(w['p95_ms'], '.1f')} / {_f(w['p99_ms'], '.1f')}"
            ),
        )
        L.append(f"| {name} {res.get('version', '')} | {a} | {ab} | {b1} | {b2} | {c} | {d} |")
    L.append("")
    L.append(
        "A one-by-one: the adapter's enqueue (async for the asyncio frameworks); in "
        "parentheses, an async framework's sync enqueue, where it has one. "
        "B: jobs/s from spawning the worker process(es) until the N-th job finished; in "
        "parentheses, from the first finished job (i.e. without worker start-up). "
        f"C: wall time from the first job start to the last job end for {args['c_n']:,} jobs "
        f"sleeping 10 ms with concurrency {C_CONCURRENCY} in one process; ideal "
        f"{args['c_n'] * common.SLEEP_S / C_CONCURRENCY:.2f} s; [c=…] marks a framework run "
        "at a different concurrency (see configuration). Bulk n/a: see configuration. "
        "D: enqueue→start, "
        f"{args['d_n']:,} jobs enqueued {D_SPACING_S * 1000:.0f} ms apart to an idle worker."
    )
    L.append("")

    return L


def _get(res: dict[str, Any], *path: str) -> Any:
    """res[path[0]][path[1]]…, or None where a step is missing (a workload not run)."""
    for key in path:
        if not isinstance(res, dict) or key not in res:
            return None
        res = res[key]
    return res


Row = tuple[str, str, str]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _best_peer(peers: dict[str, Any], *path: str, low: bool = False) -> tuple[str, float] | None:
    vals = [(n, v) for n, r in peers.items() if (v := _get(r, *path)) is not None]
    if not vals:
        return None
    return (min if low else max)(vals, key=lambda nv: nv[1])


def _target_rows_b(me: dict[str, Any], peers: dict[str, Any]) -> list[Row]:
    b1, b1s = _get(me, "B", "p1", "jobs_per_s"), _get(me, "B", "p1", "jobs_per_s_steady")
    if b1 is None:
        return []
    rows = [
        (
            "B, 1 process: ≥ 20,000 jobs/s",
            f"{_f(b1)} from spawn; {_f(b1s)} from the first job",
            _verdict(b1 >= 20_000),
        )
    ]
    for key, label in (("jobs_per_s", "from spawn"), ("jobs_per_s_steady", "steady")):
        bp, mine = _best_peer(peers, "B", "p1", key), _get(me, "B", "p1", key)
        if bp and mine:
            rows.append(
                (
                    f"B, 1 process: ≥ 8× the best peer ({label})",
                    f"{mine / bp[1]:.1f}× {bp[0]} ({_f(bp[1])})",
                    _verdict(mine >= 8 * bp[1]),
                )
            )
    return rows


def _target_rows_a(me: dict[str, Any]) -> list[Row]:
    rows = []
    # each enqueue against the LPUSH loop of its own kind, run just before
    # each of its runs (Bench.workload_a): the median of the per-run ratios
    for label, kind in (("sync", "one_sync"), ("asyncio", "one")):
        ratio = _get(me, "A", kind, "ratio_to_lpush")
        if ratio is not None:
            rows.append(
                (
                    f"A, one at a time: within 15% of the {label} LPUSH loop",
                    f"{_f(_get(me, 'A', kind, 'jobs_per_s'))} = {ratio:.0%} of the loop "
                    f"run beside it ({_f(_get(me, 'A', kind, 'lpush_jobs_per_s'))}; "
                    "median of per-run ratios)",
                    _verdict(ratio >= 0.85),
                )
            )
    bulk = _get(me, "A", "bulk", "jobs_per_s")
    if bulk is not None:
        rows.append(("A, bulk: ≥ 200,000 jobs/s", _f(bulk), _verdict(bulk >= 200_000)))
    return rows


def _target_rows_cde(me: dict[str, Any], peers: dict[str, Any]) -> list[Row]:
    rows = []
    c = _get(me, "C", "ratio_to_ideal")
    if c is not None:
        rows.append(("C: ≤ 1.3× the ideal time", f"{c:.2f}×", _verdict(c <= 1.3)))
    p50, p99 = _get(me, "D", "p50_ms"), _get(me, "D", "p99_ms")
    if p50 is not None and p99 is not None:
        rows.append(("D: p50 ≤ 1 ms", f"{p50:.2f} ms", _verdict(p50 <= 1.0)))
        rows.append(("D: p99 ≤ 3 ms", f"{p99:.2f} ms", _verdict(p99 <= 3.0)))
    cmds = _get(me, "B", "p1", "redis_cmds_per_job")
    if cmds is not None:
        rows.append(("E: ≤ 0.2 Redis commands per job", f"{cmds:.2f}", _verdict(cmds <= 0.2)))
    cpu = _get(me, "B", "p1", "redis_cpu_ms_per_1k_jobs")
    low = _best_peer(peers, "B", "p1", "redis_cpu_ms_per_1k_jobs", low=True)
    if cpu is not None and low:
        rows.append(
            (
                "E: lowest Redis CPU per job",
                f"{cpu:.1f} ms / 1,000 jobs; lowest peer {low[0]} {low[1]:.1f}",
                _verdict(cpu <= low[1]),
            )
        )
    return rows


def _table_targets(fw: dict[str, Any]) -> list[str]:
    """rtask against the targets of issue #5, from this run's medians."""
    me = fw.get("rtask")
    if not me or me.get("status") != "ok":
        return []
    peers = {n: r for n, r in fw.items() if n != "rtask" and r.get("status") == "ok"}
    rows = _target_rows_b(me, peers) + _target_rows_a(me) + _target_rows_cde(me, peers)
    if not rows:
        return []
    L = ["### rtask against its targets (issue #5)", ""]
    L.append("| target | measured (medians of this run) | |")
    L.append("|---|---|---|")
    L += [f"| {t} | {m} | {v} |" for t, m, v in rows]
    L.append("")
    return L


def _table_cost(fw: dict[str, Any]) -> list[str]:
    L: list[str] = []
    L.append("### Cost to Redis (workload E, measured during B with 1 worker process)")
    L.append("")
    L.append(
        "| framework | Redis commands / job | Redis CPU (ms) / 1,000 jobs "
        "| worker RSS (MB) | Redis memory / queued job (bytes) |"
    )
    L.append("|---|--:|--:|--:|--:|")
    for name, res in fw.items():
        if res.get("status") != "ok":
            L.append(f"| {name} | unavailable | | | |")
            continue
        w = res.get("B") or {}
        if "error" in w or "p1" not in w or "redis_cmds_per_job" not in w["p1"]:
            L.append(
                f"| {name} | {'error: ' + w['error'][:60] if 'error' in w else 'not run'} | | | |"
            )
            continue
        p = w["p1"]
        L.append(
            f"| {name} | {_f(p['redis_cmds_per_job'], '.2f')} "
            f"| {_f(p['redis_cpu_ms_per_1k_jobs'], '.1f')} "
            f"| {_f(p['worker_rss_mb'], '.1f')} | {_f(p['redis_bytes_per_queued_job'], ',.0f')} |"
        )
    L.append("")
    L.append(
        "Commands/job: diff of `INFO commandstats` call totals over the drain (worker start → "
        "N done), minus the harness' own GET polls and INFO calls and minus the done "
        "counters' flushes (one INCRBY + one INCR per flush, counted exactly; tasks count in "
        "process and a thread per worker process flushes every 5 ms); commands run inside Lua "
        "scripts are counted by Redis too. "
        "CPU: diff of `used_cpu_sys + used_cpu_user`. RSS: sum over the worker process tree at "
        "the end of the drain. Memory: `used_memory` after enqueueing N jobs minus before."
    )
    L.append("")

    return L


def _table_config(fw: dict[str, Any]) -> list[str]:
    L: list[str] = []
    L.append("### Configuration per framework")
    L.append("")
    L.append(
        "| framework | B/D concurrency per process | C (100 in 1 process) | bulk API | notes |"
    )
    L.append("|---|---|---|---|---|")
    for name, res in fw.items():
        if res.get("status") != "ok":
            L.append(f"| {name} | — | — | — | unavailable: {res.get('reason', '?')} |")
            continue
        L.append(
            f"| {name} | {res['drain_concurrency']} — {res['concurrency_unit']} "
            f"| {res['c_concurrency']}{' — ' + res['c_note'] if res['c_note'] else ''} "
            f"| {res['bulk_how'] if res['bulk'] == 'yes' else 'n/a: ' + res['bulk']} "
            f"| {'; '.join(res['notes'])} |"
        )
    L.append("")
    L.append("![chart](results/chart.png)")
    return L


def update_readme(md: str) -> None:
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{START_MARK}\n{END_MARK}\n"
    if START_MARK not in text or END_MARK not in text:
        text += f"\n\n## Results\n\n{START_MARK}\n{END_MARK}\n"
    head, rest = text.split(START_MARK, 1)
    _, tail = rest.split(END_MARK, 1)
    README.write_text(f"{head}{START_MARK}\n{md}\n{END_MARK}{tail}")


def draw_chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fw = {k: v for k, v in data["frameworks"].items() if v.get("status") == "ok"}

    def get(res: dict[str, Any], *keys: str) -> float:
        cur: Any = res
        for k in keys:
            if not isinstance(cur, dict) or k not in cur:
                return 0.0
            cur = cur[k]
        return float(cur) if isinstance(cur, (int, float)) else 0.0

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    panels = [
        (
            "A: enqueue (jobs/s, higher is better)",
            [("one-by-one", ("A", "one", "jobs_per_s")), ("bulk", ("A", "bulk", "jobs_per_s"))],
            True,
        ),
        (
            "B: drain N no-op jobs (jobs/s, higher is better)",
            [("1 process", ("B", "p1", "jobs_per_s")), ("2 processes", ("B", "p2", "jobs_per_s"))],
            False,
        ),
        (
            "C: 10 ms jobs, conc. 100 (x ideal, lower is better)",
            [("wall / ideal", ("C", "ratio_to_ideal"))],
            True,
        ),
        (
            "D: pickup latency (ms, lower is better)",
            [("p50", ("D", "p50_ms")), ("p95", ("D", "p95_ms")), ("p99", ("D", "p99_ms"))],
            True,
        ),
    ]
    names = list(fw)
    base = data.get("baseline") or {}
    for ax, (title, series, logx) in zip(axes.flat, panels, strict=True):
        labels = list(names)
        vals = [[get(fw[n], *keys) for n in names] for _, keys in series]
        if title.startswith("A") and base:
            labels = ["redis-py LPUSH", *labels]
            vals[0] = [base["lpush_sync"]["jobs_per_s"], *vals[0]]
            vals[1] = [base["lpush_pipeline"]["jobs_per_s"], *vals[1]]
        h = 0.8 / len(series)
        for i, ((label, _), v) in enumerate(zip(series, vals, strict=True)):
            ys = [j + i * h for j in range(len(labels))]
            ax.barh(ys, v, height=h, label=label)
        ax.set_yticks([j + h * (len(series) - 1) / 2 for j in range(len(labels))], labels)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        if logx:
            ax.set_xscale("log")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8)
    m = data["machine"]
    fig.suptitle(
        f"Python task queues on one Redis — {m['nproc']} CPUs, Python {m['python']}, "
        f"redis {m['redis_server']}, N={data['args']['n']:,}, median of {data['args']['runs']}"
        + (" (quick)" if data["args"].get("quick") else ""),
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--frameworks",
        default=",".join(ALL_FRAMEWORKS),
        help=f"comma list (default: {','.join(ALL_FRAMEWORKS)})",
    )
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma list of A,B,C,D,E")
    p.add_argument("--runs", type=int, default=None, help="runs per measurement, median kept (3)")
    p.add_argument("--n", type=int, default=None, help="jobs for A/B/E (20000)")
    p.add_argument("--c-n", type=int, default=None, help="jobs for C (2000)")
    p.add_argument("--d-n", type=int, default=None, help="jobs for D (1000)")
    p.add_argument("--quick", action="store_true", help="smoke run: n=2000, C 400, D 100, 1 run")
    p.add_argument("--no-baseline", action="store_true", help="skip the redis-py LPUSH baseline")
    p.add_argument("--out", default=str(RESULTS_DIR / "latest.json"))
    p.add_argument("--no-readme", action="store_true", help="don't rewrite README.md / chart.png")
    a = p.parse_args(argv)
    q = a.quick
    a.runs = a.runs or (1 if q else 3)
    a.n = a.n or (2000 if q else 20000)
    a.c_n = a.c_n or (400 if q else 2000)
    a.d_n = a.d_n or (100 if q else 1000)
    a.frameworks = [f.strip() for f in a.frameworks.split(",") if f.strip()]
    a.workloads = [w.strip().upper() for w in a.workloads.split(",") if w.strip()]
    bad = [w for w in a.workloads if w not in WORKLOADS]
    if bad:
        p.error(f"unknown workloads {bad}")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compile_sources()
    srv = RedisServer()
    srv.start()
    os.environ[common.ENV_URL] = srv.url  # adapters build their app objects from it at import
    logdir = srv.dir / "logs"
    logdir.mkdir()
    log(f"redis-server {srv.version()} on {srv.url} (dir {srv.dir})")
    t_all = time.perf_counter()
    data: dict[str, Any] = {
        "args": {
            "runs": args.runs,
            "n": args.n,
            "c_n": args.c_n,
            "d_n": args.d_n,
            "quick": args.quick,
            "frameworks": args.frameworks,
            "workloads": args.workloads,
        },
        "frameworks": {},
    }
    try:
        data["machine"] = machine_info(srv)
        if "A" in args.workloads and not args.no_baseline:
            log("[baseline] redis-py LPUSH")
            data["baseline"] = bench_baseline(srv, args.n, args.runs)
        bench = Bench(srv, args, logdir)
        for name in args.frameworks:
            data["frameworks"][name] = bench.framework(name, args.workloads)
            srv.flush()
    finally:
        srv.stop()
    data["elapsed_s"] = time.perf_counter() - t_all
    if "machine" in data:
        data["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {out} ({data['elapsed_s']:.0f}s total)")
    md = render_markdown(data)
    if not args.no_readme:
        draw_chart(data, RESULTS_DIR / "chart.png")
        update_readme(md)
        log(f"updated {README} and {RESULTS_DIR / 'chart.png'}")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
