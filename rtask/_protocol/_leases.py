"""Leases: `heartbeat.lua` (extend the leases of held jobs) and `recover.lua`
(retry or fail jobs whose lease expired)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._keys import QueueKeys
from .._scripts import script
from ._call import Call, _now_arg, _str
from ._finish import DEFAULT_RETENTION, Retention

# ---------------------------------------------------------------- heartbeat


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    now_ms: int
    lost: list[str]
    cancelled: list[str]


def _decode_heartbeat(reply: list[Any]) -> HeartbeatReply:
    return HeartbeatReply(int(reply[0]), [_str(i) for i in reply[1]], [_str(i) for i in reply[2]])


def heartbeat(
    keys: QueueKeys,
    *,
    worker: str,
    lease_ms: int,
    held: Sequence[tuple[str, str]],
    now_ms: int | None = None,
) -> Call[HeartbeatReply]:
    """Extend the leases of `held` ((id, token) pairs) and register `worker` as alive."""
    args: list[str | bytes | int | float] = [_now_arg(now_ms), worker, lease_ms]
    for job_id, token in held:
        args += (job_id, token)
    return Call(
        script("heartbeat"), [keys.jobs, keys.running, keys.workers], args, _decode_heartbeat
    )


# ---------------------------------------------------------------- recover


@dataclass(frozen=True, slots=True)
class RecoverReply:
    now_ms: int
    swept: bool
    requeued: int
    failed: int
    skipped: int
    pending_schedules: tuple[str, ...] = ()  # schedules waiting for plan.lua


def _decode_recover(reply: list[Any]) -> RecoverReply:
    now, swept, requeued, failed, skipped = (int(x) for x in reply[:5])
    pending = tuple(_str(sid) for sid in reply[5])
    return RecoverReply(now, swept == 1, requeued, failed, skipped, pending)


def recover(
    keys: QueueKeys,
    *,
    tasks: Sequence[str],
    gate_ms: int,
    limit: int = 1000,
    retention: Retention = DEFAULT_RETENTION,
    now_ms: int | None = None,
    events: bool = False,
) -> Call[RecoverReply]:
    """Retry or fail jobs of `tasks` whose lease expired; at most one sweep per `gate_ms`."""
    script_keys: list[str | bytes] = [
        keys.jobs,
        keys.running,
        keys.active,
        keys.failed,
        keys.cancelled,
        keys.recover_gate,
        keys.schedules,
        keys.pending_schedules,
    ]
    script_keys += [keys.ready(t) for t in tasks]
    script_keys += (keys.unique, keys.done, keys.unique_exp, keys.retrying, *keys.index_keys)
    if events:
        script_keys.append(keys.events)
    script_keys.append(keys.handoff)
    args: list[str | bytes | int | float] = [
        _now_arg(now_ms),
        gate_ms,
        limit,
        keys.wake_channel,
        *retention.failed_args(),
        *retention.cancelled_args(),
        len(tasks),
        *tasks,
    ]
    return Call(script("recover"), script_keys, args, _decode_recover)
