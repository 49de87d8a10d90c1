"""Redis Cluster clients: the same calls as `_client`, routed by slot.

Every key of a queue carries the queue's hash tag, so each script call has
one slot and redis-py routes its EVALSHA by the first key. Pipelines split
per node. redis-py's own retries are off: a broken connection resends only
idempotent calls (as `_client` does); a refused call (CLUSTERDOWN, TRYAGAIN,
slot not covered) did not run and is resent whatever it is.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.client
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.backoff
import redis.cluster
import redis.exceptions
import redis.retry

from ._client import (
    _CLUSTER_SCHEMES,
    ASYNC_MAX_CONNECTIONS,
    AsyncClient,
    SyncClient,
    _decoded,
    _evalsha,
    check_url,
    redact,
)
from ._errors import BackendError, ConfigError
from ._protocol import Call
from ._scripts import all_scripts

T = TypeVar("T")


class ClusterURL:
    """`redis+cluster://[user:password@]host:port[,host:port…]/[0][?options]`.

    Every listed node is a seed; the credentials and query options (TLS
    settings, timeouts) apply to every node of the cluster, but rtask's own
    `failover_timeout_s` (default 30): how long a call the cluster refuses,
    or an idempotent call whose connection broke, keeps being resent while a
    replica takes over.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.scheme = _CLUSTER_SCHEMES[parts.scheme]
        userinfo, at, hosts = parts.netloc.rpartition("@")
        self._userinfo = userinfo + at
        query = parse_qsl(parts.query, keep_blank_values=True)
        own = dict(query)
        try:
            self.failover_timeout_s = float(own.get("failover_timeout_s", 30))
        except ValueError:
            raise ConfigError(f"bad failover_timeout_s in {redact(url)!r}") from None
        query = [(k, v) for k, v in query if k != "failover_timeout_s"]  # rtask's own option
        self._query = f"?{urlencode(query)}" if query else ""
        self.nodes: list[tuple[str, int]] = []
        self._netlocs: list[str] = []
        for item in hosts.split(","):
            netloc = item.strip()
            host, colon, port = netloc.rpartition(":")
            host = host.strip("[]")
            if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(
                    f"bad node {netloc!r} in cluster URL {redact(url)!r}: use host:port"
                )
            self.nodes.append((host, int(port)))
            self._netlocs.append(netloc)
        if parts.path not in ("", "/", "/0"):
            raise ConfigError(f"a Redis Cluster has only database 0: {redact(url)!r}")

    def node_url(self, index: int) -> str:
        """The plain URL of the listed node `index`, with the credentials and options."""
        return f"{self.scheme}://{self._userinfo}{self._netlocs[index]}/0{self._query}"

    def url_of(self, host: str, port: int) -> str:
        """The plain URL of any node of the cluster."""
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return f"{self.scheme}://{self._userinfo}{netloc}/0{self._query}"


# A cluster refused the command, so it did not run: any call may be sent again
# (after a failover, while a slot moves, before the cluster is formed).
_REFUSED = (
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
)
# A broken connection or a timeout: the reply is unknown.
_UNKNOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class _Patience:
    """When to send a call again while the cluster fails over: pauses of
    50 ms doubling to 1 s, until `timeout_s` after the first failure (redis-py
    refreshes the topology before the next send)."""

    def __init__(self, timeout_s: float) -> None:
        self._deadline = time.monotonic() + timeout_s
        self._pause_s = 0.05

    def pause(self, exc: Exception) -> float:
        """Seconds to wait before the next try; `BackendError` once out of time."""
        if time.monotonic() >= self._deadline:
            raise _cluster_error(exc) from exc
        pause, self._pause_s = self._pause_s, min(self._pause_s * 2, 1.0)
        return pause


def _check_resend(exc: Exception, calls: Sequence[Call[Any]]) -> None:
    """After a broken connection, only idempotent calls may be sent again."""
    if not all(call.idempotent for call in calls):
        raise _cluster_error(exc) from exc


def _cluster_error(exc: Exception) -> BackendError:
    return BackendError(f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- Redis Cluster


def _cluster_reply(call: Call[Any], reply: Any) -> Any:
    """The decoded reply of `call` from a cluster pipeline, or `_RESEND` when
    the call did not run (NOSCRIPT, refused) or ran unknown and may run again."""
    if isinstance(reply, (redis.exceptions.NoScriptError, *_REFUSED)):
        return _RESEND
    if isinstance(reply, _UNKNOWN):
        if call.idempotent:
            return _RESEND
        raise BackendError(f"{type(reply).__name__}: {reply}") from reply
    return _decoded(call, reply)


_RESEND = object()


class AsyncClusterClient(AsyncClient):
    """Sends calls to a Redis Cluster from async code; one per event loop.

    `redis` is a `redis.asyncio.RedisCluster`: keyed commands work as on one
    Redis, routed by their key's slot.
    """

    def __init__(self, url: str) -> None:
        check_url(url)
        self.url = url
        self._loaded = False
        self._seeds = ClusterURL(url)
        self.cluster = redis.asyncio.cluster.RedisCluster.from_url(
            self._seeds.node_url(0),
            startup_nodes=[
                redis.asyncio.cluster.ClusterNode(host, port)
                for host, port in self._seeds.nodes[1:]
            ],
            retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0),
        )
        self.redis = self.cluster  # type: ignore[assignment]
        self._slots = asyncio.Semaphore(ASYNC_MAX_CONNECTIONS)
        # The wake-up listener subscribes on one node (see pubsub()).
        self._pubsub_turn = 0
        self._pubsub_pools: dict[str, redis.asyncio.ConnectionPool] = {}

    def __repr__(self) -> str:
        return f"AsyncClusterClient({redact(self.url)!r})"

    async def load_scripts(self) -> None:
        """Load every script on every primary (SCRIPT LOAD goes to all of them)."""
        patience = _Patience(self._seeds.failover_timeout_s)
        while True:
            try:
                await asyncio.gather(*(self.cluster.script_load(s.source) for s in all_scripts()))
                break
            except (*_REFUSED, *_UNKNOWN) as exc:  # SCRIPT LOAD is idempotent
                await asyncio.sleep(patience.pause(exc))
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
                raise BackendError(f"loading the scripts failed: {exc}") from exc
        self._loaded = True

    async def run(self, call: Call[T]) -> T:
        """Send one call to the node of its slot and decode its reply."""
        if not self._loaded:
            await self.load_scripts()
        patience = _Patience(self._seeds.failover_timeout_s)
        for attempt in itertools.count(1):
            try:
                async with self._slots:
                    reply = await _evalsha(self.cluster, call)
                return call.decode(reply)
            except redis.exceptions.NoScriptError as exc:
                # A failover or SCRIPT FLUSH emptied that node's cache: it did
                # not run. Until the client knows the new primary, the load
                # may go to the old one: pause as for a refused call.
                if attempt > 1:
                    await asyncio.sleep(patience.pause(exc))
                await self.load_scripts()
            except _REFUSED as exc:  # it did not run
                await asyncio.sleep(patience.pause(exc))
            except _UNKNOWN as exc:
                _check_resend(exc, [call])
                await asyncio.sleep(patience.pause(exc))
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
                raise BackendError(f"{call.script.name}.lua: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    async def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Send several calls: redis-py sends one pipeline per node, concurrently."""
        if len(calls) == 1:
            return [await self.run(calls[0])]
        if not self._loaded:
            await self.load_scripts()
        patience = _Patience(self._seeds.failover_timeout_s)
        while True:
            try:
                async with self._slots, self.cluster.pipeline(transaction=False) as pipe:
                    for call in calls:
                        _evalsha(pipe, call)
                    replies = await pipe.execute(raise_on_error=False)
                break
            except _REFUSED as exc:  # raised before anything was sent
                await asyncio.sleep(patience.pause(exc))
            except _UNKNOWN as exc:
                _check_resend(exc, calls)
                await asyncio.sleep(patience.pause(exc))
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
                raise _cluster_error(exc) from exc
        out = []
        for call, reply in zip(calls, replies, strict=True):
            decoded = _cluster_reply(call, reply)
            out.append(await self.run(call) if decoded is _RESEND else decoded)
        return out

    def pubsub(self) -> redis.asyncio.client.PubSub:
        """A pub/sub connection to one node of the cluster.

        PUBLISH (what the scripts call) reaches every node of a cluster, so
        one subscription sees every queue. The node is the first primary in
        address order; each later call (the listener reconnecting after a
        failure) takes the next one.
        """
        names = sorted(node.name for node in self.cluster.get_primaries())
        if names:
            host, _, port = names[self._pubsub_turn % len(names)].rpartition(":")
            url = self._seeds.url_of(host.strip("[]"), int(port))
        else:  # the topology is not known yet: use the seeds as listed
            url = self._seeds.node_url(self._pubsub_turn % len(self._seeds.nodes))
        self._pubsub_turn += 1
        pool = self._pubsub_pools.get(url)
        if pool is None:
            pool = self._pubsub_pools[url] = redis.asyncio.ConnectionPool.from_url(url)
        return redis.asyncio.client.PubSub(pool, ignore_subscribe_messages=True)

    async def smembers(self, key: str) -> set[bytes | str]:
        """The members of the set `key`; `BackendError` if the cluster fails."""
        try:
            return await self.cluster.smembers(key)
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
            raise _cluster_error(exc) from exc

    async def aclose(self) -> None:
        pools, self._pubsub_pools = list(self._pubsub_pools.values()), {}
        for pool in pools:
            await pool.disconnect()
        await self.cluster.aclose()


class SyncClusterClient(SyncClient):
    """Sends calls to a Redis Cluster from sync code; thread-safe."""

    def __init__(self, url: str) -> None:
        check_url(url)
        self.url = url
        self._loaded = False
        self._seeds = seeds = ClusterURL(url)
        try:  # redis-py's sync cluster client reads the topology at once
            self.cluster = redis.cluster.RedisCluster.from_url(
                seeds.node_url(0),
                startup_nodes=[
                    redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]
                    for host, port in seeds.nodes[1:]
                ],
                retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
            )
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
            raise BackendError(f"connecting to {redact(url)} failed: {exc}") from exc
        self.redis = self.cluster  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SyncClusterClient({redact(self.url)!r})"

    def load_scripts(self) -> None:
        """Load every script on every primary (SCRIPT LOAD goes to all of them)."""
        patience = _Patience(self._seeds.failover_timeout_s)
        while True:
            try:
                for s in all_scripts():
                    self.cluster.script_load(s.source)
                break
            except (*_REFUSED, *_UNKNOWN) as exc:  # SCRIPT LOAD is idempotent
                time.sleep(patience.pause(exc))
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
                raise BackendError(f"loading the scripts failed: {exc}") from exc
        self._loaded = True

    def run(self, call: Call[T]) -> T:
        """Send one call to the node of its slot and decode its reply."""
        if not self._loaded:
            self.load_scripts()
        patience = _Patience(self._seeds.failover_timeout_s)
        for attempt in itertools.count(1):
            try:
                return call.decode(_evalsha(self.cluster, call))
            except redis.exceptions.NoScriptError as exc:  # as in AsyncClusterClient.run
                if attempt > 1:
                    time.sleep(patience.pause(exc))
                self.load_scripts()
            except _REFUSED as exc:
                time.sleep(patience.pause(exc))
            except _UNKNOWN as exc:
                _check_resend(exc, [call])
                time.sleep(patience.pause(exc))
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
                raise BackendError(f"{call.script.name}.lua: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Send several calls: redis-py sends one pipeline per node."""
        if len(calls) == 1:
            return [self.run(calls[0])]
        if not self._loaded:
            self.load_scripts()
        patience = _Patience(self._seeds.failover_timeout_s)
        while True:
            try:
                with self.cluster.pipeline(transaction=False) as pipe:  # type: ignore[no-untyped-call]
                    for call in calls:
                        _evalsha(pipe, call)
                    replies = pipe.execute(raise_on_error=False)
                break
            except _REFUSED as exc:
                time.sleep(patience.pause(exc))
            except _UNKNOWN as exc:
                _check_resend(exc, calls)
                time.sleep(patience.pause(exc))
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
                raise _cluster_error(exc) from exc
        out = []
        for call, reply in zip(calls, replies, strict=True):
            decoded = _cluster_reply(call, reply)
            out.append(self.run(call) if decoded is _RESEND else decoded)
        return out

    def close(self) -> None:
        self.cluster.close()
