"""A sync web app (Flask) that enqueues jobs with the sync client.

flask --app examples.flask_producer.app run
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request

import rtask

from .tasks import app, build_report

web = Flask(__name__)


@web.post("/reports")
def new_report() -> tuple[dict[str, Any], int]:
    body = request.get_json(force=True)
    try:
        job = build_report.options(priority=int(body.get("priority", 0))).enqueue_sync(
            str(body["customer"]), int(body.get("lines", 10))
        )
    except (KeyError, ValueError, rtask.InvalidInput) as exc:
        abort(422, str(exc))
    return {"job_id": job.id, "queue": job.queue}, 202


@web.get("/jobs/<queue>/<job_id>")
def job_status(queue: str, job_id: str) -> dict[str, Any]:
    try:
        info = app.job_sync(job_id, queue).info()
    except rtask.JobNotFound:
        abort(404)
    except rtask.InvalidInput as exc:
        abort(422, str(exc))
    return {
        "id": job_id,
        "status": info.status.value,
        "attempt": info.attempt,
        "result": info.result,
    }
