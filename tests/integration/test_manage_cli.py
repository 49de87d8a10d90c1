"""`rtask jobs rerun | retry-failed | cancel-many | prune | delete-history`
through click's CliRunner, on both backends."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

import rtask
from rtask import JobStatus

from ._helpers import close, run, worker
from .test_admin_cli import app_module, cli, failed_cleanly

pytestmark = pytest.mark.timeout(30)
__all__ = ["app_module"]  # the fixture, imported for this module's tests


def test_rerun_and_retry_failed(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"

    async def body() -> list[str]:
        try:
            failed = await app_module.bad.enqueue_many([(), (), ()])
            await worker(app).run(burst=True)
            return [j.id for j in failed]
        finally:
            await close(app)

    ids = run(body)
    out = cli("jobs", "rerun", spec, ids[0], "--queue", "risky")
    assert out.exit_code == 0, out.output
    assert f"rerun job {ids[0]}" in out.output
    info = app.job_sync(ids[0], "risky").info()
    assert (info.status, info.max_attempts) == (JobStatus.RETRYING, 3)
    failed_cleanly(cli("jobs", "rerun", spec, ids[0], "--queue", "risky"), "only finished jobs")

    # failed over an hour ago: none; then the two left
    out = cli("jobs", "retry-failed", spec, "--queue", "risky", "--older-than", "3600")
    assert "rerun 0 failed job(s)" in out.output
    out = cli("jobs", "retry-failed", spec, "--queue", "risky", "--tasks", "bad")
    assert out.exit_code == 0, out.output
    assert "rerun 2 failed job(s) of queue risky" in out.output
    assert {app.job_sync(i, "risky").info().status for i in ids} == {JobStatus.RETRYING}


def test_cancel_many_prune_and_delete_history(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"

    async def body() -> list[str]:
        try:
            done = await app_module.ok.enqueue_many([(k,) for k in range(5)])
            await worker(app).run(burst=True)
            await app_module.ok.options(tags=["x"]).enqueue_many([(1,), (2,)])
            await app_module.ok.options(delay=60).enqueue(3)
            return [j.id for j in done]
        finally:
            await close(app)

    done = run(body)
    out = cli("jobs", "cancel-many", spec, "--tag", "x", "--status", "queued")
    assert out.exit_code == 0, out.output
    assert "cancelled 2 job(s) of queue default" in out.output

    out = cli("jobs", "prune", spec, "--status", "succeeded", "--max-count", "2")
    assert out.exit_code == 0, out.output
    assert "deleted 3 job(s)" in out.output
    assert app.stats_sync(["default"])[0].succeeded == 2
    failed_cleanly(cli("jobs", "prune", spec, "--status", "failed"), "either max_age or max_count")

    out = cli("jobs", "delete-history", spec, "--queues", "default")
    assert out.exit_code == 0, out.output
    assert "deleted 4 finished job(s)" in out.output  # 2 succeeded, 2 cancelled
    stats = app.stats_sync(["default"])[0]
    assert (stats.succeeded, stats.cancelled, stats.scheduled) == (0, 0, 1)
    with pytest.raises(rtask.JobNotFound):
        app.job_sync(done[-1])


def test_list_pages(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"

    async def body() -> list[str]:
        try:
            return [j.id for j in await app_module.ok.enqueue_many([(k,) for k in range(5)])]
        finally:
            await close(app)

    ids = run(body)
    first = cli("jobs", "list", spec, "--limit", "3")
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0].split()[:3] == ["ID", "TASK", "STATUS"]
    assert [line.split()[0] for line in lines[1:4]] == ids[:3]
    token = lines[-1].split("--page-token ")[1]
    doc = json.loads(cli("jobs", "list", spec, "--page-token", token, "--json").output)
    assert [j["id"] for j in doc["jobs"]] == ids[3:]
    assert doc["next_page_token"] is None
    failed_cleanly(cli("jobs", "list", spec, "--page-token", "garbage"), "invalid page token")


def test_list_and_count_with_label_and_tag_filters(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"

    async def body() -> tuple[str, str]:
        try:
            acme = await app_module.ok.options(labels={"tenant": "acme"}, tags=["x"]).enqueue(1)
            other = await app_module.ok.options(labels={"tenant": "globex"}, tags=["y"]).enqueue(2)
            await app_module.ok.enqueue(3)
            return acme.id, other.id
        finally:
            await close(app)

    acme, other = run(body)
    out = cli("jobs", "list", spec, "--label", "tenant=acme")
    assert out.exit_code == 0, out.output
    assert [line.split()[0] for line in out.output.splitlines()[1:]] == [acme]
    doc = json.loads(cli("jobs", "list", spec, "--label", "tenant", "--json").output)
    assert {j["id"] for j in doc["jobs"]} == {acme, other}
    doc = json.loads(cli("jobs", "list", spec, "--any-tag", "y", "--json").output)
    assert [j["id"] for j in doc["jobs"]] == [other]

    assert cli("jobs", "count", spec).output.strip() == "3"
    assert cli("jobs", "count", spec, "--label", "tenant").output.strip() == "2"
    out = cli("jobs", "count", spec, "--any-tag", "x", "--any-tag", "y", "--tag", "y")
    assert out.output.strip() == "1"
    assert cli("jobs", "count", spec, "--schedule", "none").output.strip() == "0"
    assert cli("jobs", "count", spec, "--status", "running").output.strip() == "0"


def test_list_by_created_time_across_statuses(app_module: ModuleType) -> None:
    app: rtask.App = app_module.app
    spec = f"{app_module.__name__}:app"

    async def body() -> list[str]:
        try:
            first = await app_module.ok.enqueue_many([(1,), (2,)], ids=["c-b", "c-a"])
            later = await app_module.ok.options(delay=3600).enqueue(3)
            await first[0].cancel()
            infos = [await j.info() for j in [*first, later]]
            # by created time; c-a and c-b (one call) tie: id order
            return [i.id for i in sorted(infos, key=lambda i: (i.created_at, i.id))]
        finally:
            await close(app)

    ids = run(body)
    doc = json.loads(cli("jobs", "list", spec, "--order", "created", "--json").output)
    assert [j["id"] for j in doc["jobs"]] == ids
    assert {j["status"] for j in doc["jobs"]} == {"queued", "cancelled", "scheduled"}
    out = cli("jobs", "list", spec, "--order", "created", "--desc", "--status", "cancelled")
    assert [line.split()[0] for line in out.output.splitlines()[1:]] == ["c-b"]
