"""Middleware: a small, explicit list of hooks around enqueue and execution.

    app = rtask.App(url, middleware=[rtask.middleware.Logging()])

    @app.task(middleware=[rtask.middleware.CircuitBreaker(failure_threshold=5)])
    async def call_partner(order_id: int) -> None: ...

A middleware subclasses `Middleware` and overrides either hook:

- `on_enqueue(ctx)` runs in the producer, for each job, before anything is
  stored. It may change `ctx.args`, `ctx.kwargs` or the options
  (`ctx.set_options(delay=…, labels=…)`), or raise: `EnqueueSkipped` (or any
  error) reaches the caller and nothing is stored. It is sync, so that
  `enqueue_sync` runs it too: it must not block on I/O.
- `around_execute(ctx, call_next)` runs in the worker around the task
  function: code before `await call_next()` runs before the task, code after
  it once it returned, an `except` sees its error. It may return a value
  without calling `call_next` (the run is skipped and succeeds with that
  value), raise `rtask.Retry` / `rtask.Snooze` / `rtask.Cancel` /
  `rtask.Abort` to choose the outcome, or turn an error into a value.

Order: the App's middleware first (outermost), then the task's, in list
order; `on_enqueue` hooks run in the same order. The job's timeout covers the
whole chain. With no middleware nothing is wrapped (no cost).

Rate limits are not a hook: `@app.task(rate_limit="100/s")` is enforced
inside the claim script, cluster-wide, so a limited job is never claimed and
never uses an attempt (see `parse_rate_limit`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._context import JobContext
from ._errors import ConfigError

if TYPE_CHECKING:
    from ._task import EnqueueOptions, Task

CallNext = Callable[[], Awaitable[Any]]


@dataclass(slots=True)
class EnqueueContext:
    """One job about to be enqueued, as `on_enqueue` sees (and may change) it."""

    task: Task[Any, Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: EnqueueOptions

    def set_options(self, **changes: Any) -> None:
        """Change options with `Task.options` keywords (`delay`, `priority`,
        `tags`, `labels`, `metadata`, …); checked when the job is built."""
        from ._task import renamed_options

        self.options = renamed_options(self.options, changes)


@dataclass(slots=True)
class ExecuteContext:
    """One run of a job, as `around_execute` sees it.

    `extra` is free for middleware to pass values to each other (e.g. Timing
    stores "duration_s" there).
    """

    job: JobContext
    task: Task[Any, Any]
    args: list[Any]
    kwargs: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


class Middleware:
    """Base class of middleware: override `on_enqueue`, `around_execute`, or both."""

    def on_enqueue(self, ctx: EnqueueContext) -> None:
        """Called before a job of the task is stored (sync; no I/O)."""

    async def around_execute(self, ctx: ExecuteContext, call_next: CallNext) -> Any:
        """Wraps a run of the task: return `await call_next()` to run it."""
        return await call_next()


def enqueue_hooks(middleware: Sequence[Middleware]) -> list[Callable[[EnqueueContext], None]]:
    """The `on_enqueue` hooks that do something (the base class's are skipped)."""
    return [m.on_enqueue for m in middleware if type(m).on_enqueue is not Middleware.on_enqueue]


def execute_hooks(
    middleware: Sequence[Middleware],
) -> list[Callable[[ExecuteContext, CallNext], Awaitable[Any]]]:
    """The `around_execute` hooks that do something."""
    return [
        m.around_execute
        for m in middleware
        if type(m).around_execute is not Middleware.around_execute
    ]


def check_middleware(middleware: Sequence[Middleware] | None, owner: str) -> list[Middleware]:
    """The list, or `ConfigError` if an item is not a `Middleware`."""
    items = list(middleware or ())
    for m in items:
        if not isinstance(m, Middleware):
            raise ConfigError(f"{owner}: middleware must be rtask.middleware.Middleware, not {m!r}")
    return items


async def run_chain(
    hooks: Sequence[Callable[[ExecuteContext, CallNext], Awaitable[Any]]],
    ctx: ExecuteContext,
    final: CallNext,
) -> Any:
    """Run `final` inside every hook of `hooks`, the first one outermost."""

    def step(i: int) -> CallNext:
        if i == len(hooks):
            return final
        hook, inner = hooks[i], step(i + 1)
        return lambda: hook(ctx, inner)

    return await step(0)()


# ---------------------------------------------------------------- rate limits

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*\.?\d*)\s*(ms|s|m|h|d)\s*")
RateLimitLike = str | tuple[int, float]


def parse_rate_limit(rate: RateLimitLike | None, owner: str) -> tuple[int, int] | None:
    """`(limit, period_ms)` from "100/s", "10/m", "5/2s", "1000/h", "3/1.5s",
    or a tuple (limit, period in seconds); None for no limit. `ConfigError` if bad."""
    if rate is None:
        return None
    limit: int
    period_s: float
    if isinstance(rate, str):
        match = _RATE.fullmatch(rate)
        if not match:
            raise ConfigError(
                f"{owner}: rate_limit {rate!r} is not N/<period> (e.g. '100/s', '10/m', '5/2s')"
            )
        count, number, unit = match.groups()
        limit = int(count)
        period_s = (float(number) if number else 1.0) * _UNITS[unit]
    elif isinstance(rate, tuple) and len(rate) == 2:
        limit, period_s = rate
    else:
        raise ConfigError(f"{owner}: rate_limit takes 'N/period' or (N, seconds), not {rate!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"{owner}: rate_limit needs a count >= 1, got {limit!r}")
    if (
        isinstance(period_s, bool)
        or not isinstance(period_s, int | float)
        or not math.isfinite(period_s)
    ):
        raise ConfigError(f"{owner}: rate_limit period must be a number of seconds")
    period_ms = round(period_s * 1000)
    if period_ms < 1:
        raise ConfigError(f"{owner}: rate_limit period must be at least 1 ms")
    return limit, period_ms
