"""cancel: `cancel.lua`."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from .._keys import QueueKeys
from .._scripts import script
from ._call import Call, _now_arg
from ._finish import DEFAULT_RETENTION, Retention


class CancelResult(IntEnum):
    """cancel.lua's answer."""

    CANCELLED = 1
    REQUESTED = 2
    ALREADY_FINISHED = 0
    NOT_FOUND = -1
    OTHER_TASK = -4


def _decode_cancel(reply: list[Any]) -> CancelResult:
    return CancelResult(int(reply[1]))


def cancel(
    keys: QueueKeys,
    job_id: str,
    *,
    task: str,
    reason: str,
    retention: Retention = DEFAULT_RETENTION,
    now_ms: int | None = None,
    events: bool = False,
) -> Call[CancelResult]:
    """Cancel job `job_id` of `task`: at once if waiting, at its next heartbeat if running."""
    script_keys = [
        keys.jobs,
        keys.cancelled,
        keys.scheduled(task),
        keys.ready(task),
        keys.schedules,
        keys.pending_schedules,
        keys.unique,
        keys.done,
        keys.unique_exp,
        keys.retrying,
        *keys.index_keys,
    ]
    if events:
        script_keys.append(keys.events)
    return Call(
        script("cancel"),
        script_keys,
        [_now_arg(now_ms), job_id, task, reason, *retention.cancelled_args()],
        _decode_cancel,
    )
