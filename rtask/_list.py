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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from ._admin import Plan, QueueStats, stats_plan
from ._errors import InvalidInput
from ._job import JobInfo, JobStatus
from ._keys import QueueKeys, check_queue
from ._manage import queue_tasks
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


def _encode(doc: dict[str, Any]) -> str:
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


@dataclass(frozen=True, slots=True)
class Filter:
    """What `app.jobs` selects besides the status: tasks (None = all), tags
    (all of them), and time ranges [from, to) of creation, due time and finish."""

    tasks: Sequence[str] | None = None
    tags: Sequence[str] = ()
    created: Range | None = None
    scheduled: Range | None = None
    finished: Range | None = None

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
    status: JobStatus | str,
    where: Filter,
    descending: bool,
    limit: int,
    page_token: str | None,
) -> Plan[JobPage]:
    """One page of jobs (see the module docstring)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
        raise InvalidInput(f"limit must be an integer in [1, {PAGE_MAX}], got {limit!r}")
    if page_token is not None:
        doc = _decode(page_token)
    else:
        try:
            status_value = JobStatus(status).value
        except ValueError:
            raise InvalidInput(f"unknown job status {status!r}") from None
        tasks = where.tasks
        names = yield from queue_tasks(app, check_queue(queue), tasks)
        doc = {"v": 1, "q": queue, "s": status_value, "t": names, "f": tasks is not None}
        doc |= {"g": list(where.tags), "r": where.ranges(), "d": descending, "i": 0, "k": None}
    keys = app.keys(doc["q"])
    sources = _sources(keys, JobStatus(doc["s"]), doc["t"])
    found: list[JobInfo] = []
    for _ in range(MAX_CALLS):
        if doc["i"] >= len(sources) or len(found) >= limit:
            break
        call = list_page(
            keys,
            sources[doc["i"]],
            descending=doc["d"],
            after=None if doc["k"] is None else (doc["k"][0], doc["k"][1]),
            size=limit - len(found),
            budget=BUDGET,
            tasks=doc["t"] if doc["f"] else None,
            statuses=[doc["s"]],
            tags=doc["g"],
            ranges={k: (v[0], v[1]) for k, v in doc.get("r", {}).items()},
        )
        (reply,) = yield [call]
        assert isinstance(reply, ListReply)
        found += [JobInfo.from_raw(i, doc["q"], raw) for i, raw in reply.jobs]
        if reply.exhausted:
            doc = {**doc, "i": doc["i"] + 1, "k": None}
        else:
            doc = {**doc, "k": [reply.last_score, reply.last_id]}
    more = doc["i"] < len(sources)
    return JobPage(found, _encode(doc) if more else None)


def count_plan(app: App, queue: str, status: JobStatus | str, task: str | None) -> Plan[int]:
    """How many jobs of `queue` (and `task`) have `status`, from stats.lua's
    O(1)/O(log n) reads. Retrying jobs are counted with scheduled/queued ones
    (they share the task's sets), and finished jobs per queue only."""
    try:
        wanted = JobStatus(status)
    except ValueError:
        raise InvalidInput(f"unknown job status {status!r}") from None
    if wanted is JobStatus.RETRYING:
        raise InvalidInput("retrying jobs are counted within scheduled and queued")
    if wanted.finished and task is not None:
        raise InvalidInput("finished jobs are counted per queue, not per task")
    (stats,) = yield from stats_plan(app, [queue], 0.0)
    assert isinstance(stats, QueueStats)
    if wanted.finished:
        return int(getattr(stats, wanted.value))
    rows = [t for t in stats.tasks if task is None or t.task == task]
    return sum(int(getattr(t, wanted.value)) for t in rows)
