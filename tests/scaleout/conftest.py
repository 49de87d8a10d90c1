"""Fixtures of the scale-out tests.

sentinel_set   function  a primary, a replica and three sentinels (tests kill the primary)
record_server  session   a plain Redis where the tasks record their runs (no failover)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._redis_server import RedisServer
from tests.scaleout._topology import SentinelSet


@pytest.fixture
def sentinel_set(tmp_path: Path) -> Iterator[SentinelSet]:
    topology = SentinelSet(tmp_path / "sentinel")
    try:
        yield topology.start()
    finally:
        topology.close()


@pytest.fixture(scope="session")
def record_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(dir=tmp_path_factory.mktemp("record")).start()
    try:
        yield server
    finally:
        server.close()
