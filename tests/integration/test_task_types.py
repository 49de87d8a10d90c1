"""Task types known to the fleet: `app.task_types` and `rtask tasks`."""

from __future__ import annotations

import importlib
import json
import textwrap
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

import rtask
from rtask._cli import main

pytestmark = pytest.mark.timeout(30)

APP_SOURCE = """
import rtask

app = rtask.App({url!r}, prefix={prefix!r})


@app.task(name="report")
def report() -> None: ...


@app.task(name="send", queue="emails")
def send() -> None: ...
"""


def test_task_types_list_enqueued_and_registered_names(
    backend_url: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"task_types_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(APP_SOURCE.format(url=backend_url, prefix=prefix))
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    app: rtask.App = module.app
    try:
        module.report.enqueue_sync()
        # a producer that only knows the name (another service's task)
        app.remote("billing.invoice").enqueue_sync(7)
        found = app.task_types_sync()
        assert [(t.queue, t.name, t.registered, t.enqueued) for t in found] == [
            ("default", "billing.invoice", False, True),
            ("default", "report", True, True),
            ("emails", "send", True, False),
        ]
        assert [t.name for t in app.task_types_sync(["emails"])] == ["send"]

        out = CliRunner().invoke(main, ["tasks", f"{name}:app"])
        assert out.exit_code == 0, out.output
        lines = out.output.splitlines()
        assert lines[0].split() == ["QUEUE", "TASK", "REGISTERED", "ENQUEUED"]
        assert lines[1].split() == ["default", "billing.invoice", "no", "yes"]
        doc = json.loads(CliRunner().invoke(main, ["tasks", f"{name}:app", "--json"]).output)
        assert {t["name"] for t in doc["tasks"]} == {"billing.invoice", "report", "send"}
    finally:
        app.close()
