"""Claims, worker side: the claim call of one queue in a round trip (which
tasks it asks, eager or lazy), the shards a sharded worker claims from in
turn, and the claim's reply handler, which starts the jobs it brought."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any

from .._protocol import ClaimReply, claim
from . import _permits
from ._state import QueueState

if TYPE_CHECKING:
    from ._worker import Worker

# Claims that get all they ask skip the scheduled sets (claim.lua's lazy
# call): a busy worker still promotes due scheduled jobs at least this often.
PROMOTE_S = 0.005
# Most scheduled jobs a claim promotes per task.
PROMOTE_LIMIT = 1000


def claim_call(
    worker: Worker,
    q: QueueState,
    n: int,
    tasks: list[tuple[str, int]],
    now_ms: int | None,
    loop_now: float,
    handlers: list[Any],
) -> Any:
    """The claim of up to n jobs of q's `tasks`; its handler goes to `handlers`.

    Eager (reads the scheduled sets first) at least every PROMOTE_S, else
    lazy (reads them only when its ready jobs come up short)."""
    eager = loop_now >= q.promoted_at + PROMOTE_S
    if eager:
        q.promoted_at = loop_now
    rotation, partial = q.rotation, False
    if not q.pools:
        tasks, partial = claim_tasks(q, eager)
        rotation = 0  # claim_tasks rotated them
    handler = on_claim(worker, q, n, q.wake_seq, partial)
    if q.pools:
        handler = _permits.wrap_normal(q, handler, n, q.wake_seq)
    handlers.append(handler)
    return claim(
        q.keys,
        q.name,
        worker=worker.id,
        n=n,
        lease_ms=int(worker.config.lease_s * 1000),
        tasks=tasks,
        rotation=rotation,
        promote_limit=PROMOTE_LIMIT if eager else -PROMOTE_LIMIT,
        now_ms=now_ms,
        rates=q.rates,
        events=worker.app.events_enabled,
    )


def claim_tasks(q: QueueState, eager: bool) -> tuple[list[tuple[str, int]], bool]:
    """The tasks of q's next claim, in the order claim.lua serves them (it
    shares what is wanted among the tasks not served yet, so the tasks
    that gave nothing last time come first: one pop each, then the tasks
    with jobs share the rest), and whether some were left out.

    While q's claims get all they ask, a lazy claim leaves out the tasks
    that gave nothing: an eager claim (at least every PROMOTE_S) asks
    them again, and a lazy one that comes up short is followed at once
    by an eager one (see on_claim), so a task left out waits PROMOTE_S
    at most, and only while the others keep the worker busy.
    """
    r = q.rotation % len(q.tasks)
    rotated = q.tasks[r:] + q.tasks[:r]
    dry = q.dry
    wet = [t for t in rotated if t[0] not in dry]
    if not eager and q.busy and 0 < len(wet) < len(rotated):
        return wet, True
    return [t for t in rotated if t[0] in dry] + wet, False


def few_shards(worker: Worker, wanting: list[QueueState], free: int) -> list[QueueState]:
    """A worker serving sharded queues claims from only as many of them per
    trip as give each claim a batch's worth, taking turns: K shards would
    otherwise split every trip into K small claims (and K finishes)."""
    count = max(1, min(len(wanting), free // worker._batch_target))
    start = worker._turn % len(wanting)
    worker._turn += count
    return (wanting[start:] + wanting[:start])[:count]


def on_claim(worker: Worker, q: QueueState, asked: int, seq: int, partial: bool = False) -> Any:
    def handle(reply: ClaimReply | None) -> None:
        q.claiming -= asked
        worker._room.set()  # (the park loop waits for claims to come back)
        if reply is None:
            return
        loop = asyncio.get_running_loop()
        got = {job.task for job in reply.jobs}
        q.dry = frozenset(name for name, _ in q.tasks if name not in got)
        full = len(reply.jobs) >= asked
        q.busy = full
        if not full and partial:
            # tasks were left out: the next claim asks every task, eagerly
            q.promoted_at = -math.inf
        elif not full:
            # a short claim read the scheduled sets (even a lazy one)
            q.promoted_at = loop.time()
            if q.wake_seq == seq:
                q.may_have_work = False  # drained (or capped), and no wake-up since
        q.clock_offset_ms = reply.now_ms - time.time() * 1000
        q.next_due = (
            None
            if reply.next_due_ms is None
            else loop.time() + (reply.next_due_ms - reply.now_ms) / 1000
        )
        worker.stats["claimed"] += len(reply.jobs)
        for job in reply.jobs:
            worker.start_job(q, job)

    return handle
