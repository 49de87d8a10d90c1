"""Concurrency permits of a capped task on a sharded queue (permit.lua).

A task's cap is counted by claim.lua in one queue's `active` hash; a sharded
queue has K of them. So the workers claim a capped task's jobs on a sharded
queue only with permits: tokens in the home shard's `permits:<task>` zset,
at most `cap` of them alive, one per job held (see `_worker/_permits.py`).
This module builds the calls; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._keys import QueueKeys
from ._protocol import Call
from ._scripts import script


def _tokens(reply: list[Any]) -> list[str]:
    return [t.decode() if isinstance(t, bytes) else str(t) for t in reply[1:]]


def _permit(
    keys: QueueKeys, task: str, op: str, cap: int, ttl_ms: int, tokens: Sequence[str], now: Any
) -> Call[list[str]]:
    args: list[str | bytes | int | float] = ["" if now is None else int(now), op, cap, ttl_ms]
    args += tokens
    return Call(script("permit"), [keys.permits(task)], args, _tokens)


def acquire_permits(
    keys: QueueKeys,
    task: str,
    *,
    cap: int,
    ttl_ms: int,
    tokens: Sequence[str],
    now_ms: int | None = None,
) -> Call[list[str]]:
    """Ask for `tokens` of `task` (in the home shard `keys`); the reply is
    those granted, as many as `cap` leaves room for. Safe to replay: a token
    already held is granted again without taking more room."""
    return _permit(keys, task, "acquire", cap, ttl_ms, tokens, now_ms)


def renew_permits(
    keys: QueueKeys, task: str, *, ttl_ms: int, tokens: Sequence[str], now_ms: int | None = None
) -> Call[list[str]]:
    """Extend `tokens` by `ttl_ms`; the reply is the tokens no longer held."""
    return _permit(keys, task, "renew", 0, ttl_ms, tokens, now_ms)


def release_permits(
    keys: QueueKeys, task: str, *, tokens: Sequence[str], now_ms: int | None = None
) -> Call[list[str]]:
    """Give `tokens` back (the reply is empty)."""
    return _permit(keys, task, "release", 0, 0, tokens, now_ms)
