"""Progress and job log reported by task code, and `progress.lua`'s call.

Reports are buffered in the job's context and written in batches: with the
worker's heartbeat (every `lease_s / 3`), and in the same round trip as the
job's outcome (just before its finish call, so the lease token still
matches). So `set_progress` and `log` cost no round trip of their own;
`flush()` (or `flush=True`) writes at once when a reader must see it now.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ._errors import InvalidInput
from ._keys import QueueKeys
from ._protocol import Call, _now_arg
from ._scripts import script

if TYPE_CHECKING:
    from ._app import App

# Most log entries kept per job (the newest), and most characters per entry.
LOG_CAP = 100
LOG_MESSAGE_MAX = 2000
_UNSET = b""


@dataclass(frozen=True, slots=True)
class Report:
    """What one job reported since the last write: progress JSON (b"" =
    unchanged) and log entries (a JSON array, b"" = none)."""

    id: str
    token: str
    progress: bytes
    lines: bytes


def progress(
    keys: QueueKeys, reports: Sequence[Report], *, cap: int = LOG_CAP, now_ms: int | None = None
) -> Call[list[int]]:
    """Store `reports` (each fenced by its lease token) in one call; the reply is
    one code per report: 1 stored, -1 no such job, -2 not running under that token."""
    args: list[str | bytes | int | float] = [_now_arg(now_ms), cap]
    for r in reports:
        args += (r.id, r.token, r.progress, r.lines)
    return Call(script("progress"), [keys.jobs], args, lambda reply: [int(c) for c in reply[1:]])


class ReportBuffer:
    """The reports of one running job not written yet. Thread-safe: a blocking
    task reports from its thread while the worker takes from the loop."""

    __slots__ = ("_lines", "_lock", "_progress", "app", "job_id", "keys", "token")

    def __init__(self, app: App | None, keys: QueueKeys | None, job_id: str, token: str) -> None:
        self.app = app
        self.keys = keys
        self.job_id = job_id
        self.token = token
        self._progress = _UNSET
        self._lines: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def set_progress(self, value: Any) -> None:
        try:
            encoded = orjson.dumps(value)
        except TypeError as exc:
            raise InvalidInput(f"progress must be a JSON value: {exc}") from None
        with self._lock:
            self._progress = encoded

    def log(self, message: str) -> None:
        now = self.app.time() if self.app is not None else time.time()
        entry = {"at": int(now * 1000), "msg": str(message)[:LOG_MESSAGE_MAX]}
        with self._lock:
            self._lines.append(entry)
            del self._lines[:-LOG_CAP]  # older ones would be dropped by the script anyway

    def take(self) -> Report | None:
        """The pending report, now cleared; None if there is none."""
        with self._lock:
            if self._progress is _UNSET and not self._lines:
                return None
            lines = orjson.dumps(self._lines) if self._lines else b""
            report = Report(self.job_id, self.token, self._progress, lines)
            self._progress, self._lines = _UNSET, []
        return report

    def call(self) -> Call[list[int]] | None:
        """The call writing the pending report now, or None (nothing pending,
        or no App: a context built outside a worker)."""
        if self.app is None or self.keys is None:
            return None
        report = self.take()
        if report is None:
            return None
        return progress(self.keys, [report], now_ms=self.app.now_ms())
