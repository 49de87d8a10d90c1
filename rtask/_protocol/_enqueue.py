"""enqueue: `enqueue.lua` (any jobs) and `enqueue_plain.lua` (the lean path:
jobs of one task sharing their options)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._keys import QueueKeys
from .._scripts import Script, script
from ._call import _EMPTY, Call, _now_arg, _str, resp_bulks


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job ready to store: `body` is its state JSON without the opening brace."""

    id: str
    task: str
    delay_ms: int
    priority: int
    body: bytes
    payload: bytes
    unique: bytes = _EMPTY  # the unique spec JSON (see enqueue.lua), or empty


def state_body(
    *,
    task: str,
    max_attempts: int,
    priority: int,
    timeout_ms: int,
    tags: Sequence[str],
    labels: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> bytes:
    """The state JSON of a new job without "{" (enqueue.lua adds "ct" and "due").

    Labels ("lb") and metadata ("md") are written only when not empty. The
    order of the first keys (t, s, a, m, p, c) is read by claim.lua and
    finish.lua to claim and finish a fresh record without decoding it
    (lua/README.md): keep it.
    """
    state: dict[str, Any] = {
        "t": task,
        "s": "scheduled",
        "a": 0,
        "m": max_attempts,
        "p": priority,
        "c": 0,
        "to": timeout_ms,
    }
    if tags:
        state["tg"] = list(tags)
    if labels:
        state["lb"] = labels
    if metadata:
        state["md"] = metadata
    return orjson.dumps(state)[1:]


@dataclass(frozen=True, slots=True)
class EnqueueReply:
    """Per job: stored; else `existing[i]` is the id of the job that holds its
    unique identity (None: its own id existed, or if_not_exists refused the call)."""

    now_ms: int
    stored: list[bool]
    existing: list[str | None] | None = None  # None when no job was a duplicate
    replaced: list[bool] | None = None


def _decode_enqueue(reply: list[Any]) -> EnqueueReply:
    codes = reply[1:]
    stored = [code == 1 for code in codes]
    dup = [isinstance(code, list) for code in codes]
    if not any(dup):
        return EnqueueReply(int(reply[0]), stored)
    return EnqueueReply(
        int(reply[0]),
        stored,
        [_str(code[1]) if d else None for code, d in zip(codes, dup, strict=True)],
        [d and int(code[0]) == 3 for code, d in zip(codes, dup, strict=True)],
    )


def enqueue(
    keys: QueueKeys,
    jobs: Sequence[NewJob],
    now_ms: int | None = None,
    *,
    if_not_exists: bool = False,
    events: bool = False,
) -> Call[EnqueueReply]:
    """Store `jobs` (all of one queue) in one call; `if_not_exists`: none if any
    id exists; `events`: write "enqueued" events."""
    task_index: dict[str, int] = {}
    for job in jobs:
        task_index.setdefault(job.task, len(task_index) + 1)
    script_keys: list[str | bytes] = [keys.jobs, keys.tasks]
    args: list[str | bytes | int | float] = [
        _now_arg(now_ms),
        keys.wake_channel,
        "1" if if_not_exists else "0",
        len(task_index),
    ]
    for task in task_index:
        script_keys += (keys.scheduled(task), keys.ready(task))
        args.append(task)
    script_keys += (keys.unique, keys.unique_exp, *keys.index_keys)
    if events:
        script_keys.append(keys.events)
    for job in jobs:
        args += (job.id, task_index[job.task], job.delay_ms, job.priority, job.body, job.payload)
        args.append(job.unique)
    return Call(script("enqueue"), script_keys, args, _decode_enqueue)


def _decode_plain_one(reply: int) -> bool:
    return reply > 0  # now_ms if stored, -now_ms if the id exists


def _decode_plain(reply: int | list[Any]) -> EnqueueReply:
    if isinstance(reply, int):  # a call of one job
        return EnqueueReply(abs(reply), [reply > 0])
    codes = reply[1]
    if isinstance(codes, str):
        codes = codes.encode()
    stored = [True] * len(codes) if b"0" not in codes else [c == 49 for c in codes]  # b"1"
    return EnqueueReply(int(reply[0]), stored)


@dataclass(frozen=True, slots=True)
class PlainEnqueue:
    """The constant part of `enqueue_plain.lua` calls: jobs of one task on one
    queue sharing their delay, priority and state body, with no uniqueness,
    no events and no if_not_exists (the rest goes through `enqueue`). Built
    once per task and options; each call then adds only ids and payloads."""

    script: Script
    keys: list[str | bytes]
    args: tuple[str | bytes | int, ...]  # ARGV[2..6]: channel, task, delay, priority, body
    # The packed EVALSHA command of a one-job call on the server's clock, but
    # for its id and payload: `one` adds those two (the enqueue's hot path).
    head: bytes = field(init=False)

    def __post_init__(self) -> None:
        count = 3 + len(self.keys) + 1 + len(self.args) + 2
        head = b"*%d\r\n" % count + resp_bulks(
            "EVALSHA", self.script.sha, len(self.keys), *self.keys, _now_arg(None), *self.args
        )
        object.__setattr__(self, "head", head)

    def one(self, now_ms: int | None, job_id: str, payload: bytes) -> Call[bool]:
        """The call storing one job; its reply: whether it was stored."""
        args = [_now_arg(now_ms), *self.args, job_id, payload]
        packed = None
        if now_ms is None and type(payload) is bytes:
            raw = job_id.encode()
            packed = b"%s$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
                self.head,
                len(raw),
                raw,
                len(payload),
                payload,
            )
        return Call(self.script, self.keys, args, _decode_plain_one, packed=packed)

    def many(
        self, now_ms: int | None, ids: Sequence[str], payloads: Sequence[bytes], chunk: int
    ) -> list[Call[EnqueueReply]]:
        """The calls storing `ids` with their `payloads`, `chunk` jobs per call."""
        return list(self.each(now_ms, ids, payloads, chunk))

    def each(
        self, now_ms: int | None, ids: Sequence[str], payloads: Sequence[bytes], chunk: int
    ) -> Iterator[Call[EnqueueReply]]:
        """`many`, one call at a time (each built when asked for)."""
        head = [_now_arg(now_ms), *self.args]
        for start in range(0, len(ids), chunk):
            end = start + chunk
            args: list[str | bytes | int | float] = [*head, *ids[start:end], *payloads[start:end]]
            yield Call(self.script, self.keys, args, _decode_plain)


def enqueue_plain(
    keys: QueueKeys, task: str, delay_ms: int, priority: int, body: bytes
) -> PlainEnqueue:
    """The lean enqueue of `task`'s jobs with these options on the queue of `keys`."""
    script_keys: list[str | bytes] = [
        keys.jobs,
        keys.tasks,
        keys.scheduled(task),
        keys.ready(task),
        keys.parked(task),
        keys.handoff,
        keys.running,
        keys.active,
        *keys.index_keys,
    ]
    return PlainEnqueue(
        script("enqueue_plain"), script_keys, (keys.wake_channel, task, delay_ms, priority, body)
    )
