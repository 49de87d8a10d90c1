"""The pure core: each function builds one script call and knows how to decode
its reply. The clients (`_client.py`) only send; nothing here does I/O.

Each stage has the name of its Lua file: `enqueue`, `claim`, `finish`,
`heartbeat`, `recover`, `cancel`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Generic, TypeVar

import orjson

from ._keys import QueueKeys
from ._scripts import Script, script

T = TypeVar("T")
_EMPTY = b""


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One script call to send (EVALSHA), and the decoder of its reply."""

    script: Script
    keys: Sequence[str | bytes]
    args: Sequence[str | bytes | int | float]
    decode: Callable[[Any], T]
    # Safe to send again when the connection broke and the reply is unknown.
    # Every script is, but claim: a replayed claim would take jobs nobody runs
    # (they come back only when their lease expires).
    idempotent: bool = True


# Most jobs one claim, finish or heartbeat call handles: the scripts unpack
# id lists (two values per job at most) and Lua's unpack() takes ~8,000 values.
MAX_BATCH = 2000


def batches(items: Sequence[T], size: int = MAX_BATCH) -> list[Sequence[T]]:
    """`items` in slices of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _now_arg(now_ms: int | None) -> str | int:
    return "" if now_ms is None else int(now_ms)


# ---------------------------------------------------------------- enqueue


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

    Labels ("lb") and metadata ("md") are written only when not empty.
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


def _decode_plain_one(reply: list[Any]) -> bool:
    return reply[1] in (b"1", "1")


def _decode_plain(reply: list[Any]) -> EnqueueReply:
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

    def one(self, now_ms: int | None, job_id: str, payload: bytes) -> Call[bool]:
        """The call storing one job; its reply: whether it was stored."""
        args = [_now_arg(now_ms), *self.args, job_id, payload]
        return Call(self.script, self.keys, args, _decode_plain_one)

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


# ---------------------------------------------------------------- claim


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


# ---------------------------------------------------------------- finish


class OutcomeCode(IntEnum):
    """What a run produced; the numbers are finish.lua's codes."""

    SUCCEEDED = 1
    RETRY = 2
    FAILED = 3
    SNOOZED = 4
    CANCELLED = 5
    RELEASED = 6


class FinishResult(IntEnum):
    """finish.lua's answer per outcome."""

    APPLIED = 1
    CANCELLED_MEANWHILE = 2
    NOT_FOUND = -1
    LEASE_LOST = -2
    TASK_NOT_PASSED = -3


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished run, as reported to finish.lua."""

    id: str
    token: str
    code: OutcomeCode
    delay_ms: int = 0
    blob: bytes = _EMPTY
    # A schedule's job: its schedule's next tick (ms), or timing.STOP / IDLE;
    # None when not computed (plan.lua then plans the next job).
    next: int | None = None


_OUTCOME_SETTERS = tuple(
    getattr(Outcome, name).__set__ for name in ("id", "token", "code", "delay_ms", "blob", "next")
)


def succeeded(job_id: str, token: str, blob: bytes) -> Outcome:
    """`Outcome(job_id, token, OutcomeCode.SUCCEEDED, 0, blob)`, built faster
    (slots set directly, as in `_claimed_job`): one per job that succeeds."""
    s_id, s_token, s_code, s_delay, s_blob, s_next = _OUTCOME_SETTERS
    outcome = object.__new__(Outcome)
    s_id(outcome, job_id)
    s_token(outcome, token)
    s_code(outcome, OutcomeCode.SUCCEEDED)
    s_delay(outcome, 0)
    s_blob(outcome, blob)
    s_next(outcome, None)
    return outcome


@dataclass(frozen=True, slots=True)
class Retention:
    """How long finished jobs are kept: by age (seconds) and count; 0 = no limit."""

    succeeded_s: float = 3600.0
    succeeded_max: int = 10_000
    failed_s: float = 7 * 24 * 3600.0
    failed_max: int = 100_000
    cancelled_s: float = 24 * 3600.0
    cancelled_max: int = 10_000

    def args(self) -> list[int]:
        """Age (ms) and count of succeeded, failed, cancelled: finish.lua's ARGV[3..8]."""
        return [
            int(self.succeeded_s * 1000),
            self.succeeded_max,
            *self.failed_args(),
            *self.cancelled_args(),
        ]

    def failed_args(self) -> list[int]:
        return [int(self.failed_s * 1000), self.failed_max]

    def cancelled_args(self) -> list[int]:
        return [int(self.cancelled_s * 1000), self.cancelled_max]


DEFAULT_RETENTION = Retention()


@dataclass(frozen=True, slots=True)
class FinishReply:
    now_ms: int
    results: list[FinishResult]


def _decode_finish(reply: list[Any]) -> FinishReply:
    return FinishReply(int(reply[0]), [FinishResult(int(code)) for code in reply[1:]])


def finish(
    keys: QueueKeys,
    outcomes: Sequence[Outcome],
    *,
    tasks: Sequence[tuple[str, int]],
    retention: Retention,
    now_ms: int | None = None,
    events: bool = False,
) -> Call[FinishReply]:
    """Report `outcomes` of jobs of `tasks` ((name, cap) pairs) in one call."""
    script_keys: list[str | bytes] = [
        keys.jobs,
        keys.running,
        keys.active,
        keys.succeeded,
        keys.failed,
        keys.cancelled,
        keys.schedules,
        keys.pending_schedules,
    ]
    args: list[str | bytes | int | float] = [_now_arg(now_ms), keys.wake_channel]
    args += retention.args()
    args.append(len(tasks))
    for name, cap in tasks:
        script_keys += (keys.scheduled(name), keys.ready(name))
        args += (name, cap)
    script_keys += (keys.unique, keys.done, keys.unique_exp, keys.retrying)
    script_keys += (keys.throughput(0), keys.throughput(1), *keys.index_keys)
    if events:
        script_keys.append(keys.events)
    for o in outcomes:
        args += (o.id, o.token, int(o.code), o.delay_ms, o.blob, "" if o.next is None else o.next)
    return Call(script("finish"), script_keys, args, _decode_finish)


def error_entry(
    *, attempt: int, type: str, message: str, traceback: str = "", worker: str = ""
) -> bytes:
    """An error JSON object for finish.lua/cancel.lua (the script stamps "at")."""
    entry: dict[str, Any] = {"attempt": attempt, "type": type, "message": message}
    if traceback:
        entry["traceback"] = traceback
    if worker:
        entry["worker"] = worker
    return orjson.dumps(entry)


# ---------------------------------------------------------------- park (hand-off)


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


# ---------------------------------------------------------------- cancel


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


# ---------------------------------------------------------------- reads


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


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
