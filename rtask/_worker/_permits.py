"""Permits of capped tasks on sharded queues, worker side.

A capped task of a sharded queue is claimed only under permits (tokens in the
home shard, see `rtask/_permits.py` and lua/permit.lua), so its cap holds
across all shards and all workers:

- a worker asks the home shard for tokens (`acquire`) when a shard may have
  work and it has free slots; the tokens granted are used by the claims of the
  *next* round trip (one claim per shard, for at most that many jobs);
- a claimed job holds its token until its outcome is applied by finish.lua
  (so the jobs in `running` across the shards never outnumber the cap), then
  the token is reused by a claim of the same trip or given back (`release`):
  a worker keeps no idle token, so the others get their turn;
- tokens are renewed with the heartbeat, with the jobs' leases; a token found
  expired stops its job (handed back), and a dead worker's tokens expire after
  one lease, as its jobs' leases do.

Cost, for capped tasks of sharded queues only: one permit call per trip that
claims or frees tokens, one per heartbeat, riding in the same pipelines (no
extra round trip once tokens are held), and the claim of a first job waits for
one round trip. Uncapped tasks and unsharded queues never touch permits.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._keys import QueueKeys
from .._permits import acquire_permits, release_permits, renew_permits
from .._protocol import ClaimReply, Outcome, claim
from .._shards import logical_queue
from ._state import SHUTDOWN, QueueState, Running

if TYPE_CHECKING:
    from ._worker import Worker

# After the cap was full, ask again this much later (no one is woken when a
# permit is given back).
RETRY_S = 0.05


@dataclass(slots=True, eq=False)
class PermitPool:
    """The tokens one worker holds for one capped task of a sharded queue.

    Every token is in exactly one of `free`, `reserved` (a claim under way),
    `held` (job id -> token: claimed, not yet finished) or `finishing` (job
    id -> token: outcome sent, not yet applied)."""

    task: str
    cap: int
    home: QueueKeys
    prefix: str  # tokens are '<prefix><n>': unique to this worker
    shards: list[QueueState] = field(default_factory=list)
    free: list[str] = field(default_factory=list)
    reserved: int = 0
    held: dict[str, str] = field(default_factory=dict)
    finishing: dict[str, str] = field(default_factory=dict)
    asking: bool = False
    replay: list[str] = field(default_factory=list)  # asked, reply lost: ask again
    retry_at: float = 0.0
    counter: Any = field(default_factory=itertools.count)

    def tokens(self) -> list[str]:
        """Every token held, except those of claims under way."""
        return [*self.free, *self.held.values(), *self.finishing.values()]

    def count(self) -> int:
        return len(self.free) + self.reserved + len(self.held) + len(self.finishing)

    def wanted(self) -> bool:
        """True while a shard may have jobs of the task."""
        return any(q.may_have_work and q.drained.get(self.task) != q.wake_seq for q in self.shards)


# A sharded queue with capped tasks claims in groups: each capped task (under
# its permits) and the other tasks together (NORMAL). A group found drained
# is not claimed again until the shard's next wake-up (`wake_seq` moves on a
# wake-up signal or an idle poll); the shard may have work while some group
# is not known drained.
NORMAL = ""


def refresh(q: QueueState) -> None:
    """Set `q.may_have_work` from its groups."""
    groups = [*q.pools, *([NORMAL] if len(q.tasks) > len(q.pools) else [])]
    q.may_have_work = any(q.drained.get(g) != q.wake_seq for g in groups)


def drained(q: QueueState, group: str, asked: int, got: int, seq: int) -> None:
    """A claim of `group` came back: short, with no wake-up since, it is drained."""
    if got < asked and q.wake_seq == seq:
        q.drained[group] = seq
    refresh(q)


def due(q: QueueState, group: str, reply: ClaimReply) -> None:
    """Note when `group`'s earliest scheduled job is due (claim's next_due_ms);
    the shard's `next_due` (the worker's wait) is the earliest of its groups."""
    if reply.next_due_ms is None:
        q.dues.pop(group, None)
    else:
        loop = asyncio.get_running_loop()
        q.dues[group] = loop.time() + (reply.next_due_ms - reply.now_ms) / 1000
    q.next_due = min(q.dues.values()) if q.dues else None


def wrap_normal(q: QueueState, handler: Any, asked: int, seq: int) -> Any:
    """The claim handler of a pooled shard's other tasks, tracking their group."""

    def handle(reply: ClaimReply | None) -> None:
        handler(reply)
        if reply is not None:
            drained(q, NORMAL, asked, len(reply.jobs), seq)
            due(q, NORMAL, reply)

    return handle


def build(worker: Worker) -> list[PermitPool]:
    """The pools of the worker's capped tasks on sharded queues, each attached
    to the QueueState of every shard of its queue."""
    app = worker.app
    pools: dict[tuple[str, str], PermitPool] = {}
    for q in worker.queues:
        queue = logical_queue(q.name)
        if app.shard_table.get(queue, 1) <= 1:
            continue
        for task in app.tasks.values():
            if task.queue != queue or task.concurrency <= 0:
                continue
            pool = pools.get((queue, task.name))
            if pool is None:
                prefix = f"{worker.id}:{len(pools)}:"
                pool = pools[(queue, task.name)] = PermitPool(
                    task.name, task.concurrency, app.keys(queue), prefix
                )
            pool.shards.append(q)
            q.pools[task.name] = pool
    return list(pools.values())


def plan_claims(
    worker: Worker, q: QueueState, budget: int, calls: list[Any], handlers: list[Any], now_ms: Any
) -> tuple[int, list[tuple[str, int]]]:
    """Claims of `q`'s capped tasks under their free tokens, within `budget`
    jobs; returns the budget left and the tasks to claim without permits."""
    seq = q.wake_seq
    now = asyncio.get_running_loop().time()
    for name, pool in q.pools.items():
        take = min(budget, len(pool.free))
        if q.drained.get(name) == seq:
            take = 0
        if take <= 0:
            if q.dues.get(name, now + 1) <= now:  # passed, and no claim to renew it:
                del q.dues[name]  # waiting for it again would spin
                q.next_due = min(q.dues.values()) if q.dues else None
            continue
        tokens = pool.free[:take]
        del pool.free[:take]
        pool.reserved += take
        budget -= take
        q.claiming += take
        q.rotation += 1
        calls.append(
            claim(
                q.keys,
                q.name,
                worker=worker.id,
                n=take,
                lease_ms=int(worker.config.lease_s * 1000),
                tasks=[(name, pool.cap)],
                now_ms=now_ms,
                rates=q.rates,
                events=worker.app.events_enabled,
            )
        )
        handlers.append(_on_claim(worker, q, pool, tokens, seq))
    if q.drained.get(NORMAL) == seq:
        return budget, []
    return budget, [t for t in q.tasks if t[0] not in q.pools]


def _on_claim(worker: Worker, q: QueueState, pool: PermitPool, tokens: list[str], seq: int) -> Any:
    def handle(reply: ClaimReply | None) -> None:
        q.claiming -= len(tokens)
        worker._room.set()  # (the park loop waits for claims to come back)
        pool.reserved -= len(tokens)
        jobs = [] if reply is None else reply.jobs
        for job, token in zip(jobs, tokens, strict=False):
            pool.held[job.id] = token
        pool.free.extend(tokens[len(jobs) :])
        if reply is None:
            return
        drained(q, pool.task, len(tokens), len(jobs), seq)
        due(q, pool.task, reply)
        worker.stats["claimed"] += len(jobs)
        for job in jobs:
            worker.start_job(q, job)

    return handle


def plan_pools(
    worker: Worker, pools: list[PermitPool], free: int, calls: list[Any], handlers: list[Any]
) -> None:
    """Give back the tokens no claim of this trip uses; ask for more where a
    shard may have work and the worker has free slots."""
    now_ms = worker.app.now_ms()
    loop = asyncio.get_running_loop()
    for pool in pools:
        if pool.free:
            tokens, pool.free = pool.free, []
            calls.append(release_permits(pool.home, pool.task, tokens=tokens, now_ms=now_ms))
            handlers.append(_ignore)
        want = min(pool.cap - pool.count(), free)
        if worker.stopping or pool.asking or want <= 0 or not pool.wanted():
            continue
        if loop.time() < pool.retry_at:
            continue
        tokens, pool.replay = pool.replay[:want], pool.replay[want:]
        tokens += [f"{pool.prefix}{next(pool.counter)}" for _ in range(want - len(tokens))]
        pool.asking = True
        ttl_ms = int(worker.config.lease_s * 1000)
        calls.append(
            acquire_permits(
                pool.home, pool.task, cap=pool.cap, ttl_ms=ttl_ms, tokens=tokens, now_ms=now_ms
            )
        )
        handlers.append(_on_acquire(worker, pool, tokens))


def _ignore(reply: Any) -> None:
    """A release's reply: nothing to do (a lost release expires with its lease)."""


def _on_acquire(worker: Worker, pool: PermitPool, asked: list[str]) -> Any:
    def handle(granted: list[str] | None) -> None:
        pool.asking = False
        if granted is None:  # not sent, or its reply lost: asking for the same
            pool.replay.extend(asked)  # tokens again grants those granted once
            granted = []
        pool.free.extend(granted)
        if not granted:
            loop = asyncio.get_running_loop()
            pool.retry_at = loop.time() + RETRY_S
            loop.call_later(RETRY_S, worker._event.set)

    return handle


def settled(q: QueueState, run: Running, outcome: Outcome | None) -> None:
    """A job left the worker: its token waits for the outcome to be applied,
    or is free at once when there is no outcome to report."""
    pool = q.pools.get(run.job.task)
    if pool is None:
        return
    token = pool.held.pop(run.job.id, None)
    if token is None:
        return
    if outcome is None:
        pool.free.append(token)
    else:
        pool.finishing[run.job.id] = token


def finished(q: QueueState, outcomes: list[Outcome]) -> None:
    """finish.lua applied `outcomes`: their tokens are free again."""
    for pool in q.pools.values():
        for outcome in outcomes:
            token = pool.finishing.pop(outcome.id, None)
            if token is not None:
                pool.free.append(token)


def renew_calls(worker: Worker, pools: list[PermitPool], now_ms: Any) -> list[tuple[Any, Any]]:
    """(pool, call) renewing each pool's tokens, for the heartbeat."""
    ttl_ms = int(worker.config.lease_s * 1000)
    out = []
    for pool in pools:
        tokens = pool.tokens()
        if tokens:
            call = renew_permits(pool.home, pool.task, ttl_ms=ttl_ms, tokens=tokens, now_ms=now_ms)
            out.append((pool, call))
    return out


def renewed(worker: Worker, pool: PermitPool, lost: list[str]) -> None:
    """Tokens no longer held: forget them, and hand their jobs back."""
    gone = set(lost)
    if not gone:
        return
    pool.free = [t for t in pool.free if t not in gone]
    for job_id, token in list(pool.finishing.items()):
        if token in gone:
            del pool.finishing[job_id]
    for job_id, token in list(pool.held.items()):
        if token in gone:
            del pool.held[job_id]
            worker.stats["permits_lost"] += 1
            for q in pool.shards:
                if (run := q.running.get(job_id)) is not None:
                    worker.stop_job(q, run, SHUTDOWN)


def release_all(pools: list[PermitPool]) -> list[Any]:
    """Calls giving back every token (a worker leaving)."""
    return [
        release_permits(pool.home, pool.task, tokens=pool.tokens())
        for pool in pools
        if pool.tokens()
    ]
