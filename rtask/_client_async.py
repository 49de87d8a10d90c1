"""The async client (see `_client`): `AsyncClient`, and the `Subscription`s
of a worker's wake-up listener.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from . import _redis_errors as rx
from ._client_shared import (
    _TRIES,
    _check_loaded,
    _decoded,
    _evalsha,
    _give_up_unless_retryable,
    _memory_server,
    check_url,
    is_memory,
    redact,
)
from ._errors import BackendError, map_redis_errors
from ._protocol import Call
from ._scripts import SCRIPT_NAMES, all_scripts
from ._wire import AsyncWire, Parker, pack, pack_evalsha, script_loads
from ._wire_connect import PoolEndpoint, endpoint
from ._wire_shared import _raised

if TYPE_CHECKING:
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.client import PubSub

T = TypeVar("T")

# Most connections one async client uses at once.
ASYNC_MAX_CONNECTIONS = 64


def _hiredis_packing(connection_class: type[Any]) -> type[Any]:
    """The async connection class, packing commands with hiredis when it can.

    redis-py's sync connections already do; its async ones pack in Python,
    which costs a worker about a fifth of its time on large finish batches.
    """
    try:
        from redis.connection import HiredisRespSerializer
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:  # pragma: no cover - another redis-py layout
        return connection_class
    if not HIREDIS_AVAILABLE:
        return connection_class
    serializer = HiredisRespSerializer()

    def pack_command(self: Any, *args: Any) -> list[bytes]:
        return serializer.pack(*args)  # type: ignore[no-any-return]

    return type(
        f"Hiredis{connection_class.__name__}", (connection_class,), {"pack_command": pack_command}
    )


class Subscription(Protocol):
    """Channels subscribed to on a connection of their own."""

    async def get(self, timeout_s: float) -> str | None:
        """The channel of the next message, or None after `timeout_s` without one."""

    async def aclose(self) -> None: ...


class PubSubSubscription:
    """A `Subscription` on redis-py's pub/sub (memory://, cluster, Sentinel)."""

    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    @classmethod
    async def open(cls, pubsub: PubSub, channels: list[str]) -> PubSubSubscription:
        try:
            await pubsub.subscribe(*channels)
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        return cls(pubsub)

    async def get(self, timeout_s: float) -> str | None:
        # redis-py hands an ignored message (a subscribe confirmation) back as None
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message and message.get("type") == "message":
                channel = message["channel"]
                return channel.decode() if isinstance(channel, bytes) else str(channel)
        return None

    async def aclose(self) -> None:
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


class AsyncClient:
    """Sends calls from async code; one per event loop."""

    # The lean transport of a plain Redis URL; None for memory:// and for the
    # cluster and sentinel clients, which send through redis-py.
    _wire: AsyncWire | None = None
    # redis-py's client, made when first asked for (see `redis`).
    _redis: AsyncRedis | None = None

    def __init__(self, url: str) -> None:
        check_url(url)
        self.url = url
        self._loaded = False
        # Times the scripts were loaded (see _load_once).
        self._loads = 0
        self._reloading = asyncio.Lock()
        if is_memory(url):
            import fakeredis.aioredis

            self._redis = fakeredis.aioredis.FakeRedis(server=_memory_server(url))
        elif (native := endpoint(url)) is not None:
            self._wire = AsyncWire(native)
        else:
            self._wire = AsyncWire(PoolEndpoint(self.redis.connection_pool))
        # memory:// only: most connections in use at once
        self._slots = asyncio.Semaphore(ASYNC_MAX_CONNECTIONS)

    @property
    def redis(self) -> AsyncRedis:
        """redis-py's client of the URL, made at first use: it serves pub/sub
        and plain commands for operators and tests (the calls go through the
        wire), and a worker on a plain URL does without it (see `_redis_errors`)."""
        if self._redis is None:
            import redis.asyncio

            # The pool is unbounded (redis-py's own raises at 100; its
            # blocking pool costs a timer per command).
            pool = redis.asyncio.ConnectionPool.from_url(self.url, max_connections=1 << 20)
            pool.connection_class = _hiredis_packing(pool.connection_class)
            self._redis = redis.asyncio.Redis(connection_pool=pool)
        return self._redis

    @redis.setter
    def redis(self, client: AsyncRedis) -> None:
        self._redis = client

    def __repr__(self) -> str:
        return f"AsyncClient({redact(self.url)!r})"

    async def load_scripts(self) -> None:
        """Load every script (at first use, and after Redis forgot them), so a
        pipeline never runs some scripts and bounces others (which would
        reorder it) and a broken script fails at once."""
        try:
            if self._wire is not None:
                _check_loaded(await self._wire.request_many(script_loads(), len(SCRIPT_NAMES)))
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for s in all_scripts():
                        pipe.script_load(s.source)
                    await pipe.execute()
        except rx.redis_error() as exc:
            raise BackendError(f"loading the scripts failed: {exc}") from exc
        self._loads += 1
        self._loaded = True

    async def run(self, call: Call[T]) -> T:
        """Send one call and decode its reply."""
        if not self._loaded:
            await self._load_once(self._loads)
        for attempt in range(1, _TRIES + 1):
            try:
                return call.decode(await self._send(call))
            except rx.connection_error() as exc:
                _give_up_unless_retryable(exc, [call], attempt)
        raise AssertionError("unreachable")

    async def _send(self, call: Call[Any]) -> Any:
        loads = self._loads
        try:
            return await self._evalsha(call)
        except rx.no_script_error():
            await self._load_once(loads)
            return await self._evalsha(call)
        except rx.connection_error():
            raise
        except rx.redis_error() as exc:
            raise BackendError(f"{call.script.name}.lua: {type(exc).__name__}: {exc}") from exc

    async def _load_once(self, loads: int) -> None:
        """Load the scripts unless another caller did since `_loads` was `loads`
        (a thousand calls meeting NOSCRIPT together reload once)."""
        async with self._reloading:
            if self._loads == loads:
                await self.load_scripts()

    async def _evalsha(self, call: Call[Any]) -> Any:
        if self._wire is not None:
            return await self._wire.request(pack_evalsha(call))
        async with self._slots:
            return await _evalsha(self.redis, call)

    async def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Send several calls in one round trip (a pipeline, not a transaction)."""
        if len(calls) == 1:
            return [await self.run(calls[0])]
        if not self._loaded:
            await self._load_once(self._loads)
        for attempt in range(1, _TRIES + 1):
            try:
                replies = await self._evalsha_many(calls)
                break
            except rx.connection_error() as exc:
                _give_up_unless_retryable(exc, calls, attempt)
            except rx.redis_error() as exc:
                raise BackendError(f"{type(exc).__name__}: {exc}") from exc
        out = []
        for call, reply in zip(calls, replies, strict=True):
            if rx.is_no_script(reply):
                out.append(await self.run(call))  # it did not run: safe to send again
            else:
                out.append(_decoded(call, reply))
        return out

    async def _evalsha_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """The replies of `calls`, reply errors in place."""
        if self._wire is not None:
            commands = b"".join([pack_evalsha(call) for call in calls])
            return await self._wire.request_many(commands, len(calls))
        async with self._slots, self.redis.pipeline(transaction=False) as pipe:
            for call in calls:
                _evalsha(pipe, call)
            return await pipe.execute(raise_on_error=False)

    def pubsub(self) -> PubSub:
        """A pub/sub connection, not yet subscribed."""
        return self.redis.pubsub(ignore_subscribe_messages=True)

    async def subscribe(self, channels: list[str]) -> Subscription:
        """A connection subscribed to `channels` (the worker's wake-up
        listener): lean on a plain URL, redis-py's pub/sub otherwise."""
        if self._wire is not None:
            return await self._wire.subscribe(channels)
        return await PubSubSubscription.open(self.pubsub(), channels)

    async def smembers(self, key: str) -> set[bytes | str]:
        """The members of the set `key`; `BackendError` if Redis fails."""
        with map_redis_errors():
            if self._wire is not None:
                return set(await self._wire.request(pack("SMEMBERS", key)))
            return await self.redis.smembers(key)

    async def command(self, *args: str | bytes | int) -> Any:
        """One plain command's reply, as redis-py returns it with
        decode_responses off (a reply error is raised, a redis-py exception)."""
        if self._wire is not None:
            return await self._wire.request(pack(*args))
        return await self.redis.execute_command(*args)  # type: ignore[no-untyped-call]

    async def config_get(self) -> Any:
        """CONFIG GET *: a dict, or a dict per node for a cluster client (a
        reply error is raised, a redis-py exception)."""
        if self._wire is not None:
            flat = await self._wire.request(pack("CONFIG", "GET", "*"))
            return dict(zip(flat[::2], flat[1::2], strict=True))
        return await self.redis.config_get("*")

    async def commands(self, *commands: tuple[str | bytes | int, ...]) -> list[Any]:
        """Several plain commands in one round trip (a pipeline, not a
        transaction); `BackendError` if Redis fails."""
        with map_redis_errors():
            if self._wire is not None:
                packed = b"".join(pack(*c) for c in commands)
                return [_raised(r) for r in await self._wire.request_many(packed, len(commands))]
            async with self.redis.pipeline(transaction=False) as pipe:
                for c in commands:
                    pipe.execute_command(*c)
                return await pipe.execute()

    def parker(self) -> Parker | None:
        """Blocking pops on a connection of their own, for a worker standing
        ready for hand-offs: on a plain URL only (None elsewhere: the worker
        does not park there, and enqueues never hand off to it)."""
        return None if self._wire is None else self._wire.parker()

    async def aclose(self) -> None:
        if self._wire is not None:
            await self._wire.aclose()
        if self._redis is not None:
            # the pool was passed in, so redis-py would leave its connections open
            await self._redis.aclose(close_connection_pool=True)
