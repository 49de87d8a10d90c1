"""Middleware shipped with rtask, and the base class to write your own.

- `Logging`: one structured log record per enqueue, start and end of a run.
- `Timing`: measures each run; logs it and calls a callback of yours.
- `CircuitBreaker`: after N consecutive failures, runs are snoozed (no
  attempt used) for a cool-down, then one probe run decides.

Rate limits are declared on the task (`@app.task(rate_limit="100/s")`) and
enforced by the claim script, not by a hook: see `rtask._middleware`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._errors import Abort, Cancel, EnqueueSkipped, Retry, Snooze
from ._middleware import (
    CallNext,
    EnqueueContext,
    ExecuteContext,
    Middleware,
    RateLimitLike,
    parse_rate_limit,
)

__all__ = [
    "CallNext",
    "CircuitBreaker",
    "EnqueueContext",
    "EnqueueSkipped",
    "ExecuteContext",
    "Logging",
    "Middleware",
    "RateLimitLike",
    "Timing",
    "outcome_of",
    "parse_rate_limit",
]


def outcome_of(exc: BaseException | None) -> str:
    """A short name of how a run ended: "succeeded" (no exception), "retry",
    "snooze", "cancel", "abort", "stopped" (cancelled, timed out or handed
    back) or "error"."""
    if exc is None:
        return "succeeded"
    if isinstance(exc, Retry):
        return "retry"
    if isinstance(exc, Snooze):
        return "snooze"
    if isinstance(exc, Cancel):
        return "cancel"
    if isinstance(exc, Abort):
        return "abort"
    if isinstance(exc, asyncio.CancelledError):
        return "stopped"
    return "error"


def _fields(ctx: ExecuteContext) -> dict[str, Any]:
    job = ctx.job
    return {
        "job_id": job.id,
        "queue": job.queue,
        "task": job.task,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
    }


def _logger(logger: logging.Logger | str | None, default: str) -> logging.Logger:
    if isinstance(logger, logging.Logger):
        return logger
    return logging.getLogger(logger or default)


class Logging(Middleware):
    """Logs each enqueue, start and end of a run, with the job's fields in
    `extra={"rtask": {...}}` (job_id, queue, task, attempt, max_attempts,
    outcome, duration_ms) for structured log handlers.

    Runs that end in an error log at WARNING with the traceback; the rest
    at `level`.
    """

    def __init__(self, logger: logging.Logger | str | None = None, level: int = logging.INFO):
        self.log = _logger(logger, "rtask.jobs")
        self.level = level

    def on_enqueue(self, ctx: EnqueueContext) -> None:
        fields = {"task": ctx.task.name, "queue": ctx.task.queue}
        self.log.log(self.level, "enqueue %s", ctx.task.name, extra={"rtask": fields})

    async def around_execute(self, ctx: ExecuteContext, call_next: CallNext) -> Any:
        fields = _fields(ctx)
        name, attempt = ctx.job.task, ctx.job.attempt
        self.log.log(
            self.level,
            "start %s %s (attempt %d)",
            name,
            ctx.job.id,
            attempt,
            extra={"rtask": fields},
        )
        started = time.perf_counter()
        try:
            value = await call_next()
        except BaseException as exc:
            outcome = outcome_of(exc)
            end = fields | {"outcome": outcome, "duration_ms": _ms_since(started)}
            level = logging.WARNING if outcome == "error" else self.level
            self.log.log(
                level,
                "%s %s %s: %s",
                outcome,
                name,
                ctx.job.id,
                exc,
                exc_info=exc if outcome == "error" else None,
                extra={"rtask": end},
            )
            raise
        end = fields | {"outcome": "succeeded", "duration_ms": _ms_since(started)}
        self.log.log(self.level, "succeeded %s %s", name, ctx.job.id, extra={"rtask": end})
        return value


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


TimingCallback = Callable[[ExecuteContext, float, str], None]


class Timing(Middleware):
    """Measures each run (a monotonic clock, in the worker).

    The duration in seconds goes to `ctx.extra["duration_s"]` (for middleware
    further out), to `callback(ctx, duration_s, outcome)` if given (e.g. a
    Prometheus histogram; an error in it is logged, never fails the job), and
    to a DEBUG record of `logger` with `extra={"rtask": {..., "duration_ms"}}`.
    """

    def __init__(
        self, callback: TimingCallback | None = None, logger: logging.Logger | str | None = None
    ):
        self.callback = callback
        self.log = _logger(logger, "rtask.timing")

    async def around_execute(self, ctx: ExecuteContext, call_next: CallNext) -> Any:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await call_next()
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._record(ctx, time.perf_counter() - started, outcome_of(error))

    def _record(self, ctx: ExecuteContext, duration_s: float, outcome: str) -> None:
        ctx.extra["duration_s"] = duration_s
        fields = _fields(ctx) | {"outcome": outcome, "duration_ms": round(duration_s * 1000, 3)}
        self.log.debug(
            "%s %s took %.3f ms (%s)",
            ctx.job.task,
            ctx.job.id,
            duration_s * 1000,
            outcome,
            extra={"rtask": fields},
        )
        if self.callback is not None:
            try:
                self.callback(ctx, duration_s, outcome)
            except Exception:
                self.log.exception("timing callback failed")


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(slots=True)
class _Circuit:
    state: str = CLOSED
    failures: int = 0  # consecutive
    opened_at: float = 0.0
    probes: int = 0  # probe runs under way while half-open


class CircuitBreaker(Middleware):
    """Stops running a failing task for a while (uni and apalis semantics).

    Closed: runs go through; `failure_threshold` consecutive failed runs open
    the circuit. Open: every run is snoozed (`rtask.Snooze`: the job waits
    and its attempt is given back, so an outage does not use up attempts)
    until `recovery_s` have passed since it opened. Half-open: up to
    `half_open_max_calls` probe runs go through, others are snoozed for
    `probe_wait_s`; a probe that succeeds closes the circuit, one that fails
    opens it again for `recovery_s`.

    A failure is a run that raised anything but `Snooze` or `Cancel`
    (errors, `Retry`, `Abort`); a success resets the count. A run stopped
    from outside (its timeout, a cancel, a shutdown) is neither.
    The state is per worker process (like uni's and apalis's breakers,
    which live in the process that runs the job) and per task name: put one
    instance on the App to guard each task separately. `clock` is for tests.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_s: float = 60.0,
        *,
        half_open_max_calls: int = 1,
        probe_wait_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if failure_threshold < 1 or half_open_max_calls < 1 or recovery_s < 0:
            raise ValueError("failure_threshold, half_open_max_calls >= 1; recovery_s >= 0")
        self.failure_threshold = failure_threshold
        self.recovery_s = recovery_s
        self.half_open_max_calls = half_open_max_calls
        self.probe_wait_s = min(recovery_s, 5.0) if probe_wait_s is None else probe_wait_s
        self.clock = clock
        self._circuits: dict[str, _Circuit] = {}
        self._lock = threading.Lock()  # workers of several loops may share the instance

    def state(self, task: str) -> str:
        """ "closed", "open" or "half_open" for `task` (as of now)."""
        with self._lock:
            circuit = self._circuits.get(task)
            if circuit is None:
                return CLOSED
            self._tick(circuit)
            return circuit.state

    def _tick(self, c: _Circuit) -> None:
        if c.state == OPEN and self.clock() - c.opened_at >= self.recovery_s:
            c.state, c.probes = HALF_OPEN, 0

    def _admit(self, task: str) -> tuple[_Circuit, bool]:
        """The task's circuit, and whether this run is a half-open probe;
        raises Snooze if the run must wait."""
        with self._lock:
            c = self._circuits.setdefault(task, _Circuit())
            self._tick(c)
            if c.state == OPEN:
                raise Snooze(max(self.recovery_s - (self.clock() - c.opened_at), 0.0))
            if c.state == HALF_OPEN:
                if c.probes >= self.half_open_max_calls:
                    raise Snooze(self.probe_wait_s)
                c.probes += 1
                return c, True
            return c, False

    async def around_execute(self, ctx: ExecuteContext, call_next: CallNext) -> Any:
        circuit, probe = self._admit(ctx.job.task)
        try:
            value = await call_next()
        except (Snooze, Cancel, asyncio.CancelledError):
            self._settle(circuit, probe, None)
            raise
        except BaseException:
            self._settle(circuit, probe, False)
            raise
        self._settle(circuit, probe, True)
        return value

    def _settle(self, c: _Circuit, probe: bool, ok: bool | None) -> None:
        with self._lock:
            if probe and c.probes > 0:
                c.probes -= 1
            if ok is None:
                return  # neither a success nor a failure
            if ok:
                c.state, c.failures = CLOSED, 0
                return
            c.failures += 1
            if c.state == HALF_OPEN or c.failures >= self.failure_threshold:
                c.state, c.opened_at, c.probes = OPEN, self.clock(), 0
