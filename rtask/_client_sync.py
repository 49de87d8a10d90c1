"""The sync client (see `_client`): `SyncClient`, for sync code in any thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

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
from ._errors import BackendError
from ._protocol import Call
from ._scripts import SCRIPT_NAMES, all_scripts
from ._wire import SyncWire, pack_evalsha, script_loads
from ._wire_connect import PoolEndpoint, endpoint

if TYPE_CHECKING:
    from redis import Redis

T = TypeVar("T")


class SyncClient:
    """Sends calls from sync code (Django, Flask, scripts); thread-safe."""

    # The lean transport of a plain Redis URL (see AsyncClient._wire).
    _wire: SyncWire | None = None
    # redis-py's client, made when first asked for (see `redis`).
    _redis: Redis | None = None

    def __init__(self, url: str) -> None:
        check_url(url)
        self.url = url
        self._loaded = False
        if is_memory(url):
            import fakeredis

            self._redis = fakeredis.FakeRedis(server=_memory_server(url))
        elif (native := endpoint(url)) is not None:
            self._wire = SyncWire(native)
        else:
            self._wire = SyncWire(PoolEndpoint(self.redis.connection_pool))

    @property
    def redis(self) -> Redis:
        """redis-py's client of the URL, made at first use (see AsyncClient.redis)."""
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.url)
        return self._redis

    @redis.setter
    def redis(self, client: Redis) -> None:
        self._redis = client

    def __repr__(self) -> str:
        return f"SyncClient({redact(self.url)!r})"

    def load_scripts(self) -> None:
        """Load every script (see AsyncClient.load_scripts)."""
        try:
            if self._wire is not None:
                _check_loaded(self._wire.request_many(script_loads(), len(SCRIPT_NAMES)))
            else:
                with self.redis.pipeline(transaction=False) as pipe:
                    for s in all_scripts():
                        pipe.script_load(s.source)
                    pipe.execute()
        except rx.redis_error() as exc:
            raise BackendError(f"loading the scripts failed: {exc}") from exc
        self._loaded = True

    def run(self, call: Call[T]) -> T:
        """Send one call and decode its reply."""
        if not self._loaded:
            self.load_scripts()
        for attempt in range(1, _TRIES + 1):
            try:
                return call.decode(self._send(call))
            except rx.connection_error() as exc:
                _give_up_unless_retryable(exc, [call], attempt)
        raise AssertionError("unreachable")

    def _send(self, call: Call[Any]) -> Any:
        try:
            return self._evalsha(call)
        except rx.no_script_error():
            self.load_scripts()
            return self._evalsha(call)
        except rx.connection_error():
            raise
        except rx.redis_error() as exc:
            raise BackendError(f"{call.script.name}.lua: {type(exc).__name__}: {exc}") from exc

    def _evalsha(self, call: Call[Any]) -> Any:
        if self._wire is not None:
            return self._wire.request(pack_evalsha(call))
        return _evalsha(self.redis, call)

    def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Send several calls in one round trip (a pipeline, not a transaction)."""
        if len(calls) == 1:
            return [self.run(calls[0])]
        if not self._loaded:
            self.load_scripts()
        for attempt in range(1, _TRIES + 1):
            try:
                replies = self._evalsha_many(calls)
                break
            except rx.connection_error() as exc:
                _give_up_unless_retryable(exc, calls, attempt)
            except rx.redis_error() as exc:
                raise BackendError(f"{type(exc).__name__}: {exc}") from exc
        return [
            self.run(call)  # NOSCRIPT: it did not run, safe to send again
            if rx.is_no_script(reply)
            else _decoded(call, reply)
            for call, reply in zip(calls, replies, strict=True)
        ]

    def _evalsha_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """The replies of `calls`, reply errors in place."""
        if self._wire is not None:
            commands = b"".join([pack_evalsha(call) for call in calls])
            return self._wire.request_many(commands, len(calls))
        with self.redis.pipeline(transaction=False) as pipe:
            for call in calls:
                _evalsha(pipe, call)
            return pipe.execute(raise_on_error=False)

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
        if self._redis is not None:
            self._redis.close()
