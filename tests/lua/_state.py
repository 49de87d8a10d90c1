"""Helpers of the Lua contract tests: whole-state dumps, invariants, call shortcuts.

`dump_state` reads every key under a prefix (SCAN, fine in tests) with its type
and decoded content; `snapshot` wraps that in a `State` with accessors for the
keys of one queue; `assert_invariants` checks the invariants of lua/README.md
on the whole state and returns it, so tests assert specifics on the same dump.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from rtask import _protocol as proto
from rtask._client import SyncClient
from rtask._keys import QueueKeys

NOW = 1_700_000_000_000  # a fixed "now" (ms) passed to every call
EPOCH_MS = 1_577_836_800_000  # 2020-01-01, the origin of ready scores
PRIO_SHIFT = 2**42
LEASE_MS = 30_000
KEEP_ALL = proto.Retention(0, 0, 0, 0, 0, 0)  # no retention limit at all

WAITING = frozenset({"scheduled", "retrying"})
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STATUSES = WAITING | TERMINAL | {"running"}
STATE_FIELDS = frozenset({"ct", "due", "t", "s", "a", "m", "p", "c", "to"})
SUFFIXES = (":p", ":r", ":e", ":g", ":l", ":x")
# A schedule <sid> in the schedules hash: <sid> (record JSON), <sid>:d
# (definition JSON), <sid>:b (job state body, not JSON on its own), <sid>:p.
SCHEDULE_SUFFIXES = (":d", ":b", ":p")
RECORD_FIELDS = frozenset({"t", "h", "v", "ct", "ut"})


def ready_score(priority: int, due_ms: int) -> int:
    """The score of a ready job: priority * 2^42 + (due - 2020-01-01)."""
    return priority * PRIO_SHIFT + (due_ms - EPOCH_MS)


# ---------------------------------------------------------------- dumps


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _hash_value(field: str, value: bytes) -> Any:
    """Payloads and results stay bytes; state, errors, progress and log JSON are decoded."""
    if field.endswith((":p", ":r")):
        return value
    return orjson.loads(value)


def _unique_value(field: str, value: bytes) -> Any:
    """The unique hash: identity -> id of the job holding it."""
    return value.decode()


def _schedule_value(field: str, value: bytes) -> Any:
    """Schedules hash: records and definitions are decoded; bodies and payloads stay bytes."""
    if field.endswith((":b", ":p")):
        return value
    return orjson.loads(value)


def dump_state(r: redis.Redis, prefix: str) -> dict[str, tuple[str, Any]]:
    """Every key starting with `prefix`: key -> (type, decoded content).

    string -> str; hash -> {field: value} (see `_hash_value`; the queue's
    `schedules` hash: see `_schedule_value`); zset -> {member: score} in rank
    order; set -> set of str; list -> list of bytes.
    """
    out: dict[str, tuple[str, Any]] = {}
    for raw_key in r.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
        key = _text(raw_key)
        kind = _text(r.type(key))
        content: Any
        if kind == "string":
            content = _text(r.get(key) or b"")
        elif kind == "hash":
            decode = {prefix + "schedules": _schedule_value, prefix + "unique": _unique_value}.get(
                key, _hash_value
            )
            content = {_text(f): decode(_text(f), v) for f, v in r.hgetall(key).items()}
        elif kind == "zset":
            content = {_text(m): s for m, s in r.zrange(key, 0, -1, withscores=True)}
        elif kind == "set":
            content = {_text(m) for m in r.smembers(key)}
        elif kind == "list":
            content = list(r.lrange(key, 0, -1))
        elif kind == "stream":
            content = [
                (_text(i), {_text(f): _text(v) for f, v in fields.items()})
                for i, fields in r.xrange(key)
            ]
        else:
            content = None
        out[key] = (kind, content)
    return out


@dataclass(frozen=True)
class State:
    """The whole key state of one queue, as dumped by `dump_state`."""

    keys: QueueKeys
    raw: dict[str, tuple[str, Any]]

    def _content(self, key: str, kind: str, empty: Any) -> Any:
        if key not in self.raw:
            return empty
        found, content = self.raw[key]
        assert found == kind, f"{key} is a {found}, expected a {kind}"
        return content

    def zset(self, key: str) -> dict[str, float]:
        return dict(self._content(key, "zset", {}))

    def members(self, key: str) -> list[str]:
        return list(self.zset(key))

    def hash(self, key: str) -> dict[str, Any]:
        return dict(self._content(key, "hash", {}))

    def set(self, key: str) -> set[str]:
        return set(self._content(key, "set", set()))

    def string(self, key: str) -> str | None:
        return self._content(key, "string", None)

    def events(self) -> list[dict[str, str]]:
        """The entries of the queue's events stream (fields only), oldest first."""
        return [fields for _, fields in self._content(self.keys.events, "stream", [])]

    def rate_log(self, task: str = "t") -> dict[str, float]:
        return self.zset(self.keys.rate(task))

    def progress(self, job_id: str) -> Any:
        return self.hash(self.keys.jobs).get(job_id + ":g")

    def log(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.hash(self.keys.jobs).get(job_id + ":l", []))

    @property
    def key_names(self) -> set[str]:
        return set(self.raw)

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """id -> state JSON of every job."""
        return {f: v for f, v in self.hash(self.keys.jobs).items() if not f.endswith(SUFFIXES)}

    def job(self, job_id: str) -> dict[str, Any]:
        return self.jobs[job_id]

    def fields_of(self, job_id: str) -> set[str]:
        """The jobs-hash fields of `job_id` (state, payload, result, errors)."""
        names = {job_id, *(job_id + s for s in SUFFIXES)}
        return names & set(self.hash(self.keys.jobs))

    def payload(self, job_id: str) -> bytes | None:
        return self.hash(self.keys.jobs).get(job_id + ":p")

    def result(self, job_id: str) -> bytes | None:
        return self.hash(self.keys.jobs).get(job_id + ":r")

    def errors(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.hash(self.keys.jobs).get(job_id + ":e", []))

    def runs(self, job_id: str) -> list[dict[str, Any]]:
        """Succeeded runs a rerun kept (`<id>:x`)."""
        return list(self.hash(self.keys.jobs).get(job_id + ":x", []))

    @property
    def active(self) -> dict[str, int]:
        return {t: int(n) for t, n in self.hash(self.keys.active).items()}

    @property
    def running(self) -> dict[str, float]:
        return self.zset(self.keys.running)

    def scheduled(self, task: str = "t") -> dict[str, float]:
        return self.zset(self.keys.scheduled(task))

    def ready(self, task: str = "t") -> dict[str, float]:
        return self.zset(self.keys.ready(task))

    @property
    def schedules(self) -> dict[str, dict[str, Any]]:
        """sid -> record JSON of every schedule."""
        fields = self.hash(self.keys.schedules)
        return {f: v for f, v in fields.items() if not f.endswith(SCHEDULE_SUFFIXES)}

    def schedule(self, sid: str) -> dict[str, Any]:
        return self.schedules[sid]

    def schedule_fields(self, sid: str) -> dict[str, Any]:
        """The schedules-hash fields of `sid`: record, definition, body, payload."""
        names = {sid, *(sid + s for s in SCHEDULE_SUFFIXES)}
        return {f: v for f, v in self.hash(self.keys.schedules).items() if f in names}

    @property
    def handoff(self) -> list[bytes]:
        """The entries of the handoff list, first to be popped first."""
        return [
            e if isinstance(e, bytes) else e.encode()
            for e in self._content(self.keys.handoff, "list", [])
        ]

    def parked(self, task: str = "t") -> dict[str, float]:
        return self.zset(self.keys.parked(task))

    @property
    def pending(self) -> dict[str, float]:
        """Pending schedules: sid -> ms it became pending."""
        return self.zset(self.keys.pending_schedules)


def snapshot(client: SyncClient, keys: QueueKeys) -> State:
    """The whole state of the queue of `keys` (every key under its base)."""
    return State(keys, dump_state(client.redis, keys.base))


# ---------------------------------------------------------------- invariants


def _expected_types(keys: QueueKeys, tasks: Sequence[str]) -> dict[str, str]:
    types = {
        keys.jobs: "hash",
        keys.running: "zset",
        keys.active: "hash",
        keys.tasks: "set",
        keys.succeeded: "zset",
        keys.failed: "zset",
        keys.cancelled: "zset",
        keys.workers: "zset",
        keys.recover_gate: "string",
        keys.schedules: "hash",
        keys.pending_schedules: "zset",
        keys.events: "stream",
        keys.unique: "hash",
        keys.unique_exp: "zset",
        keys.done: "zset",
        keys.created: "zset",
        keys.retrying: "hash",
        keys.throughput(0): "hash",
        keys.throughput(1): "hash",
    }
    for task in tasks:
        types[keys.scheduled(task)] = "zset"
        types[keys.ready(task)] = "zset"
        types[keys.rate(task)] = "zset"
        types[keys.permits(task)] = "zset"  # a capped task of a sharded queue
        types[keys.parked(task)] = "zset"
    types[keys.handoff] = "list"
    return types


def _check_keys(state: State, tasks: Sequence[str], problems: list[str]) -> None:
    expected = _expected_types(state.keys, tasks)
    for key, (kind, _) in state.raw.items():
        if key not in expected:
            problems.append(f"unexpected key {key} ({kind})")
        elif kind != expected[key]:
            problems.append(f"{key} is a {kind}, expected a {expected[key]}")


def _check_record(job_id: str, st: dict[str, Any], state: State, problems: list[str]) -> None:
    missing = STATE_FIELDS - set(st)
    if missing:
        problems.append(f"{job_id}: state lacks {sorted(missing)}: {st}")
        return
    s, a, m, c = st["s"], st["a"], st["m"], st["c"]
    if s not in STATUSES:
        problems.append(f"{job_id}: unknown status {s!r}")
    if not (0 <= a <= m) or c < a:
        problems.append(f"{job_id}: attempt/token out of range: a={a} m={m} c={c}")
    if s == "scheduled" and a != 0:
        problems.append(f"{job_id}: status scheduled with a={a} (expected 0)")
    if s in ("retrying", "running") and a < 1:
        problems.append(f"{job_id}: status {s} with a={a} (expected >= 1)")
    if s == "running" and not ("w" in st and "st" in st and c >= 1):
        problems.append(f"{job_id}: running without worker/start/token: {st}")
    if s in TERMINAL and "ft" not in st:
        problems.append(f"{job_id}: {s} without ft")
    if state.payload(job_id) is None:
        problems.append(f"{job_id}: no payload field")
    _check_history(job_id, state, problems)


def _check_history(job_id: str, state: State, problems: list[str]) -> None:
    """Error entries (one per run that did not succeed, `started` when it
    ran) and the succeeded runs a rerun kept are well formed."""
    for entry in state.errors(job_id):
        if not (
            isinstance(entry.get("at"), int)
            and isinstance(entry.get("type"), str)
            and isinstance(entry.get("message"), str)
        ):
            problems.append(f"{job_id}: malformed error entry {entry}")
        elif "started" in entry and not (
            isinstance(entry["started"], int) and entry["started"] <= entry["at"]
        ):
            problems.append(f"{job_id}: error entry of a run ends before it started: {entry}")
    for run in state.runs(job_id):
        if run.get("outcome") != "succeeded" or not isinstance(run.get("at"), int):
            problems.append(f"{job_id}: malformed kept run {run}")


def _check_records(state: State, tasks: Sequence[str], problems: list[str]) -> None:
    jobs = state.jobs
    for field in state.hash(state.keys.jobs):
        if field.endswith(SUFFIXES) and field[:-2] not in jobs:
            problems.append(f"orphan field {field}: no state for {field[:-2]}")
    known = state.set(state.keys.tasks)
    for job_id, st in jobs.items():
        _check_record(job_id, st, state, problems)
        if st.get("t") not in tasks:
            problems.append(f"{job_id}: task {st.get('t')!r} not among {list(tasks)}")
        if st.get("t") not in known:
            problems.append(f"{job_id}: task {st.get('t')!r} missing from the tasks set")


def _placements(state: State, tasks: Sequence[str]) -> dict[str, list[str]]:
    """id -> names of the sets holding it ("scheduled:<t>", "ready:<t>", "running", ...)."""
    k = state.keys
    containers = {"running": k.running, "succeeded": k.succeeded}
    containers |= {"failed": k.failed, "cancelled": k.cancelled}
    for task in tasks:
        containers[f"scheduled:{task}"] = k.scheduled(task)
        containers[f"ready:{task}"] = k.ready(task)
    where: dict[str, list[str]] = {}
    for name, key in containers.items():
        for member in state.zset(key):
            where.setdefault(member, []).append(name)
    return where


def _allowed_places(st: dict[str, Any]) -> list[list[str]]:
    s, t = st["s"], st["t"]
    if s in WAITING:
        return [[f"scheduled:{t}"], [f"ready:{t}"]]
    if s == "cancelled":  # keeps its slot in running until released
        return [["running"], ["cancelled"]]
    return [[s]]  # running, succeeded, failed


def _check_placement(state: State, tasks: Sequence[str], problems: list[str]) -> None:
    jobs = state.jobs
    where = _placements(state, tasks)
    for member, places in where.items():
        if member not in jobs:
            problems.append(f"{member} is in {places} but has no state record")
    for job_id, st in jobs.items():
        if STATE_FIELDS - set(st):
            continue
        places = sorted(where.get(job_id, []))
        if places not in _allowed_places(st):
            problems.append(
                f"{job_id} ({st['s']}) is in {places}, expected one of {_allowed_places(st)}"
            )
            continue
        score = state.zset(state.keys.base + places[0]).get(job_id)
        expect: float | None = None
        if places[0].startswith("scheduled:"):
            expect = st["due"]
        elif places[0].startswith("ready:"):
            expect = ready_score(st["p"], st["due"])
        elif places[0] in ("succeeded", "failed"):
            expect = st["ft"]
        if expect is not None and score != expect:
            problems.append(f"{job_id}: score {score} in {places[0]}, expected {expect}")
        if places[0] == "cancelled" and score is not None and score != st["ft"]:
            problems.append(f"{job_id}: cancelled index score {score} is not ft {st['ft']}")


def _check_active(state: State, tasks: Sequence[str], problems: list[str]) -> None:
    jobs = state.jobs
    counts = {task: 0 for task in tasks}
    for member in state.running:
        task = jobs.get(member, {}).get("t")
        counts[task] = counts.get(task, 0) + 1
    active = state.active
    for task in set(counts) | set(active):
        if active.get(task, 0) != counts.get(task, 0):
            problems.append(
                f"active[{task}] = {active.get(task, 0)} but {counts.get(task, 0)} running"
            )


def _unfinished(job_id: str, st: dict[str, Any], state: State) -> bool:
    """Waiting or running, or cancelled but still holding its slot in `running`."""
    s = st.get("s")
    return s in WAITING or s == "running" or (s == "cancelled" and job_id in state.running)


def _check_schedule_jobs(state: State, problems: list[str]) -> None:
    """A schedule's job names its tick and version; an unfinished one is the
    active job of its schedule, so a schedule never has two unfinished jobs."""
    records = state.schedules
    for job_id, st in state.jobs.items():
        sid = st.get("sc")
        if sid is None:
            continue
        if not isinstance(st.get("tk"), int) or not isinstance(st.get("sv"), int):
            problems.append(f"{job_id}: schedule job without integer tk/sv: {st}")
            continue
        if job_id != f"{sid}:{st['tk']}":
            problems.append(f"{job_id}: schedule job of tick {st['tk']} is not {sid}:{st['tk']}")
        rec = records.get(sid)
        if rec is None:
            problems.append(f"{job_id}: its schedule {sid} has no record")
            continue
        if st["sv"] > rec.get("v", 0):
            problems.append(f"{job_id}: version {st['sv']} is newer than {sid}'s {rec.get('v')}")
        if _unfinished(job_id, st, state) and rec.get("a") != job_id:
            problems.append(
                f"{job_id} ({st.get('s')}) is unfinished but {sid}'s active job is {rec.get('a')}"
            )


def _check_schedule_record(
    sid: str, rec: dict[str, Any], state: State, tasks: Sequence[str], problems: list[str]
) -> None:
    missing = RECORD_FIELDS - set(rec)
    if missing:
        problems.append(f"schedule {sid}: record lacks {sorted(missing)}: {rec}")
    fields = state.hash(state.keys.schedules)
    for suffix in SCHEDULE_SUFFIXES:
        if sid + suffix not in fields:
            problems.append(f"schedule {sid}: no field {sid + suffix}")
    if rec.get("t") not in tasks:
        problems.append(f"schedule {sid}: task {rec.get('t')!r} not among {list(tasks)}")
    if ("x" in rec) != ("xr" in rec):
        problems.append(f"schedule {sid}: x and xr go together: {rec}")
    active = rec.get("a")
    if active is None:
        return
    st = state.jobs.get(active)
    if st is None:
        problems.append(f"schedule {sid}: active job {active} does not exist")
    elif st.get("sc") != sid:
        problems.append(f"schedule {sid}: active job {active} belongs to {st.get('sc')}")
    elif not _unfinished(active, st, state):
        problems.append(f"schedule {sid}: active job {active} is {st.get('s')}")


def _check_schedules(state: State, tasks: Sequence[str], problems: list[str]) -> None:
    """Records, their fields, active jobs and the pending set."""
    records = state.schedules
    for field in state.hash(state.keys.schedules):
        if field.endswith(SCHEDULE_SUFFIXES) and field[:-2] not in records:
            problems.append(f"orphan schedule field {field}: no record {field[:-2]}")
    for sid, rec in records.items():
        _check_schedule_record(sid, rec, state, tasks, problems)
    for sid in state.pending:
        found = records.get(sid)
        if found is None:
            problems.append(f"pending schedule {sid} has no record")
        elif "a" in found or "x" in found:
            problems.append(f"pending schedule {sid} has an active job or is stopped: {found}")
    _check_schedule_jobs(state, problems)


def _check_unique(state: State, problems: list[str]) -> None:
    """Each identity names its holder; a finished holder keeps it only when
    its rule holds it after finishing ("uh" or "ue")."""
    jobs = state.jobs
    for identity, holder in state.hash(state.keys.unique).items():
        # values are ids; _hash_value decoded them as JSON when they look like numbers
        holder_id = str(holder)
        st = jobs.get(holder_id)
        if st is None:
            # a holder kept after finishing may be deleted by retention
            continue
        if st.get("u") != identity:
            problems.append(f"unique {identity!r} -> {holder_id}, whose identity is {st.get('u')}")
        elif st["s"] in TERMINAL and not (st.get("uh") or st.get("ue")):
            problems.append(f"unique {identity!r} still held by finished {holder_id}")


def _check_created(state: State, problems: list[str]) -> None:
    """With the index on, the created index holds exactly the job records,
    each scored by its `ct`; off, it does not exist."""
    if not state.keys.index_created:
        if state.keys.created in state.raw:
            problems.append("the created index exists while it is off")
        return
    index = state.zset(state.keys.created)
    jobs = state.jobs
    for job_id, st in jobs.items():
        if job_id not in index:
            problems.append(f"{job_id}: missing from the created index")
        elif index[job_id] != st.get("ct"):
            problems.append(f"{job_id}: created index score {index[job_id]} != ct {st.get('ct')}")
    for member in index.keys() - jobs.keys():
        problems.append(f"created index member {member} has no record")


def _check_retrying(state: State, problems: list[str]) -> None:
    """`retrying[task]` is the number of the task's jobs with status retrying
    (a task with none: 0 or no field)."""
    counts = {task: int(n) for task, n in state.hash(state.keys.retrying).items()}
    actual: dict[str, int] = {}
    for st in state.jobs.values():
        if st.get("s") == "retrying":
            actual[st["t"]] = actual.get(st["t"], 0) + 1
    for task in counts.keys() | actual.keys():
        if counts.get(task, 0) != actual.get(task, 0):
            problems.append(
                f"retrying[{task}] = {counts.get(task, 0)}, but {actual.get(task, 0)} jobs retry"
            )


def _check_handoff(state: State, problems: list[str]) -> None:
    """An entry of the handoff list is a job held under the entry's token
    (running, or cancelled while handed off), with a lease, as handed off."""
    running = state.running
    for entry in state.handoff:
        job_id, record, payload = entry.split(b"\n", 2)
        jid, handed = job_id.decode(), orjson.loads(record)
        st = state.jobs.get(jid)
        if st is None or st.get("c") != handed["c"] or jid not in running:
            problems.append(f"handoff entry of {jid}: not held under its token {handed['c']}")
        elif st["s"] not in ("running", "cancelled") or payload != state.payload(jid):
            problems.append(f"handoff entry of {jid}: status {st['s']}, or another payload")


def assert_invariants(client: SyncClient, keys: QueueKeys, tasks: Sequence[str]) -> State:
    """Check lua/README.md's invariants on the whole state of the queue; return the state.

    `tasks`: every task name the test uses (only their scheduled/ready keys may exist).
    """
    state = snapshot(client, keys)
    problems: list[str] = []
    _check_keys(state, tasks, problems)
    if not problems:  # the other checks read keys by their expected types
        _check_records(state, tasks, problems)
        _check_placement(state, tasks, problems)
        _check_active(state, tasks, problems)
        _check_schedules(state, tasks, problems)
        _check_unique(state, problems)
        _check_created(state, problems)
        _check_retrying(state, problems)
        _check_handoff(state, problems)
    assert not problems, "invariants broken:\n  " + "\n  ".join(problems)
    return state


# ---------------------------------------------------------------- call shortcuts


def new_job(
    job_id: str,
    task: str = "t",
    *,
    delay_ms: int = 0,
    priority: int = 0,
    max_attempts: int = 3,
    timeout_ms: int = 0,
    tags: Sequence[str] = (),
    payload: bytes | None = None,
    metadata: dict[str, Any] | None = None,
) -> proto.NewJob:
    body = proto.state_body(
        task=task,
        max_attempts=max_attempts,
        priority=priority,
        timeout_ms=timeout_ms,
        tags=tags,
        metadata=metadata,
    )
    data = f"payload-{job_id}".encode() if payload is None else payload
    return proto.NewJob(job_id, task, delay_ms, priority, body, data)


def enqueue(
    client: SyncClient,
    keys: QueueKeys,
    jobs: Sequence[proto.NewJob],
    now: int = NOW,
    *,
    events: bool = False,
) -> proto.EnqueueReply:
    return client.run(proto.enqueue(keys, jobs, now_ms=now, events=events))


def claim(
    client: SyncClient,
    keys: QueueKeys,
    n: int,
    *,
    tasks: Sequence[tuple[str, int]] = (("t", 0),),
    now: int = NOW,
    worker: str = "w1",
    lease_ms: int = LEASE_MS,
    rotation: int = 0,
    promote_limit: int = 1000,
    rates: dict[str, tuple[int, int]] | None = None,
    events: bool = False,
) -> proto.ClaimReply:
    call = proto.claim(
        keys,
        "q",
        worker=worker,
        n=n,
        lease_ms=lease_ms,
        tasks=tasks,
        rotation=rotation,
        promote_limit=promote_limit,
        now_ms=now,
        rates=rates,
        events=events,
    )
    return client.run(call)


def finish(
    client: SyncClient,
    keys: QueueKeys,
    outcomes: Sequence[proto.Outcome],
    *,
    tasks: Sequence[tuple[str, int]] = (("t", 0),),
    now: int = NOW,
    retention: proto.Retention = KEEP_ALL,
    events: bool = False,
) -> list[proto.FinishResult]:
    call = proto.finish(keys, outcomes, tasks=tasks, retention=retention, now_ms=now, events=events)
    return client.run(call).results


def error(attempt: int, message: str = "boom", type: str = "ValueError") -> bytes:
    return proto.error_entry(attempt=attempt, type=type, message=message)


def outcome(
    job: proto.ClaimedJob,
    code: proto.OutcomeCode,
    *,
    delay_ms: int = 0,
    blob: bytes | None = None,
    next: int | None = None,
) -> proto.Outcome:
    """The outcome of a claimed job; errors get an entry for the job's attempt by default.
    `next`: for a schedule's job, its schedule's next tick (or STOP / IDLE)."""
    if blob is None:
        if code in (proto.OutcomeCode.RETRY, proto.OutcomeCode.FAILED):
            blob = error(job.attempt)
        elif code == proto.OutcomeCode.CANCELLED:
            blob = error(job.attempt, "stopped", "cancelled")
        else:
            blob = b""
    return proto.Outcome(job.id, job.token, code, delay_ms, blob, next)


def recover(
    client: SyncClient,
    keys: QueueKeys,
    *,
    tasks: Sequence[str] = ("t",),
    now: int,
    gate_ms: int = 0,
    limit: int = 1000,
    events: bool = False,
) -> proto.RecoverReply:
    call = proto.recover(keys, tasks=tasks, gate_ms=gate_ms, limit=limit, now_ms=now, events=events)
    return client.run(call)


def cancel(
    client: SyncClient,
    keys: QueueKeys,
    job_id: str,
    *,
    task: str = "t",
    now: int,
    reason: str = "no longer needed",
    events: bool = False,
) -> proto.CancelResult:
    call = proto.cancel(keys, job_id, task=task, reason=reason, now_ms=now, events=events)
    return client.run(call)


def heartbeat(
    client: SyncClient,
    keys: QueueKeys,
    held: Sequence[tuple[str, str]],
    *,
    now: int,
    worker: str = "w1",
    lease_ms: int = LEASE_MS,
) -> proto.HeartbeatReply:
    return client.run(
        proto.heartbeat(keys, worker=worker, lease_ms=lease_ms, held=held, now_ms=now)
    )


# ---------------------------------------------------------------- wake channel

_markers = itertools.count()


class WakeListener:
    """A subscriber of the queue's wake channel.

    `published()` returns exactly what was published since the previous call:
    it publishes a marker of its own and reads up to it (messages on one
    channel arrive in order), so "nothing was published" needs no waiting.
    """

    def __init__(self, client: SyncClient, keys: QueueKeys) -> None:
        self.redis = client.redis
        self.channel = keys.wake_channel
        self.pubsub = client.redis.pubsub()
        self.pubsub.subscribe(self.channel)
        confirm = self.pubsub.get_message(timeout=5.0)
        assert confirm is not None and confirm["type"] == "subscribe", confirm

    def published(self) -> list[bytes]:
        marker = f"marker-{next(_markers)}".encode()
        self.redis.publish(self.channel, marker)
        got: list[bytes] = []
        while True:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            assert message is not None, f"marker {marker!r} not received within 5 s"
            if message["data"] == marker:
                return got
            got.append(message["data"])

    def close(self) -> None:
        self.pubsub.close()


@contextmanager
def wake_listener(client: SyncClient, keys: QueueKeys) -> Iterator[WakeListener]:
    listener = WakeListener(client, keys)
    try:
        yield listener
    finally:
        listener.close()
