"""`rtask schedules list | show | stop | trigger` through click's CliRunner."""

from __future__ import annotations

import importlib
import json
import textwrap
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

import rtask
from rtask import JobStatus
from rtask._cli import main

pytestmark = pytest.mark.timeout(30)

APP_SOURCE = """
import rtask

app = rtask.App({url!r}, prefix={prefix!r})


@app.task(name="report")
def report(kind: str) -> str:
    return kind


@app.task(name="cleanup", queue="maintenance")
def cleanup() -> None:
    pass


daily = app.schedule(report, id="daily", cron="0 6 * * *", tz="Europe/Paris", args=("daily",),
                     labels={{"team": "ops"}})
hourly = app.schedule(cleanup, id="hourly", every=3600)
"""


@pytest.fixture
def app_module(
    backend_url: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    name = f"schedules_cli_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(APP_SOURCE.format(url=backend_url, prefix=prefix))
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    module.app.add_schedules_sync([module.daily, module.hourly])
    return module


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_list_show_stop_trigger(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"
    try:
        listed = cli("schedules", "list", spec)
        assert listed.exit_code == 0, listed.output
        lines = listed.output.splitlines()
        assert lines[0].split() == ["QUEUE", "ID", "TASK", "WHEN", "STATE", "JOB", "NEXT_RUN"]
        assert lines[1].split()[:3] == ["default", "daily", "report"]
        assert "cron 0 6 * * * Europe/Paris" in lines[1]
        assert lines[2].split()[:6] == [
            "maintenance",
            "hourly",
            "cleanup",
            "every",
            "3600s",
            "active",
        ]

        doc = json.loads(cli("schedules", "list", spec, "--label", "team=ops", "--json").output)
        assert [s["id"] for s in doc["schedules"]] == ["daily"]
        assert doc["schedules"][0]["args"] == ["daily"] and doc["next_page"] is None

        shown = cli("schedules", "show", spec, "daily")
        assert shown.exit_code == 0, shown.output
        fields = dict(line.split(None, 1) for line in shown.output.splitlines())
        assert fields["kind"] == "cron" and fields["tz"] == "Europe/Paris"
        assert fields["active_status"] == "scheduled"

        triggered = cli("schedules", "trigger", spec, "hourly")
        assert triggered.exit_code == 0, triggered.output
        job_id = app.get_schedule_sync("hourly").active_job
        assert job_id is not None and job_id in triggered.output
        assert app.job_sync(job_id, "maintenance").info().status is JobStatus.QUEUED

        stopped = cli("schedules", "stop", spec, "hourly", "--cancel-active")
        assert stopped.exit_code == 0, stopped.output
        assert f"active job {job_id}: cancelled" in stopped.output
        assert app.get_schedule_sync("hourly").stopped
        active = cli("schedules", "list", spec, "--active", "--json")
        assert [s["id"] for s in json.loads(active.output)["schedules"]] == ["daily"]

        missing = cli("schedules", "show", spec, "nope")
        assert missing.exit_code == 1 and "no schedule 'nope'" in missing.stderr
        assert "Traceback" not in missing.output
        again = cli("schedules", "trigger", spec, "hourly")
        assert again.exit_code == 1 and "is stopped" in again.stderr
    finally:
        app.close()
