"""What the wire's connections share (see `_wire`): commands packed by
hiredis (`pack`, `pack_evalsha`, the SCRIPT LOAD of every script) and the
raising of reply errors.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import hiredis

from . import _redis_errors
from ._protocol import Call
from ._scripts import all_scripts

_EVALSHA = b"EVALSHA"
# Bytes asked of the socket at a time.
_CHUNK = 1 << 16


def pack(*args: str | bytes | int | float) -> bytes:
    """One command in the Redis protocol; `DataError` for an argument of another type."""
    try:
        return hiredis.pack_command(args)  # type: ignore[arg-type,no-any-return]
    except TypeError as exc:
        raise _redis_errors.data_error(str(exc)) from exc


def pack_evalsha(call: Call[Any]) -> bytes:
    """The EVALSHA command of `call`."""
    if call.packed is not None:
        return call.packed
    return pack(_EVALSHA, call.script.sha, len(call.keys), *call.keys, *call.args)


@cache
def script_loads() -> bytes:
    """SCRIPT LOAD of every script, one command after the other."""
    return b"".join(pack("SCRIPT", "LOAD", s.source) for s in all_scripts())


def _raised(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply
