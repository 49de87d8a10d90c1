"""Backoff strategies: rexecutor's formulas, order of max / jitter / min."""

from __future__ import annotations

import random

import pytest

from rtask import ConfigError, backoff
from rtask._backoff import WEEK_S, to_backoff


def test_default_is_four_to_the_attempt_capped_at_a_week_with_ten_percent_jitter() -> None:
    random.seed(1)
    for attempt, base in [(1, 4.0), (2, 16.0), (3, 64.0), (5, 1024.0)]:
        delays = [backoff.DEFAULT(attempt) for _ in range(200)]
        assert all(0.9 * base <= d <= 1.1 * base for d in delays)
        assert max(delays) - min(delays) > 0.1 * base  # the jitter is there
    late = [backoff.DEFAULT(30) for _ in range(200)]  # 4**30 s is far past a week
    assert all(0.9 * WEEK_S <= d <= 1.1 * WEEK_S for d in late)


def test_strategies_without_jitter() -> None:
    assert [backoff.constant(3)(a) for a in (1, 2, 9)] == [3.0, 3.0, 3.0]
    assert [backoff.linear(2)(a) for a in (1, 2, 3)] == [2.0, 4.0, 6.0]
    assert [backoff.polynomial(1, 2)(a) for a in (1, 2, 3)] == [1.0, 4.0, 9.0]
    assert [backoff.exponential(2)(a) for a in (1, 2, 3)] == [2.0, 4.0, 8.0]


def test_max_caps_the_value_min_is_applied_last() -> None:
    capped = backoff.exponential(10).with_max(50)
    assert [capped(a) for a in (1, 2, 3)] == [10.0, 50.0, 50.0]
    floored = backoff.linear(1).with_min(5)
    assert [floored(a) for a in (1, 7)] == [5.0, 7.0]
    # a huge exponent saturates instead of overflowing
    assert backoff.exponential(4).with_max(60)(10_000) == 60.0


def test_absolute_jitter_stays_within_its_spread() -> None:
    random.seed(2)
    jittered = backoff.constant(10).with_jitter(absolute=1)
    values = [jittered(1) for _ in range(200)]
    assert all(9.0 <= v <= 11.0 for v in values)
    assert len(set(values)) > 100


def test_to_backoff_accepts_seconds_callables_and_strategies() -> None:
    assert to_backoff(2)(5) == 2.0
    assert to_backoff(lambda attempt: attempt * 0.5)(4) == 2.0
    strategy = backoff.linear(3)
    assert to_backoff(strategy) is strategy
    assert to_backoff(None) is backoff.DEFAULT


@pytest.mark.parametrize("bad", [True, "5", object()])
def test_a_backoff_that_is_no_number_callable_or_strategy_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError):
        to_backoff(bad)  # type: ignore[arg-type]


def test_negative_seconds_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        backoff.constant(-1)
    with pytest.raises(ConfigError):
        backoff.exponential(2).with_max(-5)
