"""park and hand-off: `park.lua` (a worker standing ready for hand-offs) and
the handoff list entries `enqueue_plain.lua` pushes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .._keys import QueueKeys
from .._scripts import script
from ._call import Call, _now_arg
from ._claim import ClaimedJob


@dataclass(frozen=True, slots=True)
class ParkReply:
    registered: bool  # False: an entry waits in the handoff list already
    entry: bytes | None  # leaving: the entry pushed for a registration taken meanwhile


def _decode_park(reply: list[Any]) -> ParkReply:
    return ParkReply(bool(reply[1]), reply[2] if len(reply) > 2 else None)


def park(
    keys: QueueKeys, tasks: Sequence[str], *, member: str, live_ms: int, now_ms: int | None = None
) -> Call[ParkReply]:
    """Register `member` ("<lease_ms>|<worker id>") as standing ready for
    hand-offs of `tasks`' jobs for `live_ms`; not registered when an entry
    already waits in the handoff list. With live_ms 0 it leaves, and takes
    the entry of a hand-off that took its registration meanwhile (park.lua)."""
    script_keys: list[str | bytes] = [keys.handoff, *(keys.parked(t) for t in tasks)]
    return Call(script("park"), script_keys, [_now_arg(now_ms), member, live_ms], _decode_park)


def park_member(lease_ms: int, worker: str) -> str:
    """The registration of a parked worker: the lease a hand-off gets, and who."""
    return f"{lease_ms}|{worker}"


def handed_off(queue: str, entry: bytes) -> ClaimedJob:
    """The job of a handoff list entry ("<id>\\n<record>\\n<payload>",
    enqueue_plain.lua): held by whoever popped it, as if claimed."""
    job_id, record, payload = entry.split(b"\n", 2)
    return ClaimedJob(job_id.decode(), queue, orjson.loads(record), payload)
