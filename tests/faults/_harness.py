"""Worker subprocesses and polling helpers for the fault tests.

Waiting on another process is done by polling a Redis condition or the
process state with a deadline (`wait_until`), never by a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import redis

from rtask import App, JobInfo, SyncJob
from tests.faults.apps import build_app, record_key

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
APP_SPEC = "tests.faults.apps:app"
QUEUE = "default"


def wait_until(
    cond: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.02,
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Poll `cond` every `interval` seconds until it returns something truthy; return that.

    AssertionError (naming `what`, plus `on_timeout()` if given) after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{on_timeout()}" if on_timeout else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def _live_processes() -> list[tuple[int, int, int]]:
    """(pid, ppid, pgid) of every live (non-zombie) process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid, pgid = stat[stat.rindex(")") + 2 :].split()[:3]  # after "pid (comm) "
        if state != "Z":
            found.append((int(entry.name), int(ppid), int(pgid)))
    return found


def children_of(ppid: int) -> set[int]:
    """Live child processes of `ppid`."""
    return {pid for pid, parent, _ in _live_processes() if parent == ppid}


def group_members(pgid: int) -> set[int]:
    """Live processes of process group `pgid` (a worker started with its own session)."""
    return {pid for pid, _, group in _live_processes() if group == pgid}


@dataclass
class Ran:
    """One run of a job, as recorded by the task at its start."""

    job_id: str
    pid: int
    attempt: int
    task: str


class WorkerProcess:
    """`python -m rtask worker …` in its own process group, output in a log file."""

    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, module: str = "rtask"
    ) -> None:
        self.args = args
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # teardown kills the whole group (supervisor + children)
            )
        self.pid = self.popen.pid

    def __repr__(self) -> str:
        return f"<WorkerProcess {self.pid} {' '.join(self.args)}>"

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: signal.Signals) -> None:
        self.popen.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        """The exit code; AssertionError if the process still runs after `timeout`."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self!r} still running {timeout}s later\n{self.output_tail()}"
            ) from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def output_tail(self, lines: int = 40) -> str:
        text = "\n".join(self.output().splitlines()[-lines:])
        return f"--- output of {self!r} (last {lines} lines) ---\n{text}"

    def kill_group(self) -> None:
        """SIGKILL the process and everything it started (its process group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


class Harness:
    """One test's Redis, key prefix, App (for enqueueing and reading jobs) and workers."""

    def __init__(self, url: str, prefix: str, tmp_path: Path) -> None:
        self.url = url
        self.prefix = prefix
        self.tmp_path = tmp_path
        self.app: App = build_app(url, prefix)
        self.keys = self.app.keys(QUEUE)
        self.r = redis.Redis.from_url(url, socket_timeout=5)
        self.workers: list[WorkerProcess] = []
        self.extra_env: dict[str, str] = {}  # more environment for worker processes

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RTASK_TEST_URL=self.url,
            RTASK_TEST_PREFIX=self.prefix,
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        )
        env.update(self.extra_env)
        return env

    def worker(self, *options: str, module: str = "rtask") -> WorkerProcess:
        """Start `python -m rtask worker tests.faults.apps:app <options>`
        (`module` replaces `rtask`, for a patched CLI)."""
        log = self.tmp_path / f"worker-{len(self.workers)}.log"
        proc = WorkerProcess(["worker", APP_SPEC, *options], self.env(), log, module)
        self.workers.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.workers:
            proc.kill_group()
        self.app.close()
        self.r.close()

    def logs(self) -> str:
        return "\n".join(proc.output_tail() for proc in self.workers)

    def wait(self, cond: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
        """`wait_until`, showing the workers' output on timeout."""
        return wait_until(cond, timeout, what, interval=interval, on_timeout=self.logs)

    # ------------------------------------------------------------ observations

    def key(self, name: str) -> str:
        return record_key(self.prefix, name)

    def ran(self) -> list[Ran]:
        """Every run recorded so far, in start order."""
        out = []
        for raw in self.r.lrange(self.key("ran"), 0, -1):
            job_id, pid, attempt, task = raw.decode().split()
            out.append(Ran(job_id, int(pid), int(attempt), task))
        return out

    def ran_count(self) -> int:
        return int(self.r.llen(self.key("ran")))

    def finished_count(self) -> int:
        k = self.keys
        return sum(int(self.r.zcard(key)) for key in (k.succeeded, k.failed, k.cancelled))

    def running_count(self) -> int:
        return int(self.r.zcard(self.keys.running))

    def worker_ids(self) -> list[str]:
        """Members of the queue's workers zset (host:pid:random)."""
        return [m.decode() for m in self.r.zrange(self.keys.workers, 0, -1)]

    def worker_pids(self) -> set[int]:
        return {int(member.rsplit(":", 2)[1]) for member in self.worker_ids()}

    def infos(self, jobs: list[SyncJob[Any]]) -> list[JobInfo]:
        return [job.info() for job in jobs]


def run_counts(runs: list[Ran]) -> Counter[str]:
    """How many times each job id started."""
    return Counter(run.job_id for run in runs)
