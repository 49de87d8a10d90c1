"""Listing jobs by status with filters and opaque page tokens, and counting
jobs by status from the sets the scripts keep (no scan of the keyspace).

A status is read from the sets that hold it: a finished status from its
index (ordered by finished time), `running` from the running set (by lease
deadline), `scheduled` from each task's scheduled set (by due time),
`queued` from each task's ready set (by priority, then due time), `retrying`
from both. A page continues after the key (score, id) of the last job
examined, so it is stable under ties and under jobs leaving the set; ties
are in id order (reversed in a descending read). The token carries the
filters: on later pages the token wins over the arguments (as in Ora).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from ._admin import QueueStats, stats_plan
from ._errors import InvalidInput
from ._job import JobInfo, JobStatus
from ._keys import QueueKeys
from ._list_created import ORDERS, created_doc, created_plan, statuses_of
from ._manage import queue_tasks
from ._plan import Plan
from ._protocol import Call
from ._protocol_manage import ListReply, list_page

if TYPE_CHECKING:
    from ._app import App

PAGE_DEFAULT, PAGE_MAX = 50, 1000
# Most members one list.lua call examines, and most calls one page makes.
BUDGET = 2000
MAX_CALLS = 20


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of `app.jobs(...)`; pass `next_page_token` for the next one
    (None: there is no more)."""

    jobs: list[JobInfo]
    next_page_token: str | None


def _sources(keys: QueueKeys, status: JobStatus, tasks: Sequence[str]) -> list[str]:
    if status.finished:
        return [keys.base + status.value]
    if status is JobStatus.RUNNING:
        return [keys.running]
    if status is JobStatus.SCHEDULED:
        return [keys.scheduled(t) for t in tasks]
    if status is JobStatus.QUEUED:
        return [keys.ready(t) for t in tasks]
    return [k for t in tasks for k in (keys.scheduled(t), keys.ready(t))]


def encode_token(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode()


def _decode(token: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        assert isinstance(doc, dict) and doc.get("v") == 1
        return doc
    except Exception:
        raise InvalidInput(f"invalid page token {token[:40]!r}") from None


Range = tuple[datetime | None, datetime | None]


def _range_ms(name: str, span: Range | None) -> tuple[int, int] | None:
    """A time range [from, to) as ms (0 = open), for list.lua."""
    if span is None:
        return None
    if not isinstance(span, tuple) or len(span) != 2:
        raise InvalidInput(f"{name} must be a (from, to) pair of datetimes or None")
    out = []
    for when in span:
        if when is not None and (not isinstance(when, datetime) or when.tzinfo is None):
            raise InvalidInput(f"{name} times must be timezone-aware datetimes")
        out.append(0 if when is None else int(when.timestamp() * 1000))
    return out[0], out[1]


def _names(name: str, values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{name} must be a list of strings, got {values!r}")
    return list(values)


@dataclass(frozen=True, slots=True)
class Filter:
    """What `app.jobs` selects besides the status: tasks (None = all), tags
    (all of them), any_tags (one of them; None = no filter), labels (every
    key=value; value None: the key is present), schedules (made by one of
    these schedule ids), and time ranges [from, to) of creation, due time
    and finish."""

    tasks: Sequence[str] | None = None
    tags: Sequence[str] = ()
    created: Range | None = None
    scheduled: Range | None = None
    finished: Range | None = None
    any_tags: Sequence[str] | None = None
    labels: Mapping[str, str | None] | None = None
    schedules: Sequence[str] | None = None

    def spec(self) -> dict[str, Any]:
        """The filters a page token carries (tasks and status aside)."""
        labels = self.labels or {}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in labels.items()
        ):
            raise InvalidInput(f"labels must map strings to strings or None, got {labels!r}")
        return {
            "g": _names("tags", self.tags) or [],
            "ga": _names("any_tags", self.any_tags),
            "lb": [[k, v] for k, v in sorted(labels.items())],
            "sc": _names("schedules", self.schedules),
            "r": self.ranges(),
        }

    @property
    def narrows(self) -> bool:
        """Whether anything beyond task and status is filtered on."""
        return bool(
            self.tags or self.any_tags is not None or self.labels or self.schedules is not None
        ) or bool(self.ranges())

    def ranges(self) -> dict[str, tuple[int, int]]:
        spans = {"c": ("created", self.created), "d": ("scheduled", self.scheduled)}
        spans["f"] = ("finished", self.finished)
        out = {}
        for key, (name, span) in spans.items():
            ms = _range_ms(name, span)
            if ms is not None:
                out[key] = ms
        return out


def list_plan(
    app: App,
    queue: str,
    status: JobStatus | str | Sequence[JobStatus | str] | None,
    where: Filter,
    descending: bool,
    limit: int,
    page_token: str | None,
    order: str = "status",
) -> Plan[JobPage]:
    """One page of jobs (see the module docstring; `order="created"`: of any
    statuses, by created time, see `rtask._list_created`)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
        raise InvalidInput(f"limit must be an integer in [1, {PAGE_MAX}], got {limit!r}")
    if order not in ORDERS:
        raise InvalidInput(f"order must be one of {ORDERS}, got {order!r}")
    if page_token is not None:
        doc = _decode(page_token)
        if doc.get("o") == "created":
            return (yield from created_plan(app, doc, limit))
    elif order == "created":
        doc = created_doc(app, queue, statuses_of(status), where, descending)
        return (yield from created_plan(app, doc, limit))
    else:
        if status is None:
            status = JobStatus.QUEUED
        elif not isinstance(status, str):
            raise InvalidInput("several statuses are listed with order='created' only")
        try:
            status_value = JobStatus(status).value
        except ValueError:
            raise InvalidInput(f"unknown job status {status!r}") from None
        tasks = where.tasks
        names = yield from _shard_tasks(app, queue, tasks)
        doc = {"v": 1, "q": queue, "s": status_value, "t": names, "f": tasks is not None}
        doc |= where.spec() | {"d": descending, "i": 0, "k": None}
    sources = _shard_sources(app, doc["q"], JobStatus(doc["s"]), doc["t"])
    found: list[JobInfo] = []
    for _ in range(MAX_CALLS):
        if doc["i"] >= len(sources) or len(found) >= limit:
            break
        physical, source = sources[doc["i"]]
        call = page_call(app.keys(physical), source, doc, limit - len(found), count=False)
        (reply,) = yield [call]
        assert isinstance(reply, ListReply)
        found += [JobInfo.from_raw(i, physical, raw) for i, raw in reply.jobs]
        if reply.exhausted:
            doc = {**doc, "i": doc["i"] + 1, "k": None}
        else:
            doc = {**doc, "k": [reply.last_score, reply.last_id]}
    more = doc["i"] < len(sources)
    return JobPage(found, encode_token(doc) if more else None)


def _shard_tasks(app: App, queue: str, tasks: Sequence[str] | None) -> Plan[list[str]]:
    """`tasks`, or every task known on any shard of `queue`."""
    if tasks is not None:
        return sorted(set(tasks))
    names: set[str] = set()
    for physical in app.shards(queue):  # (checks the queue name)
        names |= set((yield from queue_tasks(app, physical, None)))
    names |= {t.name for t in app.tasks.values() if t.queue == queue}
    return sorted(names)


def _shard_sources(
    app: App, queue: str, status: JobStatus, names: Sequence[str]
) -> list[tuple[str, str]]:
    """(physical queue, set) pairs to read in order: each shard's sets of
    `status`, shard after shard (a queue that is not sharded: its own)."""
    return [
        (physical, source)
        for physical in app.shards(queue)
        for source in _sources(app.keys(physical), status, names)
    ]


def page_call(
    keys: QueueKeys, source: str, doc: dict[str, Any], size: int, *, count: bool
) -> Call[ListReply]:
    """list.lua's call for the page token document `doc` on `source` (`doc["s"]`:
    a status, or a list of them)."""
    return list_page(
        keys,
        source,
        descending=doc["d"],
        after=None if doc["k"] is None else (doc["k"][0], doc["k"][1]),
        size=size,
        budget=BUDGET,
        tasks=doc["t"] if doc["f"] else None,
        statuses=doc["s"] if isinstance(doc["s"], list) else [doc["s"]],
        tags=doc["g"],
        ranges={k: (v[0], v[1]) for k, v in doc.get("r", {}).items()},
        any_tags=doc.get("ga"),
        labels=[(k, v) for k, v in doc.get("lb") or []],
        schedules=doc.get("sc"),
        count=count,
    )


def count_filtered_plan(
    app: App, queue: str, status: JobStatus, tasks: Sequence[str] | None, where: Filter
) -> Plan[int]:
    """Count the jobs with `status` that match `where` by reading their set
    through list.lua in bounded calls (BUDGET members each): O(jobs with the
    status), as no index covers labels, tags or times."""
    names = yield from _shard_tasks(app, queue, tasks)
    doc = {"s": status.value, "t": names, "f": tasks is not None, "d": False, "k": None}
    doc |= where.spec()
    total = 0
    for physical, source in _shard_sources(app, queue, status, names):
        doc["k"] = None
        while True:
            (reply,) = yield [page_call(app.keys(physical), source, doc, 1, count=True)]
            assert isinstance(reply, ListReply)
            total += reply.matched
            if reply.exhausted:
                break
            doc["k"] = [reply.last_score, reply.last_id]
    return total


def count_plan(
    app: App,
    queue: str,
    status: JobStatus | str,
    task: str | None,
    where: Filter | None = None,
) -> Plan[int]:
    """How many jobs of `queue` (and `task`, or the filter's tasks) have
    `status`: from stats.lua's O(1)/O(log n) reads when only status and task
    are asked for (retrying: the counts the scripts keep); otherwise (other
    filters, or finished jobs of some tasks) by `count_filtered_plan`'s
    bounded reads."""
    try:
        wanted = JobStatus(status)
    except ValueError:
        raise InvalidInput(f"unknown job status {status!r}") from None
    where = where or Filter()
    if where.tasks is not None and task is not None:
        raise InvalidInput("pass either task or a filter's tasks, not both")
    tasks = [task] if task is not None else _names("tasks", where.tasks)
    if where.narrows or (wanted.finished and tasks is not None):
        return (yield from count_filtered_plan(app, queue, wanted, tasks, where))
    (stats,) = yield from stats_plan(app, [queue], 0.0)
    assert isinstance(stats, QueueStats)
    if wanted.finished:
        return int(getattr(stats, wanted.value))
    rows = [t for t in stats.tasks if tasks is None or t.task in tasks]
    return sum(int(getattr(t, wanted.value)) for t in rows)
