"""Operator commands: `rtask stats`, `rtask workers`, `rtask jobs show|cancel`,
`rtask events`.

Human output is aligned plain-text tables; `--json` prints JSON. An error
rtask raises (unknown job, bad queue name, Redis unreachable) prints one line
on stderr and exits with EXIT_ERROR, without a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from ._admin import QueueStats, WorkerInfo, cancel_plan, info_plan
from ._errors import RtaskError
from ._events import Event
from ._history import Execution
from ._job import JobInfo
from ._plan import drive_sync
from ._protocol import CancelResult

if TYPE_CHECKING:
    from ._app import App

EXIT_ERROR = 1


def _load(spec: str) -> App:
    from ._cli import load_app  # _cli imports this module to register its commands

    return load_app(spec)


@contextmanager
def _operating(spec: str) -> Iterator[App]:
    """The App of `spec`; an RtaskError becomes a one-line message and exit 1."""
    app = _load(spec)
    try:
        yield app
    except RtaskError as exc:
        click.echo(f"rtask: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    finally:
        app.close()


def _queue_list(queues: str) -> list[str] | None:
    return [q.strip() for q in queues.split(",") if q.strip()] or None


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under headers in aligned columns; numbers right-aligned."""
    cells = [[str(h) for h in headers], *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [_numeric([row[i] for row in rows]) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _numeric(column: Sequence[Any]) -> bool:
    values = [v for v in column if v is not None]
    return bool(values) and all(isinstance(v, int | float) for v in values)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.isoformat(" ", "milliseconds")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return repr(value)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


# ---------------------------------------------------------------- stats


def stats_json(queues: Sequence[QueueStats]) -> dict[str, Any]:
    """The JSON document of `rtask stats --json`."""
    out = []
    for q in queues:
        doc = dataclasses.asdict(q)
        doc.update(
            scheduled=q.scheduled, queued=q.queued, retrying=q.retrying, per_minute=q.per_minute
        )
        out.append(doc)
    return {"queues": out}


def stats_text(queues: Sequence[QueueStats]) -> str:
    """The tables of `rtask stats`: jobs per task, then per queue."""
    per_task = table(
        ["QUEUE", "TASK", "SCHEDULED", "QUEUED", "RUNNING", "RETRYING", "PER_MIN"],
        [
            [q.queue, t.task, t.scheduled, t.queued, t.running, t.retrying, t.per_minute]
            for q in queues
            for t in q.tasks
        ],
    )
    per_queue = table(
        [
            "QUEUE",
            "SCHEDULED",
            "QUEUED",
            "RUNNING",
            "RETRYING",
            "SUCCEEDED",
            "FAILED",
            "CANCELLED",
            "OLDEST_QUEUED_S",
            "WORKERS",
            "PER_MIN",
        ],
        # a sharded queue's row (the sum) is followed by one row per shard
        [_queue_row(row, name) for q in queues for row, name in _with_shards(q)],
    )
    return f"{per_task}\n\n{per_queue}"


def _with_shards(q: QueueStats) -> list[tuple[QueueStats, str]]:
    return [(q, q.queue), *((s, f"  shard {s.queue}") for s in q.shards)]


def _queue_row(q: QueueStats, name: str) -> list[Any]:
    return [
        name,
        q.scheduled,
        q.queued,
        q.running,
        q.retrying,
        q.succeeded,
        q.failed,
        q.cancelled,
        q.oldest_queued_s,
        q.workers,
        q.per_minute,
    ]


@click.command()
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queues", default="", help="Comma-separated queues (default: every task's queue).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(app_spec: str, queues: str, as_json: bool) -> None:
    """Jobs per queue and task: scheduled, queued, running, finished; live workers."""
    with _operating(app_spec) as app:
        result = app.stats_sync(_queue_list(queues))
    if as_json:
        _echo_json(stats_json(result))
    else:
        click.echo(stats_text(result))


# ---------------------------------------------------------------- workers


def workers_text(workers: Sequence[WorkerInfo]) -> str:
    """The table of `rtask workers`."""
    if not workers:
        return "no live workers"
    return table(
        ["QUEUE", "WORKER", "LAST_HEARTBEAT_S", "RUNNING"],
        [[w.queue, w.id, w.last_heartbeat_s, w.running] for w in workers],
    )


@click.command()
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queues", default="", help="Comma-separated queues (default: every task's queue).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def workers(app_spec: str, queues: str, as_json: bool) -> None:
    """Live workers per queue: last heartbeat and jobs held."""
    with _operating(app_spec) as app:
        result = app.workers_sync(_queue_list(queues))
    if as_json:
        _echo_json({"workers": [dataclasses.asdict(w) for w in result]})
    else:
        click.echo(workers_text(result))


# ---------------------------------------------------------------- jobs


def job_json(info: JobInfo) -> dict[str, Any]:
    """The JSON document of `rtask jobs show --json`."""
    doc = dataclasses.asdict(info)
    doc["status"] = info.status.value
    return doc


def _execution_row(run: Execution) -> list[Any]:
    message = run.message or ""
    error = f"{run.error_type}: {message.splitlines()[0]}" if message else run.error_type
    return [run.attempt, run.outcome.value, run.worker, run.started_at, run.finished_at, error]


def job_text(info: JobInfo) -> str:
    """`rtask jobs show`: the record, then its executions (oldest first)."""
    fields: list[tuple[str, Any]] = [
        ("id", info.id),
        ("queue", info.queue),
        ("task", info.task),
        ("status", info.status.value),
        ("attempt", f"{info.attempt}/{info.max_attempts}"),
        ("priority", info.priority),
        ("tags", ",".join(info.tags) or None),
        ("labels", ",".join(f"{k}={v}" for k, v in info.labels.items()) or None),
        ("metadata", json.dumps(info.metadata) if info.metadata else None),
        ("progress", None if info.progress is None else json.dumps(info.progress)),
        ("worker", info.worker),
        ("created", info.created_at),
        ("scheduled", info.scheduled_at),
        ("started", info.started_at),
        ("finished", info.finished_at),
        ("result", None if info.result is None else repr(info.result)),
    ]
    width = max(len(name) for name, _ in fields)
    lines = [f"{name.ljust(width)}  {_cell(value)}" for name, value in fields]
    if info.executions:
        rows = [_execution_row(run) for run in info.executions]
        head = ["ATTEMPT", "OUTCOME", "WORKER", "STARTED", "FINISHED", "ERROR"]
        lines += ["", table(head, rows)]
    if info.log:
        rows = [[_ms_time(e.get("at")), str(e.get("msg", ""))] for e in info.log]
        lines += ["", table(["LOGGED", "MESSAGE"], rows)]
    return "\n".join(lines)


def _ms_time(ms: Any) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(int(ms) / 1000, UTC)


@click.group()
def jobs() -> None:
    """Look at and act on jobs: one by id, or many by filter."""


@jobs.command("show")
@click.argument("app_spec", metavar="MODULE:APP")
@click.argument("job_id")
@click.option("--queue", default="default", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(app_spec: str, job_id: str, queue: str, as_json: bool) -> None:
    """A job's status, attempts, times, errors and result."""
    with _operating(app_spec) as app:
        info = drive_sync(app.sync_client(), info_plan(app, job_id, queue))
    if as_json:
        _echo_json(job_json(info))
    else:
        click.echo(job_text(info))


@jobs.command("cancel")
@click.argument("app_spec", metavar="MODULE:APP")
@click.argument("job_id")
@click.option("--queue", default="default", show_default=True)
@click.option("--reason", default="cancelled by operator", show_default=True)
def cancel_job(app_spec: str, job_id: str, queue: str, reason: str) -> None:
    """Cancel a job: at once if waiting, at its worker's next heartbeat if running.

    Exits with 1 if the job had already finished (nothing was cancelled).
    """
    with _operating(app_spec) as app:
        info, result = drive_sync(app.sync_client(), cancel_plan(app, job_id, queue, reason))
    if result is CancelResult.CANCELLED:
        click.echo(f"cancelled job {job_id} ({info.status.value} before)")
    elif result is CancelResult.REQUESTED:
        click.echo(f"cancel requested: job {job_id} is running; its worker stops it shortly")
    else:
        status = info.status.value
        click.echo(
            f"rtask: job {job_id} had already finished ({status}); nothing cancelled", err=True
        )
        sys.exit(EXIT_ERROR)


# ---------------------------------------------------------------- events


def event_line(event: Event) -> str:
    """One line of `rtask events`."""
    extra = " ".join(f"{k}={v}" for k, v in sorted(event.fields.items()))
    at = event.at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    head = f"{event.id}  {at}  {event.queue}  {event.kind:<9}  {event.job_id}  {event.task}"
    return f"{head}  attempt={event.attempt}" + (f"  {extra}" if extra else "")


def event_json(event: Event) -> dict[str, Any]:
    doc = dataclasses.asdict(event)
    doc["at"] = event.at.isoformat()
    return doc


@click.command()
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queue", default="default", show_default=True)
@click.option("--since", default="0", help="Stream id to start after ('0': oldest kept).")
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new events (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def events(app_spec: str, queue: str, since: str, follow: bool, as_json: bool) -> None:
    """Lifecycle events of a queue, oldest first (needs App(events=True))."""
    with _operating(app_spec) as app:
        try:
            for event in app.events_sync(queue, since=since, follow=follow):
                click.echo(json.dumps(event_json(event)) if as_json else event_line(event))
        except KeyboardInterrupt:
            pass


@click.command()
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queues", default="", help="Comma-separated queues (default: every task's queue).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tasks(app_spec: str, queues: str, as_json: bool) -> None:
    """Task names known on each queue: enqueued there, and/or registered by MODULE:APP."""
    with _operating(app_spec) as app:
        found = app.task_types_sync(_queue_list(queues))
    if as_json:
        _echo_json({"tasks": [dataclasses.asdict(t) for t in found]})
        return
    rows = [
        [t.queue, t.name, "yes" if t.registered else "no", "yes" if t.enqueued else "no"]
        for t in found
    ]
    click.echo(table(["QUEUE", "TASK", "REGISTERED", "ENQUEUED"], rows) if rows else "no tasks")


COMMANDS = (stats, workers, jobs, events, tasks)
