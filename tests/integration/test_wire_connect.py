"""The wire's own connections (`rtask._wire_connect`): a plain URL read as
redis-py reads it, the handshake (AUTH, SELECT, CLIENT SETNAME) on a real
server, the URLs left to redis-py, failures as `BackendError`, and a process
that enqueues and works on a plain URL without importing redis-py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.exceptions

from rtask import BackendError, ConfigError
from rtask._client import AsyncClient, SyncClient
from rtask._wire_connect import Endpoint, PoolEndpoint, endpoint
from rtask._worker._health import startup_checks
from tests._redis_server import RedisServer, free_port

from .test_wire import INCR, incr

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------ reading URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://", Endpoint()),
        ("redis://127.0.0.1:6400", Endpoint(host="127.0.0.1", port=6400)),
        ("redis://h/2", Endpoint(host="h", db=2)),
        ("redis://h/2?db=5", Endpoint(host="h", db=5)),
        ("redis://:pw@h", Endpoint(host="h", password="pw")),
        (
            "redis://al%40ce:p%3Aw%40@h:1/0",
            Endpoint(host="h", port=1, username="al@ce", password="p:w@"),
        ),
        (
            "redis://h?socket_timeout=2.5&socket_connect_timeout=1&client_name=me&protocol=3",
            Endpoint(host="h", socket_timeout=2.5, connect_timeout=1.0, client_name="me"),
        ),
        ("unix:///tmp/r.sock?db=3", Endpoint(path="/tmp/r.sock", db=3)),
        ("unix://:pw@/tmp/r.sock", Endpoint(path="/tmp/r.sock", password="pw")),
    ],
)
def test_a_plain_url_is_read_as_redis_py_reads_it(url: str, expected: Endpoint) -> None:
    assert endpoint(url) == expected
    if expected.path is None:  # the same fields as redis-py's parse
        kwargs = redis.connection.parse_url(url)
        assert kwargs.get("host", "localhost") == expected.host
        assert kwargs.get("port", 6379) == expected.port
        assert kwargs.get("db", 0) == expected.db
        assert kwargs.get("username") == expected.username
        assert kwargs.get("password") == expected.password


@pytest.mark.parametrize(
    "url",
    [
        "rediss://h",  # TLS
        "redis://h?socket_keepalive=true",  # an option the wire does not apply itself
        "redis://h?decode_responses=True",
        "redis://h?db=x",  # malformed: redis-py's error message
        "redis://h/notadb",
        "unix://",
        "memory://x",
    ],
)
def test_other_urls_are_left_to_redis_py(url: str) -> None:
    assert endpoint(url) is None


# ----------------------------------------------------------- the handshake


@pytest.fixture
def locked_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server with a default password and an ACL user alice (password s@cret)."""
    server = RedisServer(dir=tmp_path / "data")
    server.start()
    try:
        with redis.Redis(port=server.port) as admin:
            admin.config_set("requirepass", "right")  # set once it answers PING
        with redis.Redis(port=server.port, password="right") as admin:
            admin.acl_setuser(
                "alice", enabled=True, passwords=["+s@cret"], keys="~*", commands=["+@all"]
            )
            admin.script_load(INCR.source)
        yield server
    finally:
        server.close()


def _sync_incr(url: str, key: str) -> int:
    client = SyncClient(url)
    try:
        return client.run(incr(key, idempotent=True))
    finally:
        client.close()


def _async_incr(url: str, key: str) -> int:
    async def body() -> int:
        client = AsyncClient(url)
        try:
            return await client.run(incr(key, idempotent=True))
        finally:
            await client.aclose()

    return asyncio.run(body())


def _start_check(url: str) -> None:
    """A worker's start-up check of `url`'s Redis."""

    async def check() -> None:
        client = AsyncClient(url)
        try:
            await startup_checks(client)
        finally:
            await client.aclose()

    asyncio.run(check())


@pytest.mark.parametrize("user", ["", "alice"])
def test_auth_select_and_client_name_as_the_url_says(
    locked_server: RedisServer, prefix: str, user: str
) -> None:
    password = "s%40cret" if user else "right"
    url = f"redis://{user}:{password}@127.0.0.1:{locked_server.port}/4?client_name={prefix}"
    client = SyncClient(url)
    assert client._wire is not None and isinstance(client._wire._endpoint, Endpoint)
    client.close()
    assert _sync_incr(url, f"{prefix}:n") == 1
    assert _async_incr(url, f"{prefix}:n") == 2
    with redis.Redis(port=locked_server.port, password="right", db=4) as admin:
        assert admin.get(f"{prefix}:n") == b"2"  # in database 4
    with redis.Redis(port=locked_server.port, password="right") as admin:
        assert admin.get(f"{prefix}:n") is None  # not in database 0


def test_the_client_name_is_set_on_open_connections(
    locked_server: RedisServer, prefix: str
) -> None:
    url = f"redis://:right@127.0.0.1:{locked_server.port}/2?client_name={prefix}-n"
    client = SyncClient(url)
    try:
        assert client.run(incr(f"{prefix}:c", idempotent=True)) == 1
        with redis.Redis(port=locked_server.port, password="right") as admin:
            named = [c for c in admin.client_list() if c["name"] == f"{prefix}-n"]
            assert [c["db"] for c in named] == ["2"]
    finally:
        client.close()


def test_a_refused_password_is_a_backend_error_and_a_config_error_for_the_worker(
    locked_server: RedisServer,
) -> None:
    url = f"redis://:wrong@127.0.0.1:{locked_server.port}"
    with pytest.raises(BackendError, match=r"(?i)password"):
        _sync_incr(url, "k")
    with pytest.raises(BackendError, match=r"(?i)password"):
        _async_incr(url, "k")
    with pytest.raises(ConfigError, match="refused the credentials"):
        _start_check(url)


def test_no_password_where_one_is_needed_is_a_config_error_for_the_worker(
    locked_server: RedisServer,
) -> None:
    url = f"redis://127.0.0.1:{locked_server.port}"
    with pytest.raises(BackendError):
        _sync_incr(url, "k")
    with pytest.raises(ConfigError, match="refused the credentials: Authentication required"):
        _start_check(url)


def test_an_option_the_wire_does_not_apply_goes_through_redis_py(
    locked_server: RedisServer, prefix: str
) -> None:
    url = f"redis://:right@127.0.0.1:{locked_server.port}/1?socket_keepalive=true"
    client = SyncClient(url)
    try:
        assert client._wire is not None and isinstance(client._wire._endpoint, PoolEndpoint)
        assert client.run(incr(f"{prefix}:k", idempotent=True)) == 1
    finally:
        client.close()
    assert _async_incr(url, f"{prefix}:k") == 2


def test_connection_refused_is_a_backend_error_naming_the_address() -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    with pytest.raises(BackendError, match=rf"127\.0\.0\.1:{port}"):
        _sync_incr(url, "k")
    with pytest.raises(BackendError, match=rf"127\.0\.0\.1:{port}"):
        _async_incr(url, "k")


# ------------------------------------------------- no redis-py on the way

_WITHOUT_REDIS_PY = """
import asyncio, sys
import rtask
from rtask import BackendError

url, prefix, mode = sys.argv[1:]
app = rtask.App(url, prefix=prefix)
ran = []

@app.task(name="add")
async def add(x: int) -> int:
    ran.append(x)
    return x + 1

async def work() -> None:
    await add.enqueue(1)
    await add.enqueue_many([(2,), (3,)])
    add.enqueue_sync(4)
    await app.worker(concurrency=4).run(burst=True)
    assert sorted(ran) == [1, 2, 3, 4], ran
    assert "redis" not in sys.modules, "a plain URL's enqueues and worker imported redis-py"
    # the first reply error (NOSCRIPT: the scripts reload, the call runs)
    await app.async_client().command("SCRIPT", "FLUSH")
    await add.enqueue(5)
    await app.worker(concurrency=4).run(burst=True)
    assert sorted(ran) == [1, 2, 3, 4, 5], ran

async def refused() -> None:
    try:
        await add.enqueue(6)
    except BackendError as exc:
        print("refused:", exc)
    else:
        raise AssertionError("no BackendError")

async def main() -> None:
    try:
        await (work() if mode == "work" else refused())
    finally:
        await app.aclose()
    print("ok")

asyncio.run(main())
"""


def _fresh(url: str, prefix: str, mode: str) -> str:
    """Run `_WITHOUT_REDIS_PY` in a fresh interpreter (redis-py not imported); its output."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_WITHOUT_REDIS_PY), url, prefix, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "ok"
    return done.stdout


def test_a_plain_url_enqueues_and_works_without_importing_redis_py(
    redis_url: str, prefix: str
) -> None:
    """redis-py costs a process 100-200 ms to import: a worker on a plain URL
    does without it, and still handles reply errors (redis-py is imported
    then, to name them)."""
    _fresh(redis_url, prefix, "work")


def test_a_refused_connection_without_redis_py_imported_is_a_backend_error(prefix: str) -> None:
    out = _fresh(f"redis://127.0.0.1:{free_port()}", prefix, "refused")
    assert "refused: " in out and "connecting to 127.0.0.1" in out
