"""A worker's start-up does not import the operator modules (stats, listing,
management, schedule pages, the operator commands); they are imported when
first used: a public name's first access, an App method's first call, an
operator command's first lookup.

Each import check runs in a fresh interpreter, as this process has imported
everything already. It imports the same `rtask` as this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import rtask
from rtask._cli import OPERATOR_COMMANDS, main, operator_commands

# What a worker never imports.
DEFERRED = {
    "rtask._admin",
    "rtask._cli_admin",
    "rtask._cli_manage",
    "rtask._cli_schedules",
    "rtask._events",
    "rtask._list",
    "rtask._list_created",
    "rtask._manage",
    "rtask._protocol_manage",
    "rtask._schedule",
    "rtask._schedules",
    "rtask._wait",
}

PACKAGE_ROOT = str(Path(rtask.__file__).resolve().parents[1])


# Appended to the code `_run` runs: what it imported, and from where.
REPORT = """
import json, sys
import rtask
modules = sorted(m for m in sys.modules if m.startswith("rtask"))
print(json.dumps({"file": rtask.__file__, "modules": modules}))
"""


def _run(code: str) -> list[str]:
    """Run `code` in a fresh interpreter; the rtask modules it imported."""
    pythonpath = os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + REPORT],
        env={**os.environ, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["file"] == rtask.__file__
    loaded: list[str] = report["modules"]
    return loaded


def test_a_worker_imports_none_of_the_deferred_modules() -> None:
    loaded = _run(
        """
        import asyncio
        import rtask, rtask._cli

        app = rtask.App("memory://lazy-imports-worker")

        @app.task
        async def add(x: int, y: int) -> int:
            return x + y

        async def main() -> None:
            await add.enqueue(1, 2)
            worker = app.worker()
            await worker.run(burst=True)
            # (not job.result(): a producer's wait imports _wait)
            assert worker.stats["outcome.succeeded"] == 1, worker.stats

        asyncio.run(main())
        """
    )
    assert "rtask._worker._worker" in loaded and "rtask._cli" in loaded
    assert DEFERRED.isdisjoint(loaded), sorted(DEFERRED.intersection(loaded))


def test_a_public_name_and_an_app_method_import_their_module_when_used() -> None:
    loaded = _run(
        """
        import sys
        import rtask

        assert "rtask._admin" not in sys.modules
        from rtask import QueueStats

        assert "rtask._admin" in sys.modules and rtask.QueueStats is QueueStats

        app = rtask.App("memory://lazy-imports-views")
        (default,) = app.stats_sync()
        assert isinstance(default, QueueStats) and default.queue == "default"
        assert "rtask._list" not in sys.modules
        page = app.jobs_sync(status="queued")
        assert isinstance(page, rtask.JobPage) and page.jobs == []
        assert app.list_schedules_sync().items == []
        """
    )
    assert {"rtask._admin", "rtask._list", "rtask._schedules"} <= set(loaded)


def test_every_public_name_resolves() -> None:
    for name in rtask.__all__:
        assert getattr(rtask, name) is not None, name
    assert set(rtask.__all__) <= set(dir(rtask))
    assert rtask.JobFilter.__name__ == "Filter"
    with pytest.raises(AttributeError, match="NoSuchName"):
        rtask.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def test_the_deferred_operator_commands_are_listed_and_run() -> None:
    assert sorted(operator_commands()) == list(OPERATOR_COMMANDS)
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in (*OPERATOR_COMMANDS, "bench", "worker"):
        assert f"\n  {name} " in result.output, name
    result = CliRunner().invoke(main, ["jobs", "--help"])
    assert result.exit_code == 0 and "retry-failed" in result.output
