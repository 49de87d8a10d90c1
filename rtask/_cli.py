"""The `rtask` command: `rtask worker module:app …`.

The operator commands (`stats`, `jobs`, `schedules`, …) live in `_cli_admin`,
`_cli_manage` and `_cli_schedules`, imported when one of them is looked up:
`rtask worker` never uses them, and a worker's start-up should not pay for
importing them (nor the read-side modules they import).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import click

from ._app import DEFAULT_URL, App
from ._errors import ConfigError, RtaskError
from ._worker import Worker
from ._worker._health import HealthConfig, serving, startup_checks

log = logging.getLogger("rtask.cli")

# Exit code of a worker that cannot start (bad configuration): not restarted.
EXIT_CONFIG = 2


def load_app(spec: str) -> App:
    """The App named by `module:attribute` (the current directory is importable)."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise click.UsageError(f"expected module:app, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except RtaskError:
        raise  # e.g. a bad URL given to App(): a configuration error
    except ImportError as exc:
        raise click.UsageError(f"cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attr or "app", None)
    if not isinstance(app, App):
        raise click.UsageError(f"{spec!r} is not an rtask.App")
    return app


# The names of the commands of `_cli_admin` and `_cli_schedules` (a test
# checks that they are exactly those modules' commands).
OPERATOR_COMMANDS = ("events", "jobs", "schedules", "stats", "tasks", "workers")


def operator_commands() -> dict[str, click.Command]:
    """The operator commands by name (imported on the first call)."""
    from . import _cli_manage  # noqa: F401  (adds its commands to the jobs group)
    from ._cli_admin import COMMANDS as ADMIN_COMMANDS
    from ._cli_schedules import COMMANDS as SCHEDULE_COMMANDS

    return {str(c.name): c for c in (*ADMIN_COMMANDS, *SCHEDULE_COMMANDS)}


class _Main(click.Group):
    """The `rtask` group: its own commands, and the operator commands added on
    the first lookup of one of them (click's lazy subcommands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *OPERATOR_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in OPERATOR_COMMANDS and cmd_name not in self.commands:
            for command in operator_commands().values():
                self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Main)
@click.option("--log-level", default="INFO", show_default=True)
def main(log_level: str) -> None:
    """rtask: Redis-backed distributed tasks."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queues", default="", help="Comma-separated queues (default: every task's queue).")
@click.option("--concurrency", default=100, show_default=True, help="Jobs run at once per process.")
@click.option(
    "--prefetch",
    type=int,
    default=None,
    help="Jobs claimed ahead of free slots per process (default: automatic, concurrency // 2,"
    " and 2 x concurrency while jobs average under 50 ms).",
)
@click.option("--processes", default=1, show_default=True, help="Worker processes (supervised).")
@click.option("--lease", default=30.0, show_default=True, help="Lease length, seconds.")
@click.option("--grace", default=20.0, show_default=True, help="Shutdown grace period, seconds.")
@click.option("--burst", is_flag=True, help="Exit once nothing is due (one process only).")
@click.option(
    "--health-port", type=int, default=None, help="Serve HTTP GET /live and /ready on this port."
)
@click.option(
    "--health-host", default="0.0.0.0", show_default=True, help="Address of --health-port."
)
@click.option("--health-file", default=None, help="Touch this file after every heartbeat.")
def worker(
    app_spec: str,
    queues: str,
    concurrency: int,
    prefetch: int | None,
    processes: int,
    lease: float,
    grace: float,
    burst: bool,
    health_port: int | None,
    health_host: str,
    health_file: str | None,
) -> None:
    """Run worker processes for MODULE:APP until SIGTERM/SIGINT.

    Exits with 0 after SIGTERM/SIGINT, with 2 on a configuration error (bad
    app, URL, options, credentials Redis refuses): a supervisor should not
    restart it then.
    """
    if processes < 1:
        raise click.UsageError("--processes must be >= 1")
    if processes > 1:
        sys.exit(supervise(processes))
    try:
        app = load_app(app_spec)
        w = app.worker(
            [q for q in queues.split(",") if q] or None,
            concurrency=concurrency,
            prefetch=prefetch,
            lease_s=lease,
            grace_s=grace,
        )
        health = HealthConfig(health_port, health_host, health_file)
    except RtaskError as exc:
        click.echo(f"rtask worker: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    log.info("worker %s serving %s", w.id, ",".join(w.config.queues))
    # What exists now (modules, the App, its tasks) lives as long as the
    # process: out of the cyclic GC's way, so that its full collections
    # while jobs run scan only what jobs created.
    gc.freeze()
    # A young-generation collection every 10,000 allocations, not 700: each
    # job allocates some twenty objects, nearly none in cycles, so the default
    # collected every few dozen jobs to find nothing (~4% of a worker's CPU).
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    try:
        asyncio.run(_run_worker(w, health, burst))
    except ConfigError as exc:  # refused credentials, a health port taken
        click.echo(f"rtask worker: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    log.info("worker %s stopped: %s", w.id, dict(w.stats))
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        # a sync task that ignored its timeout still holds a thread; its job was
        # handed back, so leaving without joining it loses nothing
        os._exit(0)


async def _run_worker(w: Worker, health: HealthConfig, burst: bool) -> None:
    """Check Redis, then run the worker with its health probes."""
    await startup_checks(w.app.async_client())
    async with serving(w, health):
        await w.run(burst=burst)


@main.command()
@click.argument("url", required=False)
@click.option("--jobs", default=5000, show_default=True, help="No-op jobs per measurement.")
def bench(url: str | None, jobs: int) -> None:
    """Measure URL (default RTASK_REDIS_URL or the local Redis) and recommend settings.

    Uses a private key prefix and removes its keys afterwards.
    """
    from ._bench import main as bench_main

    bench_main(url or os.environ.get("RTASK_REDIS_URL", DEFAULT_URL), jobs)


def _strip_processes(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--processes":
            skip = True
        elif not arg.startswith("--processes="):
            out.append(arg)
    return out


def supervise(processes: int) -> int:
    """Run `processes` worker processes; restart one that dies; forward SIGTERM/SIGINT.

    A child that exits with EXIT_CONFIG is not restarted: the configuration
    is wrong, so the supervisor stops the others and exits with that code.
    """
    argv = [sys.executable, "-m", "rtask", *_strip_processes(sys.argv[1:])]
    children: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False
    restarts = 0

    def spawn() -> None:
        if not stopping:
            child = subprocess.Popen(argv)
            children[child.pid] = child

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            # os.kill, not Popen.send_signal: that would reap an exited child
            # behind waitpid's back
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for _ in range(processes):
        spawn()
    code = 0
    while children:
        pid, status = os.waitpid(-1, 0)
        child = children.pop(pid, None)
        if child is None:
            continue
        exit_code = os.waitstatus_to_exitcode(status)
        child.returncode = exit_code
        if exit_code == EXIT_CONFIG:
            code = EXIT_CONFIG
            forward(signal.SIGTERM, None)
        elif not stopping:
            restarts += 1
            log.warning("worker process %d exited with %d; restarting", pid, exit_code)
            time.sleep(min(0.1 * restarts, 2.0))  # back off a crash loop
            spawn()
    return code
