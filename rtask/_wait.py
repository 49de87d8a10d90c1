"""Waiting for jobs to finish, woken by a notification.

A waiter subscribes to the `done` channel of each queue involved, then calls
wait.lua, which reads the jobs' statuses and registers the unfinished ones in
the queue's `done` zset in one step (so no finish can slip between the read
and the registration). When a registered job finishes, the script that
finishes it publishes its id on that channel. The waiter re-reads only when a
message names a job it waits for, or every `RECHECK_S` as a safety net (a
message lost with a dropped connection). When nobody waits, finishing costs
one EXISTS per script call.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._errors import JobNotFound, ResultTimeout
from ._job import JobInfo
from ._protocol import Call, RawJob, read_job
from ._protocol_manage import WaitReply, wait

if TYPE_CHECKING:
    from ._app import App

# Re-read at least this often, even without a message.
RECHECK_S = 1.0
FINISHED = frozenset({"succeeded", "failed", "cancelled"})

Ref = tuple[str, str]  # (queue, job id)


class _Waiting:
    """The pure part: which calls to send, and what their replies mean."""

    def __init__(self, app: App, refs: Sequence[Ref], timeout: float | None) -> None:
        self.app = app
        self.by_queue: dict[str, list[str]] = defaultdict(list)
        for queue, job_id in refs:
            self.by_queue[queue].append(job_id)
        self.pending = set(refs)
        self.order: list[str] = []
        self.refs = list(dict.fromkeys(refs))
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout

    @property
    def channels(self) -> list[str]:
        return [self.app.keys(q).done for q in self.by_queue]

    def wait_calls(self) -> list[Call[WaitReply]]:
        # registered a little beyond this waiter's next re-read
        ttl_ms = int((min(self.left(), RECHECK_S) + 1.0) * 1000)
        self.order = [q for q in self.by_queue if self.waiting_in(q)]
        return [wait(self.app.keys(q), self.waiting_in(q), ttl_ms=ttl_ms) for q in self.order]

    def waiting_in(self, queue: str) -> list[str]:
        return [i for i in self.by_queue[queue] if (queue, i) in self.pending]

    def take(self, replies: list[WaitReply]) -> None:
        for queue, reply in zip(self.order, replies, strict=True):
            ids = self.waiting_in(queue)
            for job_id, status in zip(ids, reply.statuses, strict=True):
                if status == "":
                    raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
                if status in FINISHED:
                    self.pending.discard((queue, job_id))

    def left(self) -> float:
        if self.deadline is None:
            return RECHECK_S
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def timed_out(self) -> ResultTimeout:
        first = sorted(self.pending)[0]
        return ResultTimeout(
            f"{len(self.pending)} job(s) not finished after {self.timeout}s (e.g. {first[1]})"
        )

    def relevant(self, message: Any) -> bool:
        """Whether a pub/sub message names a job still waited for."""
        if not message or message.get("type") != "message":
            return False
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = message["data"]
        ids = (data.decode() if isinstance(data, bytes) else str(data)).split()
        queue = next((q for q in self.by_queue if self.app.keys(q).done == channel), None)
        return queue is not None and any((queue, i) in self.pending for i in ids)

    def read_calls(self) -> list[Call[RawJob]]:
        return [read_job(self.app.keys(q), i) for q, i in self.refs]

    def infos(self, raws: list[RawJob]) -> list[JobInfo]:
        return [JobInfo.from_raw(i, q, raw) for (q, i), raw in zip(self.refs, raws, strict=True)]


async def wait_async(app: App, refs: Sequence[Ref], timeout: float | None) -> list[JobInfo]:
    """Wait until every job of `refs` finished; their records, or `ResultTimeout`."""
    w = _Waiting(app, refs, timeout)
    client = app.async_client()
    pubsub = client.pubsub()
    async with pubsub:
        await pubsub.subscribe(*w.channels)
        while True:
            w.take(await client.run_many(w.wait_calls()))
            if not w.pending:
                break
            if w.expired():
                raise w.timed_out()
            recheck = time.monotonic() + min(w.left(), RECHECK_S)
            while time.monotonic() < recheck:
                left = recheck - time.monotonic()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
                if w.relevant(message):
                    break
    return w.infos(await client.run_many(w.read_calls()))


def wait_sync(app: App, refs: Sequence[Ref], timeout: float | None) -> list[JobInfo]:
    """`wait_async` for sync code (a pub/sub connection of the sync client)."""
    w = _Waiting(app, refs, timeout)
    client = app.sync_client()
    pubsub = client.redis.pubsub()  # type: ignore[no-untyped-call]
    try:
        pubsub.subscribe(*w.channels)
        while True:
            w.take(client.run_many(w.wait_calls()))
            if not w.pending:
                break
            if w.expired():
                raise w.timed_out()
            recheck = time.monotonic() + min(w.left(), RECHECK_S)
            while time.monotonic() < recheck:
                left = recheck - time.monotonic()
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
                if w.relevant(message):
                    break
    finally:
        pubsub.close()
    return w.infos(client.run_many(w.read_calls()))
