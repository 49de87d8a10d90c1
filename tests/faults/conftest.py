"""Fixtures of the fault tests: a Harness per test, its worker processes killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults._harness import Harness


@pytest.fixture
def harness(redis_url: str, prefix: str, tmp_path: Path) -> Iterator[Harness]:
    """Workers and an App on the session's redis-server, under this test's prefix."""
    h = Harness(redis_url, prefix, tmp_path)
    try:
        yield h
    finally:
        h.close()
