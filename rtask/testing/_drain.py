"""`drain` / `drain_sync`: run every due job with an in-process worker in burst mode."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import RtaskError, map_redis_errors

if TYPE_CHECKING:
    from .._app import App


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one drain did: outcomes as the worker reported them.

    `retried` counts attempts that ended in an exception, a timeout or
    `Retry`: the job runs again after its backoff, or is `failed` if that was
    its last attempt. `failed` counts outcomes that failed a job at once
    (`Abort`, unknown task, undecodable payload). Check final statuses with
    `assert_enqueued(..., status=...)`.
    """

    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    snoozed: int = 0
    cancelled: int = 0

    @classmethod
    def from_stats(cls, stats: Mapping[str, int]) -> DrainResult:
        """The result from a worker's `stats` counters."""
        return cls(
            claimed=stats.get("claimed", 0),
            succeeded=stats.get("outcome.succeeded", 0),
            retried=stats.get("outcome.retry", 0),
            failed=stats.get("outcome.failed", 0),
            snoozed=stats.get("outcome.snoozed", 0),
            cancelled=stats.get("outcome.cancelled", 0),
        )

    @property
    def ran(self) -> int:
        """Runs that reached an outcome."""
        return self.succeeded + self.retried + self.failed + self.snoozed + self.cancelled


async def drain(
    app: App, queues: Sequence[str] | None = None, **worker_options: Any
) -> DrainResult:
    """Run every due job of `queues` (default: the queues of the app's tasks)
    with an in-process worker in burst mode, until nothing is due and nothing
    runs. Sync and async tasks run as under `rtask worker`.

    A retry or snooze that is due at once (backoff 0) runs in the same drain;
    jobs due later (a delay, a backoff) are left waiting. Jobs of tasks the
    app does not define fail with `unknown_task`, as on any worker. Worker
    options are `WorkerConfig` fields; signals are not handled unless
    `handle_signals=True` is given.
    """
    names = list(queues) if queues is not None else (app.queues() or ["default"])
    redis = app.async_client().redis
    serving = []
    for queue in names:
        # A queue without a known task has nothing to run (and a burst worker
        # given one would wait for work forever).
        if any(t.queue == queue for t in app.tasks.values()):
            serving.append(queue)
            continue
        with map_redis_errors():
            if await redis.scard(app.keys(queue).tasks):
                serving.append(queue)
    if not serving:
        return DrainResult()
    options: dict[str, Any] = {"handle_signals": False, **worker_options}
    worker = app.worker(serving, **options)
    await worker.run(burst=True)
    return DrainResult.from_stats(worker.stats)


def _no_running_loop(name: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RtaskError(f"{name}() cannot run inside a running event loop: use `await {instead}`")


def drain_sync(app: App, queues: Sequence[str] | None = None, **worker_options: Any) -> DrainResult:
    """`drain` for sync test code: runs it with `asyncio.run` in this thread.

    Raises `RtaskError` if an event loop is running here (use `await drain`).
    """
    _no_running_loop("drain_sync", "rtask.testing.drain(app)")

    async def run() -> DrainResult:
        try:
            return await drain(app, queues, **worker_options)
        finally:
            await app.aclose()  # the loop ends here: so does its client

    return asyncio.run(run())
