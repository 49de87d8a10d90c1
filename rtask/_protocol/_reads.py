"""reads: `read.lua` (a job's record)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .._keys import QueueKeys
from .._scripts import script
from ._call import Call, _now_arg


@dataclass(frozen=True, slots=True)
class RawJob:
    """A job's stored fields, undecoded; `state` is None when there is no such job."""

    now_ms: int
    state: dict[str, Any] | None
    result: bytes | None
    errors: list[dict[str, Any]]
    progress: Any = None
    log: list[dict[str, Any]] | None = None
    runs: list[dict[str, Any]] | None = None  # succeeded runs kept by reruns (`<id>:x`)


def read_job(keys: QueueKeys, job_id: str, now_ms: int | None = None) -> Call[RawJob]:
    """Read a job's record and the server time (or `now_ms`)."""

    def decode(reply: list[Any]) -> RawJob:
        now, state, result, errors, progress, log, runs = [*reply, None][:7]
        return RawJob(
            int(now),
            orjson.loads(state) if state else None,
            result,
            orjson.loads(errors) if errors else [],
            orjson.loads(progress) if progress else None,
            orjson.loads(log) if log else [],
            orjson.loads(runs) if runs else [],
        )

    return Call(script("read"), [keys.jobs], [job_id, _now_arg(now_ms)], decode)
