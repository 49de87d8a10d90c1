"""How a task's jobs are enqueued: `BoundTask` (a task with per-job options)
builds each job (pure: no I/O) and sends it, by the lean path
(enqueue_plain.lua) when it can, else by enqueue.lua, routed per shard; and
the handles of the jobs sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from ._codec import encode_args, is_builtin
from ._errors import InvalidInput, PayloadTooLarge
from ._job import (
    H,
    Job,
    SyncJob,
    created_handle,
    created_handles,
    mark_existing,
    new_job_id,
    new_job_ids,
)
from ._keys import QueueKeys, check_job_id
from ._middleware import EnqueueContext
from ._protocol import Call, EnqueueReply, NewJob, PlainEnqueue, enqueue, enqueue_plain, state_body
from ._shards import Placement, enqueue_calls, route, shard_name
from ._task_options import (
    MAX_ATTEMPTS_LIMIT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    EnqueueOptions,
    _check_int,
    _check_labels,
    _check_metadata,
    _check_seconds,
    renamed_options,
)
from ._unique import Unique

if TYPE_CHECKING:
    from ._task import Task

P = ParamSpec("P")
R = TypeVar("R")

# Most jobs per enqueue.lua call; bigger batches are split and pipelined.
ENQUEUE_CHUNK = 1000
# From this many jobs, an async enqueue_many builds its handles while Redis
# stores the jobs (below it, the extra task costs more than it saves).
OVERLAP_MIN = 64
# Most jobs per enqueue_plain.lua call (the lean bulk path), pipelined likewise.
PLAIN_CHUNK = 1000


class BoundTask(Generic[P, R]):
    """A task with per-job options, from `task.options(...)`."""

    def __init__(self, task: Task[P, R], opts: EnqueueOptions) -> None:
        self.task = task
        self.opts = opts
        self._check()
        # Jobs take the lean path (enqueue_plain.lua) unless a hook may change
        # each job's options or they are unique; see `_plain`.
        self._plain_ok = not task.enqueue_hooks and (opts.unique or task.unique) is None
        self._plain_cached: PlainEnqueue | None = None
        self._template_cached: tuple[int, int, bytes, bytes] | None = None

    def _check(self) -> None:
        o = self.opts
        if o.delay_s is not None and o.at is not None:
            raise InvalidInput("give either delay or at, not both")
        _check_seconds("delay", o.delay_s, positive=False)
        _check_seconds("timeout", o.timeout_s, positive=True)
        if o.priority is not None:
            _check_int("priority", o.priority, PRIORITY_MIN, PRIORITY_MAX)
        if o.max_attempts is not None:
            _check_int("max_attempts", o.max_attempts, 1, MAX_ATTEMPTS_LIMIT)
        if o.id is not None:
            check_job_id(o.id)
        if o.at is not None and o.at.tzinfo is None:
            raise InvalidInput("at must be a timezone-aware datetime")
        if o.unique is not None and not isinstance(o.unique, Unique):
            raise InvalidInput(f"unique must be a rtask.Unique, got {o.unique!r}")
        for tag in o.tags:
            if not isinstance(tag, str) or not tag:
                raise InvalidInput(f"tags must be non-empty strings, got {tag!r}")
        _check_labels(o.labels)
        _check_metadata(o.metadata)

    def options(self, **changes: Any) -> BoundTask[P, R]:
        """These options with some changed (same keywords as `Task.options`)."""
        return BoundTask(self.task, renamed_options(self.opts, changes))

    def build(self, args: Sequence[Any], kwargs: dict[str, Any], job_id: str | None) -> NewJob:
        """The job to store for these arguments (pure: no I/O); the task's
        `on_enqueue` middleware runs first and may change all three."""
        if self.task.enqueue_hooks:
            bound, args, kwargs = self._hooked(args, kwargs)
            chosen = job_id if bound.opts.id is None else bound.opts.id
            return bound._build_one(bound._template(), args, kwargs, chosen)
        return self._build_one(self._template(), args, kwargs, job_id)

    def _hooked(
        self, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[BoundTask[P, R], Sequence[Any], dict[str, Any]]:
        ctx = EnqueueContext(self.task, tuple(args), dict(kwargs), self.opts)
        for hook in self.task.enqueue_hooks:
            hook(ctx)
        bound = self if ctx.options is self.opts else BoundTask(self.task, ctx.options)
        return bound, ctx.args, ctx.kwargs

    def _template(self) -> tuple[int, int, bytes, bytes]:
        """(delay_ms, priority, state body, unique spec): what every job of one
        call shares. Built once, unless the delay depends on the time (`at`)."""
        template = self._template_cached
        if template is None:
            template = self._make_template()
            if self.opts.at is None:
                self._template_cached = template
        return template

    def _make_template(self) -> tuple[int, int, bytes, bytes]:
        task, o, app = self.task, self.opts, self.task.app
        delay_s = o.delay_s or 0.0
        if o.at is not None:
            delay_s = max(0.0, o.at.timestamp() - app.time())
        timeout_s = o.timeout_s if o.timeout_s is not None else task.timeout_s
        priority = task.priority if o.priority is None else o.priority
        body = state_body(
            task=task.name,
            max_attempts=o.max_attempts or task.max_attempts,
            priority=priority,
            timeout_ms=int((timeout_s or 0) * 1000),
            tags=o.tags,
            labels=dict(o.labels),
            metadata=dict(o.metadata),
        )
        unique = o.unique or task.unique
        spec = b"" if unique is None else unique.spec(task.name)
        return int(delay_s * 1000), priority, body, spec

    def _build_one(
        self,
        template: tuple[int, int, bytes, bytes],
        args: Sequence[Any],
        kwargs: dict[str, Any],
        job_id: str | None,
    ) -> NewJob:
        delay_ms, priority, body, spec = template
        payload = self._payload(args, kwargs)
        job_id = job_id or new_job_id()
        return NewJob(job_id, self.task.name, delay_ms, priority, body, payload, spec)

    def _payload(self, args: Sequence[Any], kwargs: dict[str, Any]) -> bytes:
        app = self.task.app
        payload = encode_args(app.codec, args, kwargs)
        if len(payload) > app.max_payload_bytes:
            raise PayloadTooLarge(
                f"task {self.task.name}: payload is {len(payload)} bytes,"
                f" over the limit of {app.max_payload_bytes}"
            )
        return payload

    def _plain(self) -> PlainEnqueue | None:
        """The lean enqueue of these jobs (enqueue_plain.lua), or None when
        they need enqueue.lua: a hook may change each job's options, they are
        unique, events are on, or the queue is sharded (routed per job). Built
        once, unless the delay depends on the time (`at`)."""
        task = self.task
        if not self._plain_ok or task.app.events_enabled or task.shards != 1:
            return None
        plan = self._plain_cached
        if plan is None:
            delay_ms, priority, body, _ = self._template()
            plan = enqueue_plain(task.keys, task.name, delay_ms, priority, body)
            if self.opts.at is None:  # else the delay depends on the time
                self._plain_cached = plan
        return plan

    def _checked_items(
        self,
        items: Iterable[Sequence[Any] | dict[str, Any]],
        ids: Sequence[str] | None,
        if_not_exists: bool,
    ) -> list[Sequence[Any] | dict[str, Any]]:
        if self.opts.id is not None:
            raise InvalidInput("enqueue_many cannot take a fixed id (pass ids=[...])")
        items = list(items)
        if if_not_exists and ids is None:
            raise InvalidInput("if_not_exists needs explicit ids (ids=[...])")
        if ids is not None:
            if isinstance(ids, str) or len(ids) != len(items):
                raise InvalidInput("ids must be a list with one id per item")
            for given in ids:
                check_job_id(given)
        return items

    def _build_many(
        self,
        items: Iterable[Sequence[Any] | dict[str, Any]],
        ids: Sequence[str] | None,
        if_not_exists: bool = False,
    ) -> list[NewJob]:
        items = self._checked_items(items, ids, if_not_exists)
        template = self._template()
        built = []
        for k, item in enumerate(items):
            item_id = None if ids is None else ids[k]
            args, kwargs = _split(item)
            if self.task.enqueue_hooks:  # each job's options may differ
                built.append(self.build(args, kwargs, item_id))
            else:
                built.append(self._build_one(template, args, kwargs, item_id))
        return built

    def _plain_many(
        self,
        plan: PlainEnqueue,
        items: Iterable[Sequence[Any] | dict[str, Any]],
        ids: Sequence[str] | None,
    ) -> tuple[list[str], list[bytes]]:
        """The ids and payloads of the jobs of `items` (every payload is built,
        hence checked, before anything is sent)."""
        items = self._checked_items(items, ids, False)
        job_ids = list(ids) if ids is not None else new_job_ids(len(items))
        # An item repeated (`[()] * n`) is encoded once, when the codec gives
        # equal bytes for equal values; nothing runs between two items that
        # could change one (the list is taken first, no hooks on this path).
        reuse = is_builtin(self.task.app.codec)
        payloads: list[bytes] = []
        last: object = payloads  # no item is this list
        payload = b""
        for item in items:
            if item is not last or not reuse:
                payload = self._payload(*_split(item))
                last = item
            payloads.append(payload)
        return job_ids, payloads

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue one job (async)."""
        plan = self._plain()
        if plan is not None:  # the hot path
            task, app = self.task, self.task.app
            job_id = self.opts.id or new_job_id()
            lean = plan.one(app.now_ms(), job_id, self._payload(args, kwargs))
            stored = await app.async_client().run(lean)
            return created_handle(Job, app, job_id, task.queue, task.name, stored)
        job = self.build(args, kwargs, self.opts.id)
        queue, call = self._enqueue_one(job)
        reply = await self.task.app.async_client().run(call)
        return Job(self.task.app, *_handle(self.task, job, reply, 0, queue))

    def enqueue_sync(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob[R]:
        """Enqueue one job (sync)."""
        plan = self._plain()
        if plan is not None:  # the hot path
            task, app = self.task, self.task.app
            job_id = self.opts.id or new_job_id()
            lean = plan.one(app.now_ms(), job_id, self._payload(args, kwargs))
            stored = app.sync_client().run(lean)
            return created_handle(SyncJob, app, job_id, task.queue, task.name, stored)
        job = self.build(args, kwargs, self.opts.id)
        queue, call = self._enqueue_one(job)
        reply = self.task.app.sync_client().run(call)
        return SyncJob(self.task.app, *_handle(self.task, job, reply, 0, queue))

    async def enqueue_many(
        self,
        items: Iterable[Sequence[Any] | dict[str, Any]],
        *,
        ids: Sequence[str] | None = None,
        if_not_exists: bool = False,
    ) -> list[Job[R]]:
        """Enqueue one job per item, in one round trip (see `Task.enqueue_many`)."""
        plan = None if if_not_exists else self._plain()
        if plan is not None:
            job_ids, payloads = self._plain_many(plan, items, ids)
            task = self.task
            client = task.app.async_client()
            now_ms = task.app.now_ms()
            if len(job_ids) < OVERLAP_MIN:
                calls = plan.many(now_ms, job_ids, payloads, PLAIN_CHUNK)
                lean_replies = await client.run_many(calls) if calls else []
                return self._plain_handles(Job, job_ids, lean_replies)
            # Each call goes out as soon as it is built, so Redis stores one
            # chunk while the next is built and sent; the handles are built
            # last (each says created until a reply says otherwise).
            sends = []
            for call in plan.each(now_ms, job_ids, payloads, PLAIN_CHUNK):
                sends.append(asyncio.ensure_future(client.run(call)))
                await asyncio.sleep(0)  # one turn of the loop: the call is written
            handles = created_handles(
                Job, task.app, job_ids, task.queue, task.name, [True] * len(job_ids)
            )
            stored: list[bool] = []
            for sent in await asyncio.gather(*sends, return_exceptions=True):
                if isinstance(sent, BaseException):
                    raise sent  # (after every call has ended: none is left behind)
                stored += sent.stored
            mark_existing(handles, stored)
            return handles
        jobs = self._build_many(items, ids, if_not_exists)
        calls, placed = self._enqueue_calls(jobs, if_not_exists)
        replies = await self.task.app.async_client().run_many(calls) if calls else []
        return [Job(self.task.app, *h) for h in _handles(self.task, jobs, placed(replies))]

    def enqueue_many_sync(
        self,
        items: Iterable[Sequence[Any] | dict[str, Any]],
        *,
        ids: Sequence[str] | None = None,
        if_not_exists: bool = False,
    ) -> list[SyncJob[R]]:
        """Enqueue one job per item (sync), in one round trip."""
        plan = None if if_not_exists else self._plain()
        if plan is not None:
            job_ids, payloads = self._plain_many(plan, items, ids)
            plain_calls = plan.many(self.task.app.now_ms(), job_ids, payloads, PLAIN_CHUNK)
            client = self.task.app.sync_client()
            lean_replies = client.run_many(plain_calls) if plain_calls else []
            return self._plain_handles(SyncJob, job_ids, lean_replies)
        jobs = self._build_many(items, ids, if_not_exists)
        calls, placed = self._enqueue_calls(jobs, if_not_exists)
        replies = self.task.app.sync_client().run_many(calls) if calls else []
        return [SyncJob(self.task.app, *h) for h in _handles(self.task, jobs, placed(replies))]

    def _plain_handles(self, cls: type[H], ids: list[str], replies: list[EnqueueReply]) -> list[H]:
        """The handles of jobs `ids` sent by lean calls (one queue, no unique duplicates)."""
        task = self.task
        stored = [s for reply in replies for s in reply.stored]
        return created_handles(cls, task.app, ids, task.queue, task.name, stored)

    def _keys(self) -> QueueKeys:
        return self.task.keys

    def _enqueue_call(
        self, jobs: Sequence[NewJob], if_not_exists: bool = False
    ) -> Call[EnqueueReply]:
        app = self.task.app
        return enqueue(
            self._keys(),
            jobs,
            app.now_ms(),
            if_not_exists=if_not_exists,
            events=app.events_enabled,
        )

    def _enqueue_one(self, job: NewJob) -> tuple[str, Call[EnqueueReply]]:
        """The physical queue of one new job (its shard) and its enqueue call."""
        task = self.task
        if task.shards == 1:  # the hot path: no routing
            return task.queue, self._enqueue_call([job])
        queue = shard_name(task.queue, route(task, job))
        app = task.app
        call = enqueue(app.keys(queue), [job], app.now_ms(), events=app.events_enabled)
        return queue, call

    def _enqueue_calls(
        self, jobs: list[NewJob], if_not_exists: bool
    ) -> tuple[list[Call[EnqueueReply]], Callable[[list[EnqueueReply]], list[Placement]]]:
        """One call per shard and chunk, and how to map the replies to each
        job's placement (physical queue, reply, index in that reply)."""
        task, app = self.task, self.task.app
        if if_not_exists:
            if task.shards > 1:
                raise InvalidInput("if_not_exists needs one atomic call: not on a sharded queue")
            if len(jobs) > ENQUEUE_CHUNK:
                raise InvalidInput(f"if_not_exists takes at most {ENQUEUE_CHUNK} jobs per call")
            # one call, so the check and the insert are one atomic step
            calls = [self._enqueue_call(jobs, if_not_exists=True)] if jobs else []
            return calls, lambda replies: [(task.queue, replies[0], k) for k in range(len(jobs))]
        return enqueue_calls(task, jobs, ENQUEUE_CHUNK, app.now_ms(), app.events_enabled)


# (id, queue, task, created, replaced) of a job handle
Handle = tuple[str, str, str, bool, bool]


def _handle(task: Task[Any, Any], job: NewJob, reply: EnqueueReply, k: int, queue: str) -> Handle:
    """The handle fields of job `k` of a reply (to a call on physical queue
    `queue`): the existing job's on a duplicate."""
    existing = reply.existing[k] if reply.existing else None
    if existing is not None:
        replaced = bool(reply.replaced and reply.replaced[k])
        return existing, queue, task.name, False, replaced
    return job.id, queue, task.name, reply.stored[k], False


def _split(item: Sequence[Any] | dict[str, Any]) -> tuple[Sequence[Any], dict[str, Any]]:
    """The args and kwargs of one `enqueue_many` item."""
    if isinstance(item, dict):
        return (), item
    if isinstance(item, list | tuple):
        return item, {}
    raise InvalidInput(f"enqueue_many items are tuples of args or dicts, not {item!r}")


def _handles(task: Task[Any, Any], jobs: list[NewJob], placements: list[Placement]) -> list[Handle]:
    return [
        _handle(task, job, reply, k, queue)
        for job, (queue, reply, k) in zip(jobs, placements, strict=True)
    ]
