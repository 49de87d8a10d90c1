"""The test infrastructure itself: private Redis servers and shared fixtures."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import redis

from tests._redis_server import (
    FORBIDDEN_PORT,
    ExternalRedis,
    RedisServer,
    RedisServerError,
    ping,
    unique_prefix,
)

PREFIX_RE = re.compile(r"^rtest-[0-9a-f]{8}$")


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def test_redis_server_answers_ping_on_its_own_port(
    redis_server: RedisServer | ExternalRedis,
) -> None:
    assert redis_server.url == f"redis://{redis_server.host}:{redis_server.port}/0"
    assert redis_server.port != FORBIDDEN_PORT
    r = client(redis_server.url)
    assert r.ping() is True
    info = r.info("server")
    assert info["tcp_port"] == redis_server.port
    if isinstance(redis_server, RedisServer):
        assert info["process_id"] == redis_server.pid
        assert r.config_get("save")["save"] == ""
        assert r.config_get("appendonly")["appendonly"] == "no"


def test_redis_url_fixture(redis_url: str, redis_server: RedisServer | ExternalRedis) -> None:
    assert redis_url == redis_server.url
    assert redis_url.startswith("redis")


def test_kill_then_start_comes_back_empty_on_same_port(
    own_redis_server: RedisServer, prefix: str
) -> None:
    srv = own_redis_server
    port, pid = srv.port, srv.pid
    assert pid is not None
    r = client(srv.url)
    r.set(f"{prefix}:k", "v")
    assert r.get(f"{prefix}:k") == b"v"

    srv.kill()
    assert not srv.running
    assert srv.pid is None
    assert not ping(srv.host, port)
    with pytest.raises(redis.ConnectionError):
        client(srv.url).ping()

    srv.start()
    assert srv.port == port
    assert srv.pid is not None and srv.pid != pid
    r2 = client(srv.url)
    assert r2.ping() is True
    assert r2.info("server")["tcp_port"] == port
    assert r2.get(f"{prefix}:k") is None  # no persistence: data is gone
    assert r2.dbsize() == 0


def test_stop_is_graceful_and_persists_nothing(own_redis_server: RedisServer, prefix: str) -> None:
    srv = own_redis_server
    client(srv.url).set(f"{prefix}:k", "v")
    srv.stop()
    assert not srv.running
    assert not ping(srv.host, srv.port)
    assert not (srv.dir / "dump.rdb").exists()
    srv.start()
    assert client(srv.url).exists(f"{prefix}:k") == 0
    srv.stop()
    srv.stop()  # idempotent
    srv.kill()


def test_own_redis_server_is_separate_from_session_server(
    own_redis_server: RedisServer, redis_server: RedisServer | ExternalRedis
) -> None:
    assert own_redis_server.port != redis_server.port
    assert own_redis_server.url != redis_server.url


def test_prefix_helper_values_differ(prefix: str) -> None:
    a, b = unique_prefix(), unique_prefix()
    assert a != b
    for value in (a, b, prefix):
        assert PREFIX_RE.match(value), value
    assert prefix not in (a, b)


_seen_prefixes: list[str] = []


@pytest.mark.parametrize("round_", [1, 2])
def test_prefix_fixture_differs_between_tests(prefix: str, round_: int) -> None:
    assert prefix not in _seen_prefixes
    _seen_prefixes.append(prefix)


def test_backend_url(backend_url: str, request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.id
    if kind == "redis":
        assert backend_url == request.getfixturevalue("redis_url")
        assert client(backend_url).ping() is True
    else:
        assert kind == "memory"
        assert re.match(r"^memory://rtest-mem-[0-9a-f]{8}$", backend_url)


def test_context_manager_starts_and_cleans_up() -> None:
    with RedisServer() as srv:
        assert srv.running and srv.pid is not None
        pid, directory = srv.pid, srv.dir
        assert srv.port != FORBIDDEN_PORT
        assert client(srv.url).ping() is True
    assert not srv.running
    assert not directory.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_start_failure_is_reported(tmp_path: Path) -> None:
    srv = RedisServer(dir=tmp_path, extra_args=["--no-such-option", "x"])
    with pytest.raises(RedisServerError, match="exited during start"):
        srv.start()
    assert not srv.running


def test_system_redis_is_refused() -> None:
    with pytest.raises(ValueError):
        RedisServer(port=FORBIDDEN_PORT)
    for url in ("redis://127.0.0.1:6379/0", "redis://localhost/0", "redis://localhost:6379"):
        with pytest.raises(RedisServerError, match="system Redis"):
            ExternalRedis(url)
    with pytest.raises(RedisServerError):
        ping("127.0.0.1", FORBIDDEN_PORT)


def test_external_redis_cannot_be_controlled() -> None:
    ext = ExternalRedis("redis://10.0.0.5:7000/1")
    assert (ext.host, ext.port, ext.pid) == ("10.0.0.5", 7000, None)
    for action in (ext.stop, ext.kill, ext.start):
        with pytest.raises(RedisServerError, match="own_redis_server"):
            action()
