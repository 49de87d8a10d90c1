"""What the clients share (see `_client`): the URL checks (`check_url`,
`is_memory`, `is_cluster`, `redact`), the in-process servers of
memory://, EVALSHA through redis-py, and the error and retry rules.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from ._errors import BackendError, ConfigError
from ._protocol import Call

if TYPE_CHECKING:
    from redis.exceptions import ConnectionError as RedisConnectionError

T = TypeVar("T")

_memory_servers: dict[str, Any] = {}
_memory_lock = threading.Lock()


def is_memory(url: str) -> bool:
    """True for the embedded `memory://` mode."""
    return url.startswith("memory://")


def _memory_server(url: str) -> Any:
    import fakeredis

    name = url[len("memory://") :] or "default"
    with _memory_lock:
        server = _memory_servers.get(name)
        if server is None:
            server = _memory_servers[name] = fakeredis.FakeServer()
        return server


# Cluster URL schemes → the scheme of one node's URL.
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster(url: str) -> bool:
    """True for a Redis Cluster URL (`redis+cluster://` or `rediss+cluster://`)."""
    return urlsplit(url).scheme in _CLUSTER_SCHEMES


# Sentinel URL schemes → whether they speak TLS.
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}


def is_sentinel(url: str) -> bool:
    """True for a Sentinel URL (`redis+sentinel://` or `rediss+sentinel://`)."""
    return urlsplit(url).scheme in SENTINEL_SCHEMES


def check_url(url: str) -> None:
    """`ConfigError` unless `url` has a scheme rtask can connect to."""
    scheme = urlsplit(url).scheme
    if scheme in _CLUSTER_SCHEMES:
        from ._cluster import ClusterURL

        ClusterURL(url)
        return
    if scheme in SENTINEL_SCHEMES:
        from ._sentinel import SentinelURL

        SentinelURL(url)
        return
    if scheme not in ("redis", "rediss", "unix", "memory"):
        raise ConfigError(
            f"unsupported URL scheme {scheme!r}: use redis://, rediss://, unix://, "
            "redis+cluster://, rediss+cluster://, redis+sentinel://, rediss+sentinel:// "
            "or memory://"
        )


# Query options that hold a secret (redis-py's and rtask's own).
_SECRET_OPTIONS = ("password", "sentinel_password", "ssl_password")


def redact(url: str) -> str:
    """The URL without its passwords (user info and query options), for logs and repr()."""
    parts = urlsplit(url)
    if parts.password is not None:
        userinfo, at, hosts = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        parts = parts._replace(netloc=f"{user}:***{at}{hosts}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key in _SECRET_OPTIONS for key, _ in query):
        hidden = [(key, "***" if key in _SECRET_OPTIONS else value) for key, value in query]
        parts = parts._replace(query=urlencode(hidden, safe="*/"))
    return parts.geturl()


def _evalsha(target: Any, call: Call[Any]) -> Any:
    """EVALSHA of `call` on a client or pipeline (async: returns an awaitable)."""
    return target.execute_command(
        "EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args
    )


# A broken connection is retried this many times in all (pooled connections
# go stale together when Redis restarts), for idempotent calls only.
_TRIES = 3


def _give_up_unless_retryable(
    exc: RedisConnectionError, calls: Sequence[Call[Any]], attempt: int
) -> None:
    if attempt >= _TRIES or not all(call.idempotent for call in calls):
        raise BackendError(f"{type(exc).__name__}: {exc}") from exc


def _check_loaded(replies: list[Any]) -> None:
    """Raise the first error among the replies of SCRIPT LOAD."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def _decoded(call: Call[T], reply: Any) -> T:
    if isinstance(reply, Exception):
        raise BackendError(f"{call.script.name}.lua failed: {reply}") from reply
    return call.decode(reply)
