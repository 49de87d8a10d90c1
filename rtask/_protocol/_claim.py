"""claim: `claim.lua`, and the jobs a worker holds (`ClaimedJob`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._keys import QueueKeys
from .._scripts import script
from ._call import Call, _now_arg, _str


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker now holds: run it, then report it with `token`.

    `task`, `token`, `attempt`, `max_attempts` and `timeout_ms` are read from
    `state` once, when the job is built (the worker reads them several times
    per job).
    """

    id: str
    queue: str
    state: dict[str, Any]
    payload: bytes
    task: str = field(init=False, repr=False, compare=False)
    token: str = field(init=False, repr=False, compare=False)
    attempt: int = field(init=False, repr=False, compare=False)
    max_attempts: int = field(init=False, repr=False, compare=False)
    timeout_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _read_state(self)


# The slot setters of ClaimedJob: jobs are built by setting slots directly,
# skipping the frozen dataclass's __init__ (an object.__setattr__ per field)
# on the per-job path.
_SETTERS = {name: getattr(ClaimedJob, name).__set__ for name in ClaimedJob.__slots__}


def _read_state(
    job: ClaimedJob,
    *,
    _task: Any = _SETTERS["task"],
    _token: Any = _SETTERS["token"],
    _attempt: Any = _SETTERS["attempt"],
    _max: Any = _SETTERS["max_attempts"],
    _timeout: Any = _SETTERS["timeout_ms"],
) -> None:
    """Set the fields of `job` read from its state."""
    state = job.state
    _task(job, str(state["t"]))
    _token(job, str(state["c"]))
    _attempt(job, int(state["a"]))
    _max(job, int(state["m"]))
    _timeout(job, int(state.get("to") or 0))


def _claimed_job(
    job_id: str,
    queue: str,
    state: dict[str, Any],
    payload: bytes,
    *,
    _id: Any = _SETTERS["id"],
    _queue: Any = _SETTERS["queue"],
    _state: Any = _SETTERS["state"],
    _payload: Any = _SETTERS["payload"],
) -> ClaimedJob:
    """`ClaimedJob(job_id, queue, state, payload)`, built faster (see `_SETTERS`)."""
    job = object.__new__(ClaimedJob)
    _id(job, job_id)
    _queue(job, queue)
    _state(job, state)
    _payload(job, payload)
    _read_state(job)
    return job


@dataclass(frozen=True, slots=True)
class ClaimReply:
    now_ms: int
    next_due_ms: int | None
    jobs: list[ClaimedJob]


def _claim_decoder(queue: str) -> Callable[[list[Any]], ClaimReply]:
    def decode(reply: list[Any]) -> ClaimReply:
        next_due = int(reply[1])
        loads, build = orjson.loads, _claimed_job
        jobs = [
            build(_str(reply[k]), queue, loads(reply[k + 1]), reply[k + 2])
            for k in range(2, len(reply), 3)
        ]
        return ClaimReply(int(reply[0]), None if next_due < 0 else next_due, jobs)

    return decode


def claim(
    keys: QueueKeys,
    queue: str,
    *,
    worker: str,
    n: int,
    lease_ms: int,
    tasks: Sequence[tuple[str, int]],
    rotation: int = 0,
    promote_limit: int = 1000,
    now_ms: int | None = None,
    rates: Mapping[str, tuple[int, int]] | None = None,
    events: bool = False,
) -> Call[ClaimReply]:
    """Claim up to `n` jobs of `tasks` ((name, cap) pairs; cap 0 = none) for `worker`.

    `rates` maps a task to its rate limit (at most `limit` claims per
    `period_ms`, across every worker); `events` writes a "started" event per job.
    """
    script_keys: list[str | bytes] = [keys.jobs, keys.running, keys.active]
    args: list[str | bytes | int | float] = [
        _now_arg(now_ms),
        worker,
        n,
        lease_ms,
        promote_limit,
        rotation % max(1, len(tasks)),
        len(tasks),
    ]
    for name, cap in tasks:
        script_keys += (keys.scheduled(name), keys.ready(name))
        args += (name, cap)
    for name, _ in tasks:
        limit, period_ms = (rates or _NO_RATES).get(name, (0, 0))
        script_keys.append(keys.rate(name))
        args += (limit, period_ms)
    script_keys.append(keys.retrying)
    if events:
        script_keys.append(keys.events)
    return Call(script("claim"), script_keys, args, _claim_decoder(queue), idempotent=False)


_NO_RATES: dict[str, tuple[int, int]] = {}
