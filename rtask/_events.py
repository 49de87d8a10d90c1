"""Lifecycle events: reading a queue's capped event stream.

With `App(..., events=True)`, the scripts that make each transition append
one entry to the queue's stream `<prefix>:{<queue>}:events` (capped near
10,000 entries, `XADD … MAXLEN ~`), in the same atomic call: enqueue.lua
("enqueued"), claim.lua ("started"), finish.lua ("succeeded", "retrying",
"failed", "cancelled", "snoozed", "released"), cancel.lua ("cancelled") and
recover.lua ("lost"). An event therefore exists exactly when its transition
happened, and a job's events are in the order of its transitions.

Reading is plain XREAD: `app.events(...)` (async) and `app.events_sync(...)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._errors import InvalidInput, map_redis_errors

if TYPE_CHECKING:
    from ._app import App

# Entries per XREAD, and the longest single blocking wait of a follower (ms).
PAGE = 1000
BLOCK_MS = 1000

# The kinds of event, in the order a job may go through them.
KINDS = (
    "enqueued",
    "started",
    "succeeded",
    "retrying",
    "failed",
    "cancelled",
    "snoozed",
    "released",
    "lost",
)


@dataclass(frozen=True, slots=True)
class Event:
    """One lifecycle event of a job.

    `id` is the stream entry id (pass it as `since` to read on from there);
    `at` is the time of the transition on the scripts' clock (Redis TIME);
    `attempt` the job's attempt after it. `fields` holds the rest: `due`
    (ms; enqueued, retrying, snoozed), `w` (worker; started, lost), `s`
    (the status after a lost lease: retrying or failed), `reason` (cancelled).
    """

    id: str
    queue: str
    kind: str
    job_id: str
    task: str
    attempt: int
    at: datetime
    fields: dict[str, str] = field(default_factory=dict)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_entry(queue: str, entry_id: bytes | str, raw: Mapping[Any, Any]) -> Event:
    """The Event of one stream entry."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    kind = fields.pop("e", "")
    job_id = fields.pop("id", "")
    task = fields.pop("t", "")
    attempt = int(fields.pop("a", "0") or 0)
    at = datetime.fromtimestamp(int(fields.pop("at", "0")) / 1000, UTC)
    return Event(_text(entry_id), queue, kind, job_id, task, attempt, at, fields)


def _check_since(since: str) -> str:
    if since in ("0", "$"):
        return since
    head, _, tail = since.partition("-")
    if not head.isdigit() or (tail and not tail.isdigit()):
        raise InvalidInput(f"since must be a stream id like 1700000000000-0, '0' or '$': {since!r}")
    return since


def _parse_reply(queue: str, reply: Any) -> list[Event]:
    """Events of an XREAD reply (a list or a dict of streams, by client)."""
    if not reply:
        return []
    streams = reply.items() if isinstance(reply, dict) else reply
    out = []
    for _, entries in streams:
        if entries and isinstance(entries[0], list) and len(entries) == 1 and not entries[0]:
            continue
        for entry_id, raw in entries:
            out.append(parse_entry(queue, entry_id, raw))
    return out


async def read_events(
    app: App, queue: str, *, since: str = "0", follow: bool = False
) -> AsyncIterator[Event]:
    """Events of `queue` after stream id `since` ("0": from the oldest kept,
    "$": only new ones), oldest first. Without `follow` it ends at the last
    event; with it, it waits for new ones until the consumer stops."""
    key = app.keys(queue).events
    redis = app.async_client().redis
    last = _check_since(since)
    if last == "$":
        with map_redis_errors():
            newest = await redis.xrevrange(key, count=1)
        last = _text(newest[0][0] or "0") if newest else "0"
    while True:
        with map_redis_errors():
            reply = await redis.xread({key: last}, count=PAGE, block=BLOCK_MS if follow else None)
        events = _parse_reply(queue, reply)
        for event in events:
            last = event.id
            yield event
        if not events and not follow:
            return


def read_events_sync(
    app: App, queue: str, *, since: str = "0", follow: bool = False
) -> Iterator[Event]:
    """`read_events` for sync code (the CLI)."""
    key = app.keys(queue).events
    redis = app.sync_client().redis
    last = _check_since(since)
    if last == "$":
        with map_redis_errors():
            newest = redis.xrevrange(key, count=1)
        last = _text(newest[0][0] or "0") if newest else "0"
    while True:
        with map_redis_errors():
            reply = redis.xread({key: last}, count=PAGE, block=BLOCK_MS if follow else None)
        events = _parse_reply(queue, reply)
        for event in events:
            last = event.id
            yield event
        if not events and not follow:
            return
