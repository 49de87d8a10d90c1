"""Shared fixtures.

redis_server      session  the Redis every test shares (private, or RTASK_TEST_REDIS_URL)
own_redis_server  function a private Redis a test may stop/kill/restart
redis_url         session  URL of redis_server
prefix            function unique key prefix, e.g. "rtest-1a2b3c4d"
backend_url       function parametrized: the redis_url, or "memory://<unique name>"
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._redis_server import ExternalRedis, RedisServer, RedisServerError, unique_prefix

EXTERNAL_URL_ENV = "RTASK_TEST_REDIS_URL"


def pytest_configure(config: pytest.Config) -> None:
    """Fail fast on a bad RTASK_TEST_REDIS_URL (e.g. the system Redis on 6379)."""
    external = os.environ.get(EXTERNAL_URL_ENV)
    if external:
        try:
            ExternalRedis(external)
        except RedisServerError as exc:
            raise pytest.UsageError(f"{EXTERNAL_URL_ENV}: {exc}") from None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | ExternalRedis]:
    """Session-wide Redis. Isolate data with `prefix`; never flush it.

    With RTASK_TEST_REDIS_URL set, that server is used and nothing is started;
    its stop()/kill()/start() raise, so tests that need them use own_redis_server.
    """
    external = os.environ.get(EXTERNAL_URL_ENV)
    if external:
        yield ExternalRedis(external)
        return
    server = RedisServer(dir=tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis for this test only, safe to stop(), kill() and start()."""
    server = RedisServer(dir=tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer | ExternalRedis) -> str:
    return redis_server.url


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture(params=["redis", "memory"], ids=["redis", "memory"])
def backend_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on real Redis and once on the in-memory backend."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return f"memory://{unique_prefix('rtest-mem')}"
