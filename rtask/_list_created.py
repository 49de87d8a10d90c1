"""Listing jobs of any statuses by created time, from the queue's `created`
index (every job of the queue, score = created ms; lua/README.md).

list.lua reads the index and filters each member (statuses, tasks, tags,
labels, schedules, time ranges) within its bounded budget. A sharded queue
has one index per shard: each shard is read after its own cursor (score,
id) and the pages are merged, so the order is the queue's, not a shard's.
A job is returned only once every shard still being read has examined
past its key, so no job of a later page sorts before one already returned.
Ties (same ms) are in id order (reversed in a descending read), as Redis
orders them in the index: pages are stable under ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._errors import InvalidInput
from ._job import JobInfo, JobStatus
from ._plan import Plan
from ._protocol_manage import ListReply

if TYPE_CHECKING:
    from ._app import App
    from ._list import Filter, JobPage

ORDERS = ("status", "created")
# Most list.lua calls one page makes (each examines at most BUDGET members).
MAX_CALLS = 20


def statuses_of(status: JobStatus | str | Sequence[JobStatus | str] | None) -> list[str]:
    """The public statuses asked for (None: all of them), as sorted values."""
    if status is None:
        return sorted(s.value for s in JobStatus)
    wanted = [status] if isinstance(status, str) else list(status)
    try:
        return sorted({JobStatus(s).value for s in wanted})
    except ValueError:
        raise InvalidInput(f"unknown job status in {status!r}") from None


def created_doc(
    app: App, queue: str, statuses: list[str], where: Filter, descending: bool
) -> dict[str, Any]:
    """The page token document of a first page: one cursor per shard."""
    if not app.index_created:
        raise InvalidInput("order='created' needs the created index: App(index_created=True)")
    shards = app.shards(queue)  # (checks the queue name)
    tasks = where.tasks
    names = sorted(set(tasks)) if tasks is not None else []
    doc = {"v": 1, "o": "created", "q": queue, "s": statuses, "t": names}
    doc |= {"f": tasks is not None, "d": descending}
    doc |= where.spec() | {"c": [None] * len(shards), "x": [False] * len(shards)}
    return doc


def _key(score: str | int, job_id: str) -> tuple[float, str]:
    return float(score), job_id


def created_plan(app: App, doc: dict[str, Any], limit: int) -> Plan[JobPage]:
    """One page of the jobs of `doc` in created order (see the module docstring)."""
    from ._list import JobPage, page_call

    shards = app.shards(doc["q"])
    if len(doc["c"]) != len(shards):
        raise InvalidInput("the page token is of a queue with another number of shards")
    desc: bool = doc["d"]
    cursors: list[list[str] | None] = list(doc["c"])
    done: list[bool] = list(doc["x"])
    found: list[JobInfo] = []
    calls = 0
    while len(found) < limit and not all(done) and calls < MAX_CALLS:
        live = [i for i in range(len(shards)) if not done[i]]
        calls += len(live)
        batch = []
        for i in live:
            keys = app.keys(shards[i])
            page = {**doc, "k": cursors[i]}
            batch.append(page_call(keys, keys.created, page, limit - len(found), count=False))
        replies = yield batch
        # Each shard's jobs, and how far it examined (None: to its end).
        fetched: list[tuple[tuple[float, str], int, JobInfo]] = []
        frontier: dict[int, tuple[float, str] | None] = {}
        for i, reply in zip(live, replies, strict=True):
            assert isinstance(reply, ListReply)
            for job_id, raw in reply.jobs:
                assert raw.state is not None
                info = JobInfo.from_raw(job_id, shards[i], raw)
                fetched.append((_key(raw.state["ct"], job_id), i, info))
            frontier[i] = None if reply.exhausted else _key(reply.last_score, reply.last_id)
        fetched.sort(key=lambda f: f[0], reverse=desc)
        # Jobs up to the nearest frontier are final: no shard holds one before them.
        bounds = [f for f in frontier.values() if f is not None]
        bound = (max(bounds) if desc else min(bounds)) if bounds else None
        taken: dict[int, int] = dict.fromkeys(live, 0)
        last: dict[int, list[str]] = {}
        for key, i, info in fetched:
            if len(found) >= limit or (
                bound is not None and (key < bound if desc else key > bound)
            ):
                break
            found.append(info)
            taken[i] += 1
            last[i] = [str(int(key[0])), key[1]]
        for i in live:
            mine = sum(1 for f in fetched if f[1] == i)
            if taken[i] == mine:  # everything it examined is returned
                edge = frontier[i]
                done[i] = edge is None
                cursors[i] = None if edge is None else [str(int(edge[0])), edge[1]]
            elif i in last:
                cursors[i] = last[i]
    doc = {**doc, "c": cursors, "x": done}
    return JobPage(found, None if all(done) else _encode_doc(doc))


def _encode_doc(doc: dict[str, Any]) -> str:
    from ._list import encode_token

    return encode_token(doc)
