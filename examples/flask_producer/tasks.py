"""The tasks of the Flask example (`rtask worker examples.flask_producer.tasks:app`)."""

from __future__ import annotations

import os

import rtask

app = rtask.App(os.environ.get("RTASK_REDIS_URL", "memory://flask-example"), prefix="example-flask")


@app.task(name="reports.build", queue="reports", max_attempts=3)
def build_report(customer: str, lines: int) -> dict[str, object]:
    """A sync task: runs in a worker's thread pool."""
    return {"customer": customer, "lines": lines, "total": sum(range(lines))}
