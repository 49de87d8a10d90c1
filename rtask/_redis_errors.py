"""redis-py's exception classes, for `except` clauses, without importing redis-py.

Importing redis-py costs a process 100–200 ms (it imports its asyncio client,
its cluster and auth modules, `importlib.metadata`), most of a worker's
start-up. On a plain URL the wire (`_wire`) connects and talks to Redis
without it, so a worker imports redis-py only once something goes wrong.

Invariant: an exception can be an instance of a redis-py class only if
redis-py is imported. So each function here returns its class while
redis-py is imported and an empty tuple before, which no exception matches;
an `except connection_error():` clause costs a dict lookup, and only when
an exception reaches it. `imported()` is what raises and parses those errors
(the wire's reply errors, its broken connections): it imports redis-py at
that moment.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.exceptions import (
        AuthenticationError,
        ConnectionError,
        DataError,
        NoScriptError,
        RedisClusterException,
        RedisError,
    )

_NONE: tuple[Any, ...] = ()


def imported() -> ModuleType:
    """`redis.exceptions`, imported now if it was not."""
    import redis.exceptions

    return redis.exceptions


def _loaded() -> ModuleType | None:
    return sys.modules.get("redis.exceptions")


def redis_error() -> tuple[type[RedisError], ...]:
    """`RedisError` once redis-py is imported, else ()."""
    module = _loaded()
    return _NONE if module is None else (module.RedisError,)


def connection_error() -> tuple[type[ConnectionError], ...]:
    """`ConnectionError` (redis-py's) once redis-py is imported, else ()."""
    module = _loaded()
    return _NONE if module is None else (module.ConnectionError,)


def no_script_error() -> tuple[type[NoScriptError], ...]:
    """`NoScriptError` once redis-py is imported, else ()."""
    module = _loaded()
    return _NONE if module is None else (module.NoScriptError,)


def authentication_error() -> tuple[type[AuthenticationError], ...]:
    """`AuthenticationError` once redis-py is imported, else ()."""
    module = _loaded()
    return _NONE if module is None else (module.AuthenticationError,)


def backend_failure() -> tuple[type[RedisError | RedisClusterException], ...]:
    """Every redis-py error a call can end in (`RedisError` and the cluster
    client's `RedisClusterException`) once redis-py is imported, else ()."""
    module = _loaded()
    return _NONE if module is None else (module.RedisError, module.RedisClusterException)


def is_no_script(reply: object) -> bool:
    """True if `reply` is a NOSCRIPT reply error (a pipeline's reply in place)."""
    return isinstance(reply, Exception) and isinstance(reply, no_script_error())


def data_error(message: str) -> DataError:
    """redis-py's `DataError` (an argument Redis cannot take)."""
    error: DataError = imported().DataError(message)
    return error


def lost(message: str) -> ConnectionError:
    """redis-py's `ConnectionError` (a connection broke: replies unknown)."""
    error: ConnectionError = imported().ConnectionError(message)
    return error


def timed_out(message: str) -> ConnectionError:
    """redis-py's `TimeoutError` (a `ConnectionError`: no reply in time)."""
    error: ConnectionError = imported().TimeoutError(message)
    return error


def invalid_response(message: str) -> RedisError:
    """redis-py's `InvalidResponse` (bytes that are no reply)."""
    error: RedisError = imported().InvalidResponse(message)
    return error


def reply_error(message: str) -> Exception:
    """redis-py's exception for an error reply (`NoScriptError`,
    `ResponseError`, `AuthenticationError`, ...), as its parsers map them."""
    from redis._parsers import BaseParser

    error: Exception = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    return error
