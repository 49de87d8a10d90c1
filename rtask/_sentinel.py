"""Redis Sentinel clients: the same calls as `_client`, sent to the current primary.

    redis+sentinel://[user:password@]host:port[,host:port…]/[db]?service_name=mymaster
    rediss+sentinel://…   (TLS to the sentinels and to the Redis servers)

The listed hosts are sentinels; `service_name` (required) is the name they
monitor. The credentials and the redis-py options of the query (timeouts,
`ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_cert_reqs`, …) apply to
the Redis servers and, but for the credentials, to the sentinels too. rtask's
own options:

    sentinel_username, sentinel_password   credentials of the sentinels themselves
    failover_timeout_s   how long an idempotent call keeps being resent while the
                         sentinels elect a new primary (default 30)
    wait_replicas, wait_timeout_ms   after every call, WAIT until that many
                         replicas have its writes (default 0: no WAIT); fewer
                         within the timeout is a `BackendError`, the call has
                         run on the primary but a failover may lose it

Every connection asks the sentinels for the primary's address (redis-py's
`master_for`), so once a broken connection is dropped the next one reaches
the new primary; a demoted primary answering READONLY is dropped the same
way. The resend rule of `_client` holds: after a broken connection only
idempotent calls are sent again (claim is not: its jobs come back when their
lease expires), here with a pause and until `failover_timeout_s`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.backoff
import redis.connection
import redis.exceptions
import redis.retry
import redis.sentinel

from ._client import ASYNC_MAX_CONNECTIONS, AsyncClient, SyncClient, _decoded, _evalsha, redact
from ._client_shared import SENTINEL_SCHEMES
from ._errors import BackendError, ConfigError
from ._protocol import Call
from ._scripts import all_scripts

T = TypeVar("T")


# A broken connection or a timeout: the reply is unknown.
_UNKNOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# Stands for the reply of a call that did not run (NOSCRIPT).
_NOT_RUN = object()
# Pauses between resends while the sentinels elect a new primary.
_FIRST_PAUSE_S = 0.05
_MAX_PAUSE_S = 1.0


class SentinelURL:
    """A parsed Sentinel URL (see the module docstring); `ConfigError` if malformed."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        shown = redact(url)
        self.tls = SENTINEL_SCHEMES[parts.scheme]
        userinfo, _, hosts = parts.netloc.rpartition("@")
        self.sentinels: list[tuple[str, int]] = []
        for item in hosts.split(","):
            host, colon, port = item.strip().rpartition(":")
            host = host.strip("[]")
            if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"bad sentinel {item!r} in {shown!r}: use host:port")
            self.sentinels.append((host, int(port)))
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ConfigError(f"bad database {path!r} in {shown!r}: use a number")
        query = dict(parse_qsl(parts.query))
        self.service_name = query.pop("service_name", "")
        if not self.service_name:
            raise ConfigError(f"{shown!r} needs ?service_name=<the name the sentinels monitor>")
        sentinel_auth = {
            key[len("sentinel_") :]: query.pop(key)
            for key in ("sentinel_username", "sentinel_password")
            if key in query
        }
        try:
            self.failover_timeout_s = float(query.pop("failover_timeout_s", 30))
            self.wait_replicas = int(query.pop("wait_replicas", 0))
            self.wait_timeout_ms = int(query.pop("wait_timeout_ms", 1000))
        except ValueError as exc:
            raise ConfigError(f"bad option in {shown!r}: {exc}") from None
        if self.failover_timeout_s < 0 or self.wait_replicas < 0 or self.wait_timeout_ms < 0:
            raise ConfigError(f"negative option in {shown!r}")
        # redis-py parses its own options (types of timeouts, flags …).
        options = redis.connection.parse_url(f"redis://localhost/?{urlencode(query)}")  # type: ignore[no-untyped-call]
        options.pop("host", None)
        if self.tls:
            options["ssl"] = True
        self.sentinel_kwargs: dict[str, Any] = {**options, **sentinel_auth}
        self.server_kwargs: dict[str, Any] = dict(options)
        self.server_kwargs["db"] = int(path or 0)
        user, colon, password = userinfo.partition(":")
        if user:
            self.server_kwargs["username"] = unquote(user)
        if colon and password:
            self.server_kwargs["password"] = unquote(password)


def _unknown(exc: Exception, calls: Sequence[Call[Any]], deadline: float) -> BackendError | None:
    """The error to raise after a broken connection, or None to resend the calls."""
    if all(call.idempotent for call in calls) and time.monotonic() < deadline:
        return None
    return BackendError(f"{type(exc).__name__}: {exc}")


def _replies(calls: Sequence[Call[Any]], raw: list[Any], wait: int) -> list[Any]:
    """The decoded replies (`_NOT_RUN` where NOSCRIPT); `BackendError` if
    WAIT saw fewer replicas than asked."""
    if wait:
        acked = raw.pop()
        if isinstance(acked, Exception) or int(acked) < wait:
            raise BackendError(
                f"only {acked} of {wait} replicas confirmed the write in time: "
                "it ran on the primary, a failover may lose it"
            )
    return [
        _NOT_RUN if isinstance(reply, redis.exceptions.NoScriptError) else _decoded(call, reply)
        for call, reply in zip(calls, raw, strict=True)
    ]


def _not_run(calls: Sequence[Call[Any]], replies: list[Any]) -> list[Call[Any]]:
    return [call for call, reply in zip(calls, replies, strict=True) if reply is _NOT_RUN]


class AsyncSentinelClient(AsyncClient):
    """Sends calls from async code to the primary the sentinels name; one per event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loaded = False
        self.config = SentinelURL(url)
        # a sentinel that does not answer is skipped at once (the others are asked)
        no_retry = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0)
        self.sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            self.config.sentinels,
            sentinel_kwargs={**self.config.sentinel_kwargs, "retry": no_retry},
        )
        self.redis = self.sentinel.master_for(
            self.config.service_name,
            redis_class=redis.asyncio.Redis,
            retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0),
            **self.config.server_kwargs,
        )
        self._slots = asyncio.Semaphore(ASYNC_MAX_CONNECTIONS)

    def __repr__(self) -> str:
        return f"AsyncSentinelClient({redact(self.url)!r})"

    async def load_scripts(self) -> None:
        """Load every script on the current primary (raw redis-py errors: the
        caller decides whether to resend)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in all_scripts():
                pipe.script_load(s.source)
            await pipe.execute()
        self._loaded = True

    async def run(self, call: Call[T]) -> T:
        """Send one call and decode its reply."""
        reply: T = (await self.run_many([call]))[0]
        return reply

    async def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Send several calls in one round trip, resending while the primary fails over."""
        deadline = time.monotonic() + self.config.failover_timeout_s
        pause = _FIRST_PAUSE_S
        while True:
            try:
                if not self._loaded:
                    await self.load_scripts()
                out = await self._send_all(calls)
                break
            except _UNKNOWN as exc:
                error = _unknown(exc, calls, deadline)
                if error is not None:
                    raise error from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE_S)
            except redis.exceptions.RedisError as exc:
                raise BackendError(f"{type(exc).__name__}: {exc}") from exc
        if any(reply is _NOT_RUN for reply in out):  # NOSCRIPT (a new primary): they did not run
            self._loaded = False
            again = iter(await self.run_many(_not_run(calls, out)))
            out = [next(again) if reply is _NOT_RUN else reply for reply in out]
        return out

    async def _send_all(self, calls: Sequence[Call[Any]]) -> list[Any]:
        wait = self.config.wait_replicas
        async with self._slots, self.redis.pipeline(transaction=False) as pipe:
            for call in calls:
                _evalsha(pipe, call)
            if wait:
                pipe.execute_command("WAIT", wait, self.config.wait_timeout_ms)
            raw = await pipe.execute(raise_on_error=False)
        return _replies(calls, raw, wait)


class SyncSentinelClient(SyncClient):
    """Sends calls from sync code to the primary the sentinels name; thread-safe."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loaded = False
        self.config = SentinelURL(url)
        no_retry = redis.retry.Retry(redis.backoff.NoBackoff(), 0)
        self.sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            self.config.sentinels,
            sentinel_kwargs={**self.config.sentinel_kwargs, "retry": no_retry},
        )
        self.redis = self.sentinel.master_for(  # type: ignore[no-untyped-call]
            self.config.service_name,
            retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
            **self.config.server_kwargs,
        )

    def __repr__(self) -> str:
        return f"SyncSentinelClient({redact(self.url)!r})"

    def load_scripts(self) -> None:
        """Load every script on the current primary (raw redis-py errors)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for s in all_scripts():
                pipe.script_load(s.source)
            pipe.execute()
        self._loaded = True

    def run(self, call: Call[T]) -> T:
        """Send one call and decode its reply."""
        reply: T = self.run_many([call])[0]
        return reply

    def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Send several calls in one round trip, resending while the primary fails over."""
        deadline = time.monotonic() + self.config.failover_timeout_s
        pause = _FIRST_PAUSE_S
        while True:
            try:
                if not self._loaded:
                    self.load_scripts()
                out = self._send_all(calls)
                break
            except _UNKNOWN as exc:
                error = _unknown(exc, calls, deadline)
                if error is not None:
                    raise error from exc
                time.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE_S)
            except redis.exceptions.RedisError as exc:
                raise BackendError(f"{type(exc).__name__}: {exc}") from exc
        if any(reply is _NOT_RUN for reply in out):  # NOSCRIPT (a new primary): they did not run
            self._loaded = False
            again = iter(self.run_many(_not_run(calls, out)))
            out = [next(again) if reply is _NOT_RUN else reply for reply in out]
        return out

    def _send_all(self, calls: Sequence[Call[Any]]) -> list[Any]:
        wait = self.config.wait_replicas
        with self.redis.pipeline(transaction=False) as pipe:
            for call in calls:
                _evalsha(pipe, call)
            if wait:
                pipe.execute_command("WAIT", wait, self.config.wait_timeout_ms)  # type: ignore[no-untyped-call]
            raw = pipe.execute(raise_on_error=False)
        return _replies(calls, raw, wait)
