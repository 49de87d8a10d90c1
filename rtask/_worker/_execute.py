"""Run one claimed job and turn what happened into an `Outcome`.

No Redis I/O here: the worker reports the outcome in its next finish batch.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import traceback
from collections.abc import Awaitable
from concurrent.futures import Executor
from typing import Any

from .._codec import Codec, decode_args, encode
from .._context import JobContext, _current
from .._errors import Abort, Cancel, CodecError, Retry, Snooze
from .._middleware import ExecuteContext, run_chain
from .._protocol import ClaimedJob, Outcome, OutcomeCode, error_entry, succeeded
from .._task import Task


def _failure(
    job: ClaimedJob,
    code: OutcomeCode,
    kind: str,
    message: str,
    *,
    worker: str,
    delay_s: float = 0.0,
    tb: str = "",
) -> Outcome:
    entry = error_entry(
        attempt=job.attempt, type=kind, message=message, traceback=tb, worker=worker
    )
    return Outcome(job.id, job.token, code, int(delay_s * 1000), entry)


def _decode_args(job: ClaimedJob) -> tuple[list[Any], dict[str, Any]]:
    value = decode_args(job.payload)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], list)
        or not isinstance(value[1], dict)
    ):
        raise CodecError("payload is not [args, kwargs]")
    return value[0], value[1]


async def _call(
    task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any], pool: Executor
) -> Any:
    if task.is_async:
        return await task.fn(*args, **kwargs)
    if not task.blocking:
        return task.fn(*args, **kwargs)
    ctx = contextvars.copy_context()  # carries current_job() into the thread
    call = functools.partial(ctx.run, task.fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, call)


async def _chain(
    task: Task[Any, Any],
    context: JobContext,
    args: list[Any],
    kwargs: dict[str, Any],
    pool: Executor,
) -> Any:
    """The task's call inside its middleware (App's first, then the task's)."""
    if not task.execute_hooks:
        return await _call(task, args, kwargs, pool)
    ctx = ExecuteContext(context, task, args, kwargs)
    return await run_chain(task.execute_hooks, ctx, lambda: _call(task, ctx.args, ctx.kwargs, pool))


def _invoke(
    task: Task[Any, Any],
    context: JobContext,
    args: list[Any],
    kwargs: dict[str, Any],
    pool: Executor,
) -> Awaitable[Any]:
    """`_chain`, or for an async task without middleware its own coroutine
    (the common case: two coroutine frames fewer per job)."""
    if task.is_async and not task.execute_hooks:
        return task.fn(*args, **kwargs)  # type: ignore[no-any-return]
    return _chain(task, context, args, kwargs, pool)


async def execute(
    job: ClaimedJob,
    task: Task[Any, Any] | None,
    context: JobContext,
    *,
    pool: Executor,
    codec: Codec,
    worker: str,
) -> Outcome:
    """Run `job` to an outcome. Cancellation (CancelledError) propagates to the caller."""
    if task is None:
        return _failure(
            job,
            OutcomeCode.FAILED,
            "unknown_task",
            f"no task named {job.task!r} is registered on this worker",
            worker=worker,
        )
    try:
        args, kwargs = _decode_args(job)
    except CodecError as exc:
        return _failure(job, OutcomeCode.FAILED, "decode_error", str(exc), worker=worker)
    _current.set(context)
    timeout_s = job.timeout_ms / 1000 if job.timeout_ms else None
    deadline = None
    try:
        if timeout_s is None:
            value = await _invoke(task, context, args, kwargs, pool)
        else:
            async with asyncio.timeout(timeout_s) as deadline:
                value = await _invoke(task, context, args, kwargs, pool)
    except TimeoutError as exc:
        if deadline is None or not deadline.expired():
            return _error(job, task, exc, worker)
        context.cancelled = True  # a sync task in a thread sees the flag
        return _failure(
            job,
            OutcomeCode.RETRY,
            "timeout",
            f"job did not finish within its timeout of {timeout_s}s",
            worker=worker,
            delay_s=task.backoff(job.attempt),
        )
    except Retry as exc:
        delay = task.backoff(job.attempt) if exc.delay is None else exc.delay
        return _failure(job, OutcomeCode.RETRY, "retry", exc.reason, worker=worker, delay_s=delay)
    except Snooze as exc:
        return Outcome(job.id, job.token, OutcomeCode.SNOOZED, int(max(exc.delay, 0) * 1000))
    except Cancel as exc:
        return _failure(job, OutcomeCode.CANCELLED, "cancelled", exc.reason, worker=worker)
    except Abort as exc:
        return _failure(job, OutcomeCode.FAILED, "aborted", exc.reason, worker=worker)
    except Exception as exc:
        return _error(job, task, exc, worker)
    try:
        blob = b"" if value is None else encode(codec, value)
    except CodecError as exc:
        return _failure(job, OutcomeCode.FAILED, "result_encode_error", str(exc), worker=worker)
    return succeeded(job.id, job.token, blob)


def _error(job: ClaimedJob, task: Task[Any, Any], exc: BaseException, worker: str) -> Outcome:
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    tb = "".join(traceback.format_exception(exc))
    return _failure(
        job,
        OutcomeCode.RETRY,
        "error",
        f"{name}: {exc}",
        worker=worker,
        delay_s=task.backoff(job.attempt),
        tb=tb,
    )


def released(job: ClaimedJob) -> Outcome:
    """Hand `job` back unrun (shutdown): no attempt used, its place in line kept."""
    return Outcome(job.id, job.token, OutcomeCode.RELEASED)


def cancelled(job: ClaimedJob, worker: str) -> Outcome:
    """Acknowledge a cancel received while running."""
    return _failure(
        job, OutcomeCode.CANCELLED, "cancelled", "cancelled while running", worker=worker
    )
