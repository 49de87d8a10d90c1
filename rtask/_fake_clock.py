"""The fake clock of `rtask.testing.frozen_clock`.

Every script takes `now_ms` from its caller when given (else Redis TIME), and
every call an App builds passes `app.now_ms()`: None normally, the fake
clock's time while one is set. So freezing an App's clock moves every due
time, backoff, lease and rate window of its calls, and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from ._errors import InvalidInput, RtaskError

if TYPE_CHECKING:
    from ._app import App


class FrozenClock:
    """A clock that stands still until advanced (see `frozen_clock`)."""

    def __init__(self, start_s: float) -> None:
        self._now_ms = int(start_s * 1000)

    def now_ms(self) -> int:
        """The fake time in milliseconds since the epoch."""
        return self._now_ms

    def time(self) -> float:
        """The fake time in seconds since the epoch."""
        return self._now_ms / 1000

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (>= 0)."""
        if seconds < 0:
            raise InvalidInput("a frozen clock only moves forward")
        self._now_ms += int(seconds * 1000)


@contextmanager
def frozen_clock(app: App, start: float | datetime | None = None) -> Iterator[FrozenClock]:
    """Freeze the time of `app`'s script calls (default start: now).

    Inside the block every call `app` makes (enqueue, the workers of `drain`,
    `job.info()`, cancel, …) passes the fake time to the scripts instead of
    letting them read Redis TIME, so delays, retries with backoff and rate
    limits move only when you `advance` the clock:

        with frozen_clock(app) as clock:
            job = report.options(delay=3600).enqueue_sync()
            assert drain_sync(app).claimed == 0   # not due yet
            clock.advance(3600)
            assert drain_sync(app).succeeded == 1

    For tests on `memory://` (or a private Redis): other processes still use
    the real clock. Leases and heartbeats use the fake time too, so advance
    only while no job runs (between drains). Worker sleeps are real.
    """
    if app.fake_clock is not None:
        raise RtaskError("this App already has a frozen clock")
    if start is None:
        start_s = time.time()
    elif isinstance(start, datetime):
        if start.tzinfo is None:
            raise InvalidInput("start must be a timezone-aware datetime")
        start_s = start.timestamp()
    else:
        start_s = float(start)
    clock = FrozenClock(start_s)
    app.fake_clock = clock
    try:
        yield clock
    finally:
        app.fake_clock = None
