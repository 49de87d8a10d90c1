"""Lifecycle events through a worker, the events API and CLI; labels,
metadata, progress and the job log seen from the task and from outside."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import rtask
from rtask import _protocol as proto
from rtask._cli import main

from ._helpers import RESULT_TIMEOUT, background, close, run, until, worker

pytestmark = pytest.mark.timeout(30)


async def kinds_of(app: rtask.App, job_id: str, queue: str = "default") -> list[tuple[str, int]]:
    return [(e.kind, e.attempt) async for e in app.events(queue) if e.job_id == job_id]


def test_events_of_a_job_that_retries_then_succeeds(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, events=True)

        @app.task(backoff=0)
        async def flaky() -> str:
            if rtask.current_job().attempt == 1:
                raise RuntimeError("first attempt fails")
            return "ok"

        try:
            job = await flaky.enqueue()
            await worker(app).run(burst=True)
            assert await job.result(timeout=RESULT_TIMEOUT) == "ok"

            events = [e async for e in app.events()]
            assert [(e.kind, e.attempt) for e in events] == [
                ("enqueued", 0),
                ("started", 1),
                ("retrying", 1),
                ("started", 2),
                ("succeeded", 2),
            ]
            assert {e.job_id for e in events} == {job.id}
            assert events[1].fields["w"] == events[3].fields["w"]
            assert [e.at for e in events] == sorted(e.at for e in events)
            # reading on from an id gives what came after it
            after = [e.kind async for e in app.events(since=events[2].id)]
            assert after == ["started", "succeeded"]
        finally:
            await close(app)

    run(body)


def test_no_events_unless_enabled(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def noop() -> None:
            return None

        try:
            await noop.enqueue()
            await worker(app).run(burst=True)
            assert [e async for e in app.events()] == []
        finally:
            await close(app)

    run(body)


def test_events_of_cancels(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, events=True)
        release = asyncio.Event()

        @app.task
        async def hold() -> None:
            await release.wait()

        try:
            waiting = await hold.options(delay=3600).enqueue()
            assert await waiting.cancel("not needed")
            async with background(app):
                running = await hold.enqueue()
                await until(lambda: _status(running, rtask.JobStatus.RUNNING), "the job to start")
                assert await running.cancel("stop it")
                await until(lambda: _status(running, rtask.JobStatus.CANCELLED), "the cancel")
                # the worker acknowledged the cancel (its slot is free)
                await until(lambda: _idle(app), "the running set to empty")
            assert await kinds_of(app, waiting.id) == [("enqueued", 0), ("cancelled", 0)]
            assert await kinds_of(app, running.id) == [
                ("enqueued", 0),
                ("started", 1),
                ("cancelled", 1),
            ]
            reasons = [e.fields["reason"] async for e in app.events() if e.kind == "cancelled"]
            assert reasons == ["not needed", "stop it"]
        finally:
            await close(app)

    run(body)


async def _status(job: rtask.Job[Any], status: rtask.JobStatus) -> bool:
    return (await job.info()).status is status


async def _idle(app: rtask.App) -> bool:
    return (await app.stats(["default"]))[0].running == 0


def test_events_of_a_lost_lease(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, events=True)

        @app.task(name="lost")
        async def lost() -> str:
            return "rerun"

        try:
            job = await lost.enqueue()
            # a worker that claims the job and dies (its lease lasts 1 ms)
            dead = proto.claim(
                app.keys("default"),
                "default",
                worker="dead-worker",
                n=1,
                lease_ms=1,
                tasks=[("lost", 0)],
                events=True,
            )
            assert len((await app.async_client().run(dead)).jobs) == 1
            async with background(app, recover_s=0.05):
                assert await job.result(timeout=RESULT_TIMEOUT) == "rerun"
            events = [e async for e in app.events()]
            assert [(e.kind, e.attempt) for e in events] == [
                ("enqueued", 0),
                ("started", 1),
                ("lost", 1),
                ("started", 2),
                ("succeeded", 2),
            ]
            assert events[2].fields == {"s": "retrying", "w": "dead-worker"}
        finally:
            await close(app)

    run(body)


def test_follow_waits_for_new_events(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, events=True)

        @app.task
        async def noop() -> None:
            return None

        try:
            old = await noop.enqueue()
            seen: list[str] = []

            async def follow() -> None:
                async for event in app.events(since="$", follow=True):
                    seen.append(event.job_id)
                    return

            # The follower has read where the stream ends once it calls XREAD.
            redis = app.async_client().redis
            reading = asyncio.Event()
            xread = redis.xread

            async def spied_xread(*args: Any, **kwargs: Any) -> Any:
                reading.set()
                return await xread(*args, **kwargs)

            redis.xread = spied_xread  # type: ignore[method-assign]
            follower = asyncio.create_task(follow())
            await reading.wait()
            new = await noop.enqueue()
            await asyncio.wait_for(follower, 10)
            assert seen == [new.id] and old.id not in seen
        finally:
            await close(app)

    run(body)


def test_events_cli(redis_url: str, prefix: str, tmp_path: Path, monkeypatch: Any) -> None:
    name = f"events_cli_app_{uuid.uuid4().hex[:8]}"
    source = f"""
        import rtask

        app = rtask.App({redis_url!r}, prefix={prefix!r}, events=True)


        @app.task(name="ok")
        async def ok() -> None:
            rtask.current_job().log("hello from the task")
            await rtask.current_job().set_progress(1.0)
    """
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    app: rtask.App = importlib.import_module(name).app
    try:
        job = app.tasks["ok"].enqueue_sync()
        asyncio.run(_drain(app))

        text = CliRunner().invoke(main, ["events", f"{name}:app"])
        assert text.exit_code == 0, text.output
        lines = text.output.splitlines()
        assert [line.split()[3] for line in lines] == ["enqueued", "started", "succeeded"]
        assert all(job.id in line and " ok " in line for line in lines)

        as_json = CliRunner().invoke(main, ["events", f"{name}:app", "--json"])
        docs = [json.loads(line) for line in as_json.output.splitlines()]
        assert [d["kind"] for d in docs] == ["enqueued", "started", "succeeded"]
        after = CliRunner().invoke(main, ["events", f"{name}:app", "--since", docs[1]["id"]])
        assert [line.split()[3] for line in after.output.splitlines()] == ["succeeded"]

        show = CliRunner().invoke(main, ["jobs", "show", f"{name}:app", job.id])
        assert show.exit_code == 0, show.output
        assert re.search(r"^progress +1\.0$", show.output, re.MULTILINE), show.output
        assert "LOGGED" in show.output and "hello from the task" in show.output

        bad = CliRunner().invoke(main, ["events", f"{name}:app", "--since", "yesterday"])
        assert bad.exit_code == 1 and "since" in bad.stderr
    finally:
        app.close()


async def _drain(app: rtask.App) -> None:
    await worker(app).run(burst=True)
    await app.aclose()


# ---------------------------------------------------------------- context


def test_labels_metadata_progress_and_log(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        seen: dict[str, Any] = {}

        @app.task
        async def export(rows: int) -> int:
            ctx = rtask.current_job()
            seen.update(labels=ctx.labels, metadata=ctx.metadata)
            for done in range(1, rows + 1):
                ctx.log(f"row {done}")
                await ctx.set_progress({"done": done, "of": rows})
            return rows

        try:
            job = await export.options(
                labels={"tenant": "acme"}, metadata={"requested_by": 7, "why": ["audit"]}
            ).enqueue(3)
            before = await job.info()
            assert (before.labels, before.metadata, before.progress, before.log) == (
                {"tenant": "acme"},
                {"requested_by": 7, "why": ["audit"]},
                None,
                [],
            )
            await worker(app).run(burst=True)
            assert await job.result(timeout=RESULT_TIMEOUT) == 3
            info = await job.info()
            assert seen == {"labels": info.labels, "metadata": info.metadata}
            assert info.progress == {"done": 3, "of": 3}  # written with the outcome
            assert [entry["msg"] for entry in info.log] == ["row 1", "row 2", "row 3"]
            assert all(isinstance(entry["at"], int) for entry in info.log)
        finally:
            await close(app)

    run(body)


def test_progress_of_a_running_job(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        go_on = threading.Event()
        problems: list[str] = []

        @app.task
        async def flushed() -> None:
            await rtask.current_job().set_progress(0.5, flush=True)
            await asyncio.to_thread(go_on.wait, 10)

        @app.task
        def buffered() -> None:  # a blocking task: its progress rides the heartbeat
            ctx = rtask.current_job()
            ctx.set_progress_sync(0.25)
            ctx.log("halfway")
            try:
                ctx.set_progress_sync(object())
            except rtask.InvalidInput as exc:
                problems.append(str(exc))
            go_on.wait(10)

        try:
            async with background(app, heartbeat_s=0.05):
                a, b = await flushed.enqueue(), await buffered.enqueue()
                info_a = await until(lambda: _progress(a, 0.5), "the flushed progress")
                assert info_a.status is rtask.JobStatus.RUNNING
                info_b = await until(lambda: _progress(b, 0.25), "progress with the heartbeat")
                assert info_b.status is rtask.JobStatus.RUNNING
                assert [e["msg"] for e in info_b.log] == ["halfway"]
                go_on.set()
                await a.result(timeout=RESULT_TIMEOUT)
                await b.result(timeout=RESULT_TIMEOUT)
            assert problems and "JSON" in problems[0]
        finally:
            go_on.set()
            await close(app)

    run(body)


async def _progress(job: rtask.Job[Any], value: float) -> rtask.JobInfo | None:
    info = await job.info()
    return info if info.progress == value else None


def test_bad_labels_and_metadata_are_rejected(rtask_app: rtask.App) -> None:
    @rtask_app.task
    def noop() -> None: ...

    for labels in ({"k": 1}, {"": "v"}, {"k": "a\0b"}):
        with pytest.raises(rtask.InvalidInput, match="label"):
            noop.options(labels=labels).enqueue_sync()  # type: ignore[arg-type]
    with pytest.raises(rtask.InvalidInput, match="metadata"):
        noop.options(metadata={"when": object()}).enqueue_sync()
    from rtask.testing import assert_enqueued

    assert_enqueued(rtask_app, noop, count=0)
