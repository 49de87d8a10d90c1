"""`rtask stats`, `rtask workers`, `rtask jobs show|cancel` through click's CliRunner."""

from __future__ import annotations

import asyncio
import importlib
import json
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

import rtask
from rtask import JobStatus
from rtask._cli import main

from ._helpers import RESULT_TIMEOUT, background, close, run, worker

pytestmark = pytest.mark.timeout(30)

APP_SOURCE = """
import rtask

app = rtask.App({url!r}, prefix={prefix!r}, index_created=True)


@app.task(name="ok")
async def ok(n: int) -> int:
    return n * 2


@app.task(name="bad", queue="risky", max_attempts=2, backoff=0)
async def bad() -> None:
    raise KeyError("no such thing")
"""


@pytest.fixture
def app_module(
    backend_url: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """A module defining `app`, importable by name as the CLI's MODULE:APP."""
    name = f"admin_cli_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(APP_SOURCE.format(url=backend_url, prefix=prefix))
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def failed_cleanly(result: Result, message: str) -> None:
    """Exit code 1, the message on stderr, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_stats_table_and_json(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"

    async def body() -> None:
        try:
            await app_module.ok.enqueue(1)
            await app_module.ok.options(delay=60).enqueue(2)
            await app_module.bad.enqueue()
        finally:
            await close(app)

    run(body)

    text = cli("stats", spec)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    header = ["QUEUE", "TASK", "SCHEDULED", "QUEUED", "RUNNING", "RETRYING", "PER_MIN"]
    assert lines[0].split() == header
    assert lines[1].split() == ["default", "ok", "1", "1", "0", "0", "0.0"]
    assert lines[2].split() == ["risky", "bad", "0", "1", "0", "0", "0.0"]
    # numbers are right-aligned under their header
    end = lines[0].index("SCHEDULED") + len("SCHEDULED")
    assert lines[1][:end].endswith(" 1") and lines[1][end] == " "
    assert lines[2][:end].endswith(" 0") and lines[2][end] == " "
    assert "SUCCEEDED" in text.output

    doc = json.loads(cli("stats", spec, "--json", "--queues", "default").output)
    (queue,) = doc["queues"]
    assert queue["queue"] == "default"
    assert queue["tasks"] == [
        {"task": "ok", "scheduled": 1, "queued": 1, "running": 0, "retrying": 0, "per_minute": 0.0}
    ]
    assert (queue["scheduled"], queue["queued"], queue["succeeded"]) == (1, 1, 0)
    assert queue["oldest_queued_s"] >= 0

    failed_cleanly(cli("stats", spec, "--queues", "bad queue"), "invalid queue name")


def test_show_and_cancel_jobs(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"

    async def body() -> tuple[str, str]:
        try:
            failed = await app_module.bad.enqueue()
            await worker(app).run(burst=True)
            queued = await app_module.ok.enqueue(5)
            return failed.id, queued.id
        finally:
            await close(app)

    failed_id, queued_id = run(body)

    shown = cli("jobs", "show", spec, failed_id, "--queue", "risky")
    assert shown.exit_code == 0, shown.output
    fields = dict(line.split(None, 1) for line in shown.output.splitlines()[:13])
    assert fields["status"] == "failed"
    assert fields["attempt"] == "2/2"
    assert fields["task"] == "bad"
    runs = shown.output.split("\n\n", 1)[1].splitlines()
    assert runs[0].split() == ["ATTEMPT", "OUTCOME", "WORKER", "STARTED", "FINISHED", "ERROR"]
    assert len(runs) == 3
    assert all("no such thing" in line and " failed " in line for line in runs[1:])

    doc = json.loads(cli("jobs", "show", spec, failed_id, "--queue", "risky", "--json").output)
    assert (doc["status"], doc["attempt"], doc["max_attempts"]) == ("failed", 2, 2)
    assert [e["attempt"] for e in doc["errors"]] == [1, 2]
    runs_doc = doc["executions"]
    assert [(r["attempt"], r["outcome"]) for r in runs_doc] == [(1, "failed"), (2, "failed")]
    assert all(r["started_at"] is not None and r["worker"] for r in runs_doc)
    assert doc["finished_at"] is not None

    failed_cleanly(cli("jobs", "show", spec, failed_id), f"no job '{failed_id}'")
    failed_cleanly(cli("jobs", "show", spec, "missing"), "no job 'missing' in queue 'default'")

    cancelled = cli("jobs", "cancel", spec, queued_id, "--reason", "operator said so")
    assert cancelled.exit_code == 0, cancelled.output
    assert f"cancelled job {queued_id}" in cancelled.output
    info = app.job_sync(queued_id).info()
    assert info.status is JobStatus.CANCELLED
    assert info.errors[-1]["message"] == "operator said so"
    failed_cleanly(cli("jobs", "cancel", spec, queued_id), "already finished (cancelled)")
    failed_cleanly(cli("jobs", "cancel", spec, "missing"), "no job 'missing'")
    app.close()


def test_workers_lists_a_worker_running_a_job(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"
    started, release = asyncio.Event(), asyncio.Event()

    @app.task(name="hold")
    async def hold() -> None:
        started.set()
        await release.wait()

    async def body() -> None:
        try:
            assert cli("workers", spec).output == "no live workers\n"
            async with background(app, queues=["default"]) as (w, _):
                job = await hold.enqueue()
                await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
                # the worker registers at its first heartbeat
                await _until(lambda: bool(app.workers_sync()))

                text = cli("workers", spec)
                assert text.exit_code == 0, text.output
                header, row = text.output.splitlines()
                assert header.split() == ["QUEUE", "WORKER", "LAST_HEARTBEAT_S", "RUNNING"]
                assert row.split()[:2] == ["default", w.id]
                assert row.split()[3] == "1"
                doc = json.loads(cli("workers", spec, "--json").output)
                assert [(x["queue"], x["id"], x["running"]) for x in doc["workers"]] == [
                    ("default", w.id, 1)
                ]
                stats = json.loads(cli("stats", spec, "--json", "--queues", "default").output)
                assert stats["queues"][0]["running"] == 1
                assert stats["queues"][0]["workers"] == 1

                release.set()
                await job.result(timeout=RESULT_TIMEOUT)
        finally:
            await close(app)

    run(body)


async def _until(ok: Callable[[], bool]) -> None:
    """Poll `ok` for what no event announces (a worker's first heartbeat)."""
    deadline = asyncio.get_running_loop().time() + RESULT_TIMEOUT
    while not ok():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


def test_bad_app_spec_is_a_usage_error() -> None:
    result = cli("stats", "no_such_module_here:app")
    assert result.exit_code == 2
    assert "cannot import" in result.output
