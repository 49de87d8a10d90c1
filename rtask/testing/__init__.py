"""Helpers for the tests of code that uses rtask.

    from rtask.testing import assert_enqueued, drain_sync

    def test_signup(rtask_app):          # fixture of the rtask pytest plugin (memory://)
        @rtask_app.task
        def send_welcome(user_id: int) -> None: ...

        signup(user_id=7)                # code that enqueues send_welcome(7)
        assert_enqueued(rtask_app, send_welcome, args=[7])
        assert drain_sync(rtask_app).succeeded == 1

- `drain` / `drain_sync` run every job that is due with an in-process worker
  in burst mode, and return what it did.
- `assert_enqueued` / `assert_enqueued_async` check that jobs were enqueued
  (rexecutor's `assert_enqueued!`). They read the whole queue of the task with
  HSCAN over its jobs hash: meant for tests, never for production code.
- `frozen_clock(app)` stops time for every script call of `app` (enqueue,
  claim, finish, cancel, reads): `clock.advance(3600)` then `drain` runs what
  became due (delays, backoffs), without sleeping.

The matching and the failure message are pure functions of decoded records
(`job_records`, `Expectation`, `check`); the Redis reading is a thin shell.
"""

from __future__ import annotations

from .._fake_clock import FrozenClock, frozen_clock
from ._assert import SCAN_COUNT as SCAN_COUNT
from ._assert import assert_enqueued, assert_enqueued_async
from ._drain import DrainResult, drain, drain_sync
from ._matching import Expectation, check, expectation
from ._matching import failure_message as failure_message
from ._records import EnqueuedJob, job_records

__all__ = [
    "DrainResult",
    "EnqueuedJob",
    "Expectation",
    "FrozenClock",
    "assert_enqueued",
    "assert_enqueued_async",
    "check",
    "drain",
    "drain_sync",
    "expectation",
    "frozen_clock",
    "job_records",
]
