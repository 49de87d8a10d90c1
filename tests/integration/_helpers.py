"""Helpers shared by the integration tests: run a coroutine, run a worker in the background."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import rtask

T = TypeVar("T")

# Worker settings for fast, deterministic tests.
FAST = {
    "handle_signals": False,
    "lease_s": 1.0,
    "heartbeat_s": 0.1,
    "grace_s": 5.0,
    "recover_s": 0.2,
}
RESULT_TIMEOUT = 10.0


def run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run of a test body; the body closes its apps itself."""
    return asyncio.run(factory())


def worker(app: rtask.App, **options: Any) -> rtask.Worker:
    """app.worker with FAST settings, overridable."""
    return app.worker(**{**FAST, **options})


@asynccontextmanager
async def background(
    app: rtask.App, **options: Any
) -> AsyncIterator[tuple[rtask.Worker, asyncio.Task[None]]]:
    """A worker running as a background task; stopped and awaited on exit."""
    w = worker(app, **options)
    task = asyncio.create_task(w.run())
    try:
        yield w, task
    finally:
        if not task.done():
            w.stop()
            await stopped(task, w.config.grace_s + 5)
        elif not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def stopped(task: asyncio.Task[None], timeout: float) -> None:
    """Await a stopping worker's run(); if it hangs, fail with every task's stack."""
    done, _ = await asyncio.wait([task], timeout=timeout)
    if done:
        task.result()
        return
    stacks = task_stacks()
    task.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(task, 5)
    raise AssertionError(f"worker.run() did not return {timeout}s after stop():\n{stacks}")


def task_stacks() -> str:
    out = io.StringIO()
    for t in asyncio.all_tasks():
        if t is not asyncio.current_task():
            print(f"--- {t.get_name()} cancelling={t.cancelling()}", file=out)
            t.print_stack(file=out)
    return out.getvalue()


async def close(*apps: rtask.App) -> None:
    for app in apps:
        await app.aclose()
        app.close()


def seconds(a: datetime | None, b: datetime | None) -> float:
    """b - a in seconds (both must be set)."""
    assert a is not None
    assert b is not None
    return (b - a).total_seconds()


def at(entry: dict[str, Any]) -> float:
    """An error entry's `at` (ms since the epoch) in seconds."""
    return int(entry["at"]) / 1000


async def until(cond: Callable[[], Awaitable[Any]], what: str, timeout: float = 10.0) -> Any:
    """Poll an async condition (a worker runs meanwhile) until it is truthy:
    a deadline, not a fixed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := await cond()):
        assert loop.time() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.01)
    return value
