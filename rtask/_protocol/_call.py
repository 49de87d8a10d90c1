"""The script call every stage builds (`Call`), batching, and the argument and
reply helpers the stages share. No Lua file of its own: each `Call` names one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .._scripts import Script

T = TypeVar("T")
_EMPTY = b""


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One script call to send (EVALSHA), and the decoder of its reply."""

    script: Script
    keys: Sequence[str | bytes]
    args: Sequence[str | bytes | int | float]
    decode: Callable[[Any], T]
    # Safe to send again when the connection broke and the reply is unknown.
    # Every script is, but claim: a replayed claim would take jobs nobody runs
    # (they come back only when their lease expires).
    idempotent: bool = True
    # The EVALSHA command of this call in the Redis protocol, when a hot path
    # built it in advance (else it is packed when sent); equal to packing
    # script.sha, keys and args.
    packed: bytes | None = None


# Most jobs one claim, finish or heartbeat call handles: the scripts unpack
# id lists (two values per job at most) and Lua's unpack() takes ~8,000 values.
MAX_BATCH = 2000


def batches(items: Sequence[T], size: int = MAX_BATCH) -> list[Sequence[T]]:
    """`items` in slices of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def resp_bulks(*args: str | bytes | int) -> bytes:
    """`args` as the bulk strings of a Redis protocol command (its array
    header aside), as hiredis packs them."""
    out = []
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _now_arg(now_ms: int | None) -> str | int:
    return "" if now_ms is None else int(now_ms)


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
