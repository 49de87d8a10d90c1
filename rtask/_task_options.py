"""Per-job options of a task (`Task.options`): `EnqueueOptions`, their limits
and the checks both `Task` and `BoundTask` apply to them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from ._errors import InvalidInput
from ._unique import Unique

PRIORITY_MIN, PRIORITY_MAX = -1000, 1000
MAX_ATTEMPTS_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class EnqueueOptions:
    """Per-job options; None means the task's default."""

    delay_s: float | None = None
    at: datetime | None = None
    priority: int | None = None
    tags: tuple[str, ...] = ()
    id: str | None = None
    max_attempts: int | None = None
    timeout_s: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    unique: Unique | None = None


def _check_int(what: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _check_seconds(what: str, value: float | None, *, positive: bool) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise InvalidInput(f"{what} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


_OPTION_FIELDS = {"delay": "delay_s", "timeout": "timeout_s"}


def renamed_options(opts: EnqueueOptions, changes: Mapping[str, Any]) -> EnqueueOptions:
    """`opts` with `changes` given as `Task.options` keywords (not checked yet)."""
    renamed = {_OPTION_FIELDS.get(k, k): v for k, v in changes.items()}
    if "tags" in renamed:
        renamed["tags"] = tuple(renamed["tags"])
    for name in ("labels", "metadata"):
        if name in renamed:
            renamed[name] = dict(renamed[name] or {})
    try:
        return replace(opts, **renamed)
    except TypeError as exc:
        raise InvalidInput(f"unknown option: {exc}") from None


def _check_labels(labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise InvalidInput(f"labels map non-empty strings to strings, got {key!r}: {value!r}")
        if "\0" in key or "\0" in value:
            raise InvalidInput(f"label {key!r} holds a NUL character")


def _check_metadata(metadata: Mapping[str, Any]) -> None:
    for key in metadata:
        if not isinstance(key, str):
            raise InvalidInput(f"metadata keys are strings, got {key!r}")
    try:
        orjson.dumps(dict(metadata))
    except TypeError as exc:
        raise InvalidInput(f"metadata must be JSON values: {exc}") from None
