"""Backoff strategies: the delay before the next attempt, from the attempt that failed.

Computed as rexecutor does: `strategy(attempt)`, capped by `max`, then jitter,
then raised to `min`. The default is `exponential(4).with_max(7 days)` with
±10 % relative jitter: 4 s, 16 s, 64 s, … after attempts 1, 2, 3, …
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from ._errors import ConfigError

WEEK_S = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """A backoff strategy; call it with the attempt number (1-based) for seconds."""

    kind: str
    factor: float
    power: float = 1.0
    max_s: float | None = None
    min_s: float = 0.0
    jitter_relative: float = 0.0
    jitter_absolute_s: float = 0.0

    def raw(self, attempt: int) -> float:
        """The strategy's value for `attempt`, before max, jitter and min."""
        if self.kind == "constant":
            return self.factor
        if self.kind == "linear":
            return self.factor * attempt
        if self.kind == "polynomial":
            return float(self.factor * attempt**self.power)
        try:
            return float(self.factor**attempt)  # exponential
        except OverflowError:
            return float("inf")

    def __call__(self, attempt: int) -> float:
        value = self.raw(attempt)
        if self.max_s is not None:
            value = min(value, self.max_s)
        spread = value * self.jitter_relative + self.jitter_absolute_s
        if spread:
            value += random.uniform(-spread, spread)
        return max(value, self.min_s, 0.0)

    def with_max(self, seconds: float) -> Backoff:
        """Cap the strategy's value (jitter may still exceed it by its spread)."""
        return replace(self, max_s=_non_negative("max", seconds))

    def with_min(self, seconds: float) -> Backoff:
        """Never return less than `seconds` (applied last)."""
        return replace(self, min_s=_non_negative("min", seconds))

    def with_jitter(self, *, relative: float = 0.0, absolute: float = 0.0) -> Backoff:
        """Add uniform jitter: ±`relative` × value, plus ±`absolute` seconds."""
        return replace(
            self,
            jitter_relative=_non_negative("relative jitter", relative),
            jitter_absolute_s=_non_negative("absolute jitter", absolute),
        )


def _non_negative(what: str, value: float) -> float:
    if not value >= 0:
        raise ConfigError(f"backoff {what} must be >= 0, got {value!r}")
    return float(value)


def constant(seconds: float) -> Backoff:
    """The same delay after every attempt."""
    return Backoff("constant", _non_negative("delay", seconds))


def linear(factor_s: float) -> Backoff:
    """`factor_s × attempt` seconds."""
    return Backoff("linear", _non_negative("factor", factor_s))


def polynomial(factor_s: float, power: float) -> Backoff:
    """`factor_s × attempt ** power` seconds."""
    return Backoff("polynomial", _non_negative("factor", factor_s), _non_negative("power", power))


def exponential(base_s: float) -> Backoff:
    """`base_s ** attempt` seconds (base 4: 4, 16, 64, 256 s …)."""
    return Backoff("exponential", _non_negative("base", base_s))


DEFAULT = exponential(4).with_max(WEEK_S).with_jitter(relative=0.1)

BackoffLike = float | int | Callable[[int], float] | Backoff


def to_backoff(value: BackoffLike | None) -> Callable[[int], float]:
    """A callable `attempt -> seconds` from a number, a callable or a strategy."""
    if value is None:
        return DEFAULT
    if isinstance(value, bool):
        raise ConfigError("backoff must be seconds, a callable or a strategy, not a bool")
    if isinstance(value, int | float):
        return constant(value)
    if callable(value):
        return value
    raise ConfigError(f"backoff must be seconds, a callable or a strategy, not {value!r}")
