"""The jobs of a queue's jobs hash, decoded (`job_records`, `EnqueuedJob`): pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from .._codec import decode
from .._errors import CodecError
from .._job import JobInfo, JobStatus
from .._protocol import RawJob

# payload, result, errors, progress, log, runs kept by reruns
_RESERVED = (":p", ":r", ":e", ":g", ":l", ":x")


@dataclass(frozen=True, slots=True)
class EnqueuedJob:
    """A job as `assert_enqueued` sees it: its state and decoded arguments."""

    id: str
    queue: str
    task: str
    status: JobStatus
    args: list[Any]
    kwargs: dict[str, Any]
    tags: tuple[str, ...]
    scheduled_at: datetime | None
    priority: int = 0
    attempt: int = 0
    max_attempts: int = 1
    payload_error: str | None = None  # set when the payload could not be decoded

    def describe(self) -> str:
        """One readable line."""
        when = "-" if self.scheduled_at is None else _iso(self.scheduled_at)
        args = f"<{self.payload_error}>" if self.payload_error else repr(self.args)
        kwargs = "" if self.payload_error else repr(self.kwargs)
        return (
            f"{self.id}  {self.status.value:<9}  args={args} kwargs={kwargs}"
            f" tags={list(self.tags)} scheduled_at={when}"
        )


def _iso(when: datetime) -> str:
    return when.isoformat("T", "milliseconds")


def _decode_payload(payload: bytes | None) -> tuple[list[Any], dict[str, Any], str | None]:
    if payload is None:
        return [], {}, "no payload"
    try:
        value = decode(payload)
    except CodecError as exc:
        return [], {}, str(exc)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], list)
        or not isinstance(value[1], dict)
    ):
        return [], {}, "payload is not [args, kwargs]"
    return value[0], value[1], None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def job_records(
    queue: str,
    fields: Mapping[bytes | str, bytes],
    now_ms: int,
    *,
    task: str | None = None,
) -> list[EnqueuedJob]:
    """The jobs in the fields of a queue's jobs hash (of `task` only, if given),
    in id order (creation order). `now_ms` is the server time: a waiting job
    that is due is reported `queued`, as `Job.info()` does."""
    states: dict[str, bytes] = {}
    payloads: dict[str, bytes] = {}
    for raw_key, value in fields.items():
        key = _text(raw_key)
        if key.endswith(":p"):
            payloads[key[:-2]] = value
        elif not key.endswith(_RESERVED):
            states[key] = value
    records = []
    for job_id in sorted(states):
        state = orjson.loads(states[job_id])
        if task is not None and state.get("t") != task:
            continue
        info = JobInfo.from_raw(job_id, queue, RawJob(now_ms, state, None, []))
        args, kwargs, error = _decode_payload(payloads.get(job_id))
        records.append(
            EnqueuedJob(
                id=job_id,
                queue=queue,
                task=info.task,
                status=info.status,
                args=args,
                kwargs=kwargs,
                tags=tuple(info.tags),
                scheduled_at=info.scheduled_at,
                priority=info.priority,
                attempt=info.attempt,
                max_attempts=info.max_attempts,
                payload_error=error,
            )
        )
    return records
