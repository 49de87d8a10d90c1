"""The adapter interface every framework implements.

One adapter module per framework lives in ``benchmarks/adapters/<name>.py`` and
exposes a class called ``Adapter`` (subclass of :class:`BaseAdapter` or
:class:`AsyncAdapter`).  The same module is imported by the worker processes,
so it also defines the framework's app/broker/queue object and the three
benchmark tasks (``noop``, ``sleep10``, ``lat``; bodies in ``_common``), all
configured from the ``BENCH_REDIS_URL`` / ``BENCH_CONCURRENCY`` environment
variables that the harness sets.

Contract used by ``benchmarks/run.py``::

    a = Adapter(redis_url, logdir)   # may raise Unavailable("reason")
    a.setup()                        # connect clients (not timed)
    a.on_flush()                     # after each FLUSHALL (re-declare groups etc.)
    a.enqueue_one(n, kind)           # n sequential enqueues (timed by the harness)
    a.enqueue_bulk(n, kind)          # framework's bulk API; only if a.bulk_na is None
    a.enqueue_lat(t_enq)             # one latency job carrying time.time() at enqueue
    a.start_workers(processes, concurrency)   # framework's own worker CLI/API as subprocesses
    a.worker_pids()                  # root pids (harness sums RSS over their trees)
    a.workers_alive()
    a.stop_workers()
    a.close()

``kind`` is ``"noop"`` or ``"sleep"`` (10 ms).  Completion is observed by the
harness through the ``bench:done`` counter the tasks INCR.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar

from ._common import ENV_CONCURRENCY, ENV_URL

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def compile_sources() -> None:
    """Write the bytecode of rtask (an editable install) and of the benchmarks.

    The peers come from wheels, compiled when pip installed them; without
    this, every rtask worker process would compile rtask from source at start
    where PYTHONDONTWRITEBYTECODE is set (it is on our CI machines).
    """
    for directory in (ROOT / "rtask", ROOT / "benchmarks"):
        compileall.compile_dir(str(directory), quiet=1)


class Unavailable(Exception):
    """Raised by an adapter that cannot run here; the harness reports the reason."""


class BaseAdapter:
    #: name shown in the results
    name: ClassVar[str] = "?"
    #: distribution whose version is reported
    dist: ClassVar[str] = "?"
    #: per-process concurrency used for workloads B/D ("recommended for no-op jobs")
    drain_concurrency: ClassVar[int] = 1
    #: what that concurrency is (asyncio tasks, threads, ...), for the README
    concurrency_unit: ClassVar[str] = ""
    #: None when enqueue_bulk() is supported, else the reason it is n/a
    bulk_na: ClassVar[str | None] = "no bulk enqueue API"
    #: how the bulk API is used (when supported)
    bulk_how: ClassVar[str] = ""
    #: free-form notes (defaults kept, fast path chosen, ...)
    notes: ClassVar[list[str]] = []
    #: an async framework that also has a sync enqueue: enqueue_one_sync() is
    #: measured too (A "one, sync"), and compared with the sync LPUSH loop
    has_sync_one: ClassVar[bool] = False

    def __init__(self, redis_url: str, logdir: Path) -> None:
        self.redis_url = redis_url
        self.logdir = Path(logdir)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    # ---------------------------------------------------------------- hooks
    def setup(self) -> None:
        """Connect producer-side clients (not timed)."""

    def close(self) -> None:
        """Release producer-side clients."""

    def on_flush(self) -> None:
        """Called after every FLUSHALL of the harness' server (re-create what setup() made)."""

    def enqueue_one(self, n: int, kind: str = "noop") -> None:
        raise NotImplementedError

    def enqueue_one_sync(self, n: int, kind: str = "noop") -> None:
        """With has_sync_one: enqueue_one() through the framework's sync API."""
        raise NotImplementedError

    def enqueue_bulk(self, n: int, kind: str = "noop") -> None:
        raise NotImplementedError

    def enqueue_lat(self, t_enq: float) -> None:
        raise NotImplementedError

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        """argv lists to spawn; by default ``processes`` copies of the single-process one."""
        return [self.worker_command(concurrency) for _ in range(processes)]

    def worker_command(self, concurrency: int) -> list[str]:
        raise NotImplementedError

    def c_concurrency(self, wanted: int) -> tuple[int, str]:
        """(concurrency to use, note) for workload C, which asks for ``wanted`` in 1 process."""
        return wanted, ""

    # ------------------------------------------------------- worker process
    def worker_env(self, concurrency: int) -> dict[str, str]:
        env = dict(os.environ)
        env[ENV_URL] = self.redis_url
        env[ENV_CONCURRENCY] = str(concurrency)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start_workers(self, processes: int, concurrency: int) -> None:
        assert not self._procs, "workers already running"
        env = self.worker_env(concurrency)
        for i, argv in enumerate(self.worker_commands(processes, concurrency)):
            log = self.logdir / f"{self.name}-worker-{i}-{time.monotonic_ns()}.log"
            self._logs.append(log)
            with open(log, "wb") as fh:
                self._procs.append(
                    subprocess.Popen(
                        argv,
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # own process group: stop kills the tree
                    )
                )

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def workers_alive(self) -> bool:
        return any(p.poll() is None for p in self._procs)

    def worker_log_tail(self, nbytes: int = 2000) -> str:
        out = []
        for log in self._logs[-4:]:
            with contextlib.suppress(OSError):
                out.append(
                    f"--- {log.name}\n" + log.read_bytes()[-nbytes:].decode(errors="replace")
                )
        return "\n".join(out)

    def stop_workers(self, timeout: float = 10.0) -> None:
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
        for p in self._procs:  # whatever is left of each group (stragglers, children)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        self._procs = []
        self._logs = self._logs[-8:]

    # ------------------------------------------------------------- helpers
    @staticmethod
    def py(code: str) -> list[str]:
        """argv running ``code`` with this interpreter (for frameworks started via their API)."""
        return [sys.executable, "-c", code]

    @staticmethod
    def bin(name: str) -> str:
        """a console script installed in the same venv as the harness."""
        return str(BIN / name)


class AsyncAdapter(BaseAdapter):
    """Adapter whose producer side is asyncio; keeps one event loop for its lifetime.

    Subclasses implement the ``a*`` coroutines; each sync entry point runs one
    coroutine to completion on the persistent loop (so the n enqueues inside it
    are sequential awaits, timed as a whole by the harness).
    """

    def __init__(self, redis_url: str, logdir: Path) -> None:
        super().__init__(redis_url, logdir)
        self._runner = asyncio.Runner()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self._runner.run(coro)

    async def aopen(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def aenqueue_one(self, n: int, kind: str) -> None:
        raise NotImplementedError

    async def aenqueue_bulk(self, n: int, kind: str) -> None:
        raise NotImplementedError

    async def aenqueue_lat(self, t_enq: float) -> None:
        raise NotImplementedError

    def setup(self) -> None:
        self.run(self.aopen())

    def close(self) -> None:
        try:
            self.run(self.aclose())
        finally:
            self._runner.close()

    def enqueue_one(self, n: int, kind: str = "noop") -> None:
        self.run(self.aenqueue_one(n, kind))

    def enqueue_bulk(self, n: int, kind: str = "noop") -> None:
        self.run(self.aenqueue_bulk(n, kind))

    def enqueue_lat(self, t_enq: float) -> None:
        self.run(self.aenqueue_lat(t_enq))
