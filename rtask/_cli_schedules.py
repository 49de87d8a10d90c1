"""`rtask schedules list | show | stop | trigger`: schedules stored in Redis.

Same conventions as the other operator commands (`_cli_admin.py`): plain
tables, `--json`, one-line errors with exit code 1.
"""

from __future__ import annotations

import click

from ._cli_admin import _cell, _echo_json, _operating, _queue_list, table
from ._schedule import ScheduleInfo
from ._schedules import describe


def _when(info: ScheduleInfo) -> str:
    t = info.timing
    if t.kind == "cron":
        return f"cron {t.cron} {t.tz}"
    if t.kind == "every":
        return f"every {t.every_ms / 1000:g}s"
    if t.kind == "once":
        return "once"
    return "manual"


def schedules_text(infos: list[ScheduleInfo]) -> str:
    """The table of `rtask schedules list`."""
    if not infos:
        return "no schedules"
    rows = [
        [
            i.queue,
            i.id,
            i.task,
            _when(i),
            "stopped" if i.stopped else "active",
            i.active_status.value if i.active_status else None,
            i.next_run_at,
        ]
        for i in infos
    ]
    return table(["QUEUE", "ID", "TASK", "WHEN", "STATE", "JOB", "NEXT_RUN"], rows)


def schedule_text(info: ScheduleInfo) -> str:
    """`rtask schedules show`: one schedule, a field per line."""
    doc = describe(info)
    width = max(len(k) for k in doc)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in doc.items())


@click.group()
def schedules() -> None:
    """List, inspect, stop and trigger schedules."""


@schedules.command("list")
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--queues", default="", help="Comma-separated queues (default: every task's).")
@click.option("--task", default=None, help="Only schedules of this task.")
@click.option("--stopped/--active", default=None, help="Only stopped, or only active ones.")
@click.option(
    "--label", "labels", multiple=True, metavar="KEY=VALUE", help="Only with this label (repeat)."
)
@click.option(
    "--order", type=click.Choice(["id", "next_run", "created"]), default="id", show_default=True
)
@click.option("--desc", is_flag=True, help="Descending order.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--page", default=None, help="The page token printed after the last page.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_schedules(
    app_spec: str,
    queues: str,
    task: str | None,
    stopped: bool | None,
    labels: tuple[str, ...],
    order: str,
    desc: bool,
    limit: int,
    page: str | None,
    as_json: bool,
) -> None:
    """Schedules with their state and next run."""
    wanted = {}
    for label in labels:
        key, sep, value = label.partition("=")
        if not sep:
            raise click.BadParameter(f"{label!r} is not KEY=VALUE", param_hint="--label")
        wanted[key] = value
    with _operating(app_spec) as app:
        found = app.list_schedules_sync(
            queues=_queue_list(queues),
            task=task,
            stopped=stopped,
            labels=wanted,
            order=order,  # type: ignore[arg-type]
            descending=desc,
            limit=limit,
            page=page,
        )
    if as_json:
        _echo_json({"schedules": [describe(i) for i in found.items], "next_page": found.next_page})
        return
    click.echo(schedules_text(found.items))
    if found.next_page:
        click.echo(f"\nnext page: --page {found.next_page}")


@schedules.command("show")
@click.argument("app_spec", metavar="MODULE:APP")
@click.argument("schedule_id")
@click.option("--queue", default=None, help="The schedule's queue (default: search all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_schedule(app_spec: str, schedule_id: str, queue: str | None, as_json: bool) -> None:
    """One schedule: its timing, arguments, state and active job."""
    with _operating(app_spec) as app:
        info = app.get_schedule_sync(schedule_id, queue)
    if as_json:
        _echo_json(describe(info))
    else:
        click.echo(schedule_text(info))


@schedules.command("stop")
@click.argument("app_spec", metavar="MODULE:APP")
@click.argument("schedule_id")
@click.option("--queue", default=None, help="The schedule's queue (default: search all).")
@click.option("--cancel-active", is_flag=True, help="Cancel its active job too.")
@click.option("--reason", default="stopped by operator", show_default=True)
def stop_schedule(
    app_spec: str, schedule_id: str, queue: str | None, cancel_active: bool, reason: str
) -> None:
    """Stop a schedule: no more jobs are planned for it."""
    with _operating(app_spec) as app:
        reply = app.stop_schedule_sync(
            schedule_id, queue=queue, cancel_active=cancel_active, reason=reason
        )
    state = "stopped" if reply.result > 0 else "was already stopped"
    job = ""
    if reply.active_job:
        verb = {1: "cancelled", 2: "cancel requested", 0: "had finished"}.get(
            reply.cancel if reply.cancel is not None else -1, "left to run"
        )
        job = f"; active job {reply.active_job}: {verb}"
    click.echo(f"schedule {schedule_id} {state}{job}")


@schedules.command("trigger")
@click.argument("app_spec", metavar="MODULE:APP")
@click.argument("schedule_id")
@click.option("--queue", default=None, help="The schedule's queue (default: search all).")
def trigger_schedule(app_spec: str, schedule_id: str, queue: str | None) -> None:
    """Run a schedule now, in place of its waiting future tick (none is lost)."""
    with _operating(app_spec) as app:
        job = app.trigger_schedule_sync(schedule_id, queue)
    click.echo(f"schedule {schedule_id}: job {job.id} runs now")


COMMANDS = (schedules,)
