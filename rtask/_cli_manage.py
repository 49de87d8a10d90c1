"""Operator commands on many jobs, or that change jobs: `rtask jobs list |
count | rerun | retry-failed | cancel-many | prune | delete-history`. They join the
`jobs` group of `_cli_admin.py`; errors print one line and exit 1, as there."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ._cli_admin import _echo_json, _operating, _queue_list, job_json, jobs, table
from ._job import JobStatus
from ._list import Filter as JobFilter
from ._manage import Prune, prune_plan
from ._plan import drive_sync

_STATUS = click.Choice([s.value for s in JobStatus])
_FINISHED = click.Choice(["succeeded", "failed", "cancelled"])


def _csv(text: str) -> list[str] | None:
    return [t for t in text.split(",") if t] or None


def _labels(pairs: tuple[str, ...]) -> dict[str, str | None] | None:
    """`--label key=value` (equal) or `--label key` (present)."""
    out: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        out[key] = value if sep else None
    return out or None


def _filters(f: Callable[..., Any]) -> Callable[..., Any]:
    """The filter options shared by `jobs list` and `jobs count`."""
    options = [
        click.option("--queue", default="default", show_default=True),
        click.option("--status", type=_STATUS, default="queued", show_default=True),
        click.option("--tasks", default="", help="Comma-separated task names (default: all)."),
        click.option("--tag", "tags", multiple=True, help="Repeatable: jobs carry every tag."),
        click.option(
            "--any-tag", "any_tags", multiple=True, help="Repeatable: jobs carry one of them."
        ),
        click.option(
            "--label",
            "labels",
            multiple=True,
            help="Repeatable: KEY=VALUE (equal) or KEY (present); jobs match every one.",
        ),
        click.option(
            "--schedule", "schedules", multiple=True, help="Repeatable: made by one of these."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _where(
    tasks: str,
    tags: tuple[str, ...],
    any_tags: tuple[str, ...],
    labels: tuple[str, ...],
    schedules: tuple[str, ...],
) -> JobFilter:
    return JobFilter(
        tasks=_csv(tasks),
        tags=tags,
        any_tags=list(any_tags) or None,
        labels=_labels(labels),
        schedules=list(schedules) or None,
    )


@jobs.command("list")
@click.argument("app_spec", metavar="MODULE:APP")
@_filters
@click.option("--desc", is_flag=True, help="Newest (or last in line) first.")
@click.option(
    "--order",
    type=click.Choice(["status", "created"]),
    default="status",
    show_default=True,
    help="created: by created time, across every status (or --status).",
)
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--page-token", default=None, help="From the previous page's last line.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_jobs(
    app_spec: str,
    queue: str,
    status: str,
    tasks: str,
    tags: tuple[str, ...],
    any_tags: tuple[str, ...],
    labels: tuple[str, ...],
    schedules: tuple[str, ...],
    desc: bool,
    order: str,
    limit: int,
    page_token: str | None,
    as_json: bool,
) -> None:
    """One page of the jobs with a status, in line order (finished: by finish
    time); with --order created, of every status (unless --status) by created time."""
    where = _where(tasks, tags, any_tags, labels, schedules)
    source = click.get_current_context().get_parameter_source("status")
    every = order == "created" and source is click.core.ParameterSource.DEFAULT
    with _operating(app_spec) as app:
        page = app.jobs_sync(
            queue,
            status=None if every else status,
            order=order,
            tasks=where.tasks,
            tags=where.tags,
            any_tags=where.any_tags,
            labels=where.labels,
            schedules=where.schedules,
            descending=desc,
            limit=limit,
            page_token=page_token,
        )
    if as_json:
        doc = {"jobs": [job_json(j) for j in page.jobs], "next_page_token": page.next_page_token}
        _echo_json(doc)
        return
    rows = [
        [j.id, j.task, j.status.value, f"{j.attempt}/{j.max_attempts}", j.priority, j.scheduled_at]
        for j in page.jobs
    ]
    click.echo(table(["ID", "TASK", "STATUS", "ATTEMPT", "PRIORITY", "DUE"], rows))
    if page.next_page_token:
        click.echo(f"next page: --page-token {page.next_page_token}")


@jobs.command("count")
@click.argument("app_spec", metavar="MODULE:APP")
@_filters
def count_jobs(
    app_spec: str,
    queue: str,
    status: str,
    tasks: str,
    tags: tuple[str, ...],
    any_tags: tuple[str, ...],
    labels: tuple[str, ...],
    schedules: tuple[str, ...],
) -> None:
    """How many jobs have a status and match the filters."""
    where = _where(tasks, tags, any_tags, labels, schedules)
    with _operating(app_spec) as app:
        click.echo(app.count_sync(queue, status=status, where=where))


@jobs.command("rerun")
@click.argument("app_spec", metavar="MODULE:APP")
@click.argument("job_ids", nargs=-1, required=True)
@click.option("--queue", default="default", show_default=True)
@click.option("--delay", type=float, default=0.0, show_default=True, help="Seconds from now.")
def rerun(app_spec: str, job_ids: tuple[str, ...], queue: str, delay: float) -> None:
    """Run finished jobs again, each with one more allowed attempt."""
    with _operating(app_spec) as app:
        for job_id in job_ids:
            app.rerun_sync(job_id, queue, delay=delay)
            click.echo(f"rerun job {job_id}")


@jobs.command("retry-failed")
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queue", default="default", show_default=True)
@click.option("--tasks", default="", help="Comma-separated task names (default: all).")
@click.option(
    "--older-than", type=float, default=None, help="Only jobs failed this many seconds ago or more."
)
@click.option(
    "--newer-than", type=float, default=None, help="Only jobs failed within this many seconds."
)
def retry_failed(
    app_spec: str, queue: str, tasks: str, older_than: float | None, newer_than: float | None
) -> None:
    """Rerun the dead letter (failed jobs), or a part of it."""
    now = datetime.now(UTC)
    before = None if older_than is None else now - timedelta(seconds=older_than)
    after = None if newer_than is None else now - timedelta(seconds=newer_than)
    with _operating(app_spec) as app:
        count = app.retry_failed_sync(
            queue, tasks=_csv(tasks), finished_after=after, finished_before=before
        )
    click.echo(f"rerun {count} failed job(s) of queue {queue}")


@jobs.command("cancel-many")
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queue", default="default", show_default=True)
@click.option("--tasks", default="", help="Comma-separated task names (default: all).")
@click.option(
    "--status",
    "statuses",
    type=_STATUS,
    multiple=True,
    help="Repeatable (default: every active status).",
)
@click.option("--tag", "tags", multiple=True, help="Repeatable: jobs must carry every tag.")
@click.option("--reason", default="cancelled by operator", show_default=True)
def cancel_many(
    app_spec: str,
    queue: str,
    tasks: str,
    statuses: tuple[str, ...],
    tags: tuple[str, ...],
    reason: str,
) -> None:
    """Cancel the active jobs matching a filter; running ones stop at their next heartbeat."""
    with _operating(app_spec) as app:
        ids = app.cancel_jobs_sync(
            queue, tasks=_csv(tasks), statuses=list(statuses) or None, tags=tags, reason=reason
        )
    click.echo(f"cancelled {len(ids)} job(s) of queue {queue}")


@jobs.command("prune")
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queue", default="default", show_default=True)
@click.option("--status", type=_FINISHED, required=True)
@click.option("--max-age", type=float, default=None, help="Delete jobs finished longer ago (s).")
@click.option("--max-count", type=int, default=None, help="Keep only this many newest.")
@click.option("--only", default="", help="Comma-separated tasks the rule applies to.")
@click.option("--but", "but_", default="", help="Comma-separated tasks the rule spares.")
def prune(
    app_spec: str,
    queue: str,
    status: str,
    max_age: float | None,
    max_count: int | None,
    only: str,
    but_: str,
) -> None:
    """Delete finished jobs of one status by age or count."""
    with _operating(app_spec) as app:
        rule = Prune(status, max_age, max_count, _csv(only) or (), _csv(but_) or ())
        deleted = drive_sync(app.sync_client(), prune_plan(app, queue, [rule]))
    click.echo(f"deleted {deleted} job(s) of queue {queue}")


@jobs.command("delete-history")
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queues", default="", help="Comma-separated (default: the app's queues).")
@click.option("--older-than", type=float, default=0.0, show_default=True, help="Seconds.")
def delete_history(app_spec: str, queues: str, older_than: float) -> None:
    """Delete every job that finished more than --older-than seconds ago."""
    before = datetime.now(UTC) - timedelta(seconds=older_than)
    with _operating(app_spec) as app:
        deleted = app.delete_history_sync(before, _queue_list(queues))
    click.echo(f"deleted {deleted} finished job(s)")
