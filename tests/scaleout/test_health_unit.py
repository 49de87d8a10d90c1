"""The pure parts of the worker's startup checks."""

from __future__ import annotations

import pytest

from rtask import ConfigError
from rtask._worker._health import HealthConfig, _decoded, config_problems

SAFE = {"maxmemory-policy": "noeviction", "appendonly": "yes", "save": ""}


def test_a_safe_redis_has_no_problem() -> None:
    assert config_problems(SAFE) == []
    assert config_problems(SAFE | {"appendonly": "no", "save": "3600 1"}) == []  # RDB only


def test_eviction_and_no_persistence_are_problems() -> None:
    evicting = config_problems(SAFE | {"maxmemory-policy": "volatile-lru"})
    assert len(evicting) == 1 and "maxmemory-policy volatile-lru" in evicting[0]
    volatile = config_problems(SAFE | {"appendonly": "no", "save": " "})
    assert len(volatile) == 1 and "persistence off" in volatile[0]


def test_replies_are_decoded_per_node() -> None:
    """A cluster client's CONFIG GET reply is keyed by node: the first is taken."""
    plain = {b"maxmemory-policy": b"allkeys-lru", b"save": b""}
    assert _decoded(plain) == {"maxmemory-policy": "allkeys-lru", "save": ""}
    assert _decoded({"n1:7000": plain, "n2:7000": {}}) == _decoded(plain)


@pytest.mark.parametrize("port", [-1, 65536])
def test_bad_health_port(port: int) -> None:
    with pytest.raises(ConfigError):
        HealthConfig(port=port)
