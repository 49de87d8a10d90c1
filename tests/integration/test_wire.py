"""The lean transport of single-node URLs (`rtask._wire`), through the clients:
pipelined replies in order, reply errors, NOSCRIPT, broken connections,
timeouts, threads and closing."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.exceptions

from rtask import BackendError
from rtask._client import AsyncClient, SyncClient
from rtask._keys import queue_keys
from rtask._protocol import Call, read_job
from rtask._scripts import SCRIPT_NAMES, Script
from rtask._wire import AsyncWire, SyncWire, pack
from rtask._wire_connect import Endpoint, PoolEndpoint, endpoint
from tests._redis_server import RedisServer
from tests.faults._harness import wait_until

pytestmark = pytest.mark.timeout(60)


def _script(name: str, source: str) -> Script:
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


# Test scripts, loaded by `admin` (rtask loads only its own).
ECHO = _script("wire_echo", "return {KEYS[1], tonumber(ARGV[1]), ARGV[2]}")
BOOM = _script("wire_boom", "return redis.error_reply('boom ' .. ARGV[1])")
INCR = _script("wire_incr", "return redis.call('INCR', KEYS[1])")


def echo(key: str, number: int, text: bytes = b"") -> Call[list[Any]]:
    return Call(ECHO, [key], [number, text], lambda reply: reply)


def incr(key: str, *, idempotent: bool) -> Call[int]:
    return Call(INCR, [key], [], int, idempotent=idempotent)


def boom(word: str) -> Call[Any]:
    return Call(BOOM, ["k"], [word], lambda reply: reply)


def named(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}client_name={name}"


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    for s in (ECHO, BOOM, INCR):
        r.script_load(s.source)
    yield r
    r.close()


@pytest.fixture
def own_admin(own_redis_server: RedisServer) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(own_redis_server.url)
    for s in (ECHO, BOOM, INCR):
        r.script_load(s.source)
    yield r
    r.close()


def clients_named(admin: redis.Redis, name: str) -> list[dict[str, Any]]:
    return [c for c in admin.client_list() if c["name"] == name]


def script_loads(admin: redis.Redis) -> int:
    stats = admin.info("commandstats").get("cmdstat_script|load", {"calls": 0})
    return int(stats["calls"])


def paused_in(admin: redis.Redis, name: str) -> bool:
    """True once a client named `name` waits with an EVALSHA that CLIENT PAUSE holds."""
    return any(c["cmd"] == "evalsha" and "b" in c["flags"] for c in clients_named(admin, name))


# ---------------------------------------------------------------- pipelining


def test_a_gather_of_1000_calls_gets_each_its_own_reply_on_one_connection(
    redis_url: str, admin: redis.Redis, prefix: str
) -> None:
    url = named(redis_url, f"{prefix}-pipe")

    async def body() -> None:
        client = AsyncClient(url)
        try:
            singles = [client.run(echo(f"{prefix}:k{i}", i, b"x" * (i % 50))) for i in range(1000)]
            batches = [
                client.run_many([echo(f"{prefix}:b{i}", i), echo(f"{prefix}:c{i}", -i)])
                for i in range(100)
            ]
            results = await asyncio.gather(*singles, *batches)
            assert results[:1000] == [
                [f"{prefix}:k{i}".encode(), i, b"x" * (i % 50)] for i in range(1000)
            ]
            assert results[1000:] == [
                [[f"{prefix}:b{i}".encode(), i, b""], [f"{prefix}:c{i}".encode(), -i, b""]]
                for i in range(100)
            ]
            # one connection carried them all (no pool, no semaphore)
            assert len(clients_named(admin, f"{prefix}-pipe")) == 1
        finally:
            await client.aclose()

    asyncio.run(body())


def native(url: str) -> Endpoint:
    found = endpoint(url)
    assert found is not None, url
    return found


@pytest.mark.parametrize("kind", ["native", "redis-py pool"])
def test_the_wire_answers_raw_commands_in_order(redis_url: str, prefix: str, kind: str) -> None:
    async def body() -> None:
        if kind == "native":
            wire = AsyncWire(native(redis_url))
        else:
            wire = AsyncWire(PoolEndpoint(redis.asyncio.ConnectionPool.from_url(redis_url)))
        try:
            replies = await asyncio.gather(
                *(wire.request(pack("ECHO", f"e{i}")) for i in range(300)),
                wire.request_many(pack("INCR", f"{prefix}:n") + pack("GET", f"{prefix}:n"), 2),
                wire.request(pack("HGETALL", f"{prefix}:none")),
            )
            assert replies[:300] == [f"e{i}".encode() for i in range(300)]
            assert replies[300:] == [[1, b"1"], []]
        finally:
            await wire.aclose()

    asyncio.run(body())


# ---------------------------------------------------------------- reply errors


def test_reply_errors_are_backend_errors_naming_the_script_async(
    redis_url: str, admin: redis.Redis, prefix: str
) -> None:
    async def body() -> None:
        client = AsyncClient(redis_url)
        try:
            with pytest.raises(BackendError, match=r"wire_boom\.lua: ResponseError: boom one"):
                await client.run(boom("one"))
            with pytest.raises(BackendError, match=r"wire_boom\.lua failed: boom two"):
                await client.run_many([echo(f"{prefix}:a", 1), boom("two")])
            # the connection is still in step: the next replies are the right ones
            assert await client.run(echo(f"{prefix}:b", 2)) == [f"{prefix}:b".encode(), 2, b""]
            wire = AsyncWire(native(redis_url))
            try:
                with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
                    await wire.request(pack("LPUSH", f"{prefix}:s", "x") + b"")
                    await wire.request(pack("INCR", f"{prefix}:s"))
                out = await wire.request_many(
                    pack("SET", f"{prefix}:t", "v") + pack("INCR", f"{prefix}:t") + pack("PING"),
                    3,
                )
                assert out[0] == b"OK" and out[2] == b"PONG"
                assert isinstance(out[1], redis.exceptions.ResponseError)
            finally:
                await wire.aclose()
        finally:
            await client.aclose()

    asyncio.run(body())


def test_reply_errors_are_backend_errors_naming_the_script_sync(
    redis_url: str, admin: redis.Redis, prefix: str
) -> None:
    client = SyncClient(redis_url)
    try:
        with pytest.raises(BackendError, match=r"wire_boom\.lua: ResponseError: boom one"):
            client.run(boom("one"))
        with pytest.raises(BackendError, match=r"wire_boom\.lua failed: boom two"):
            client.run_many([echo(f"{prefix}:a", 1), boom("two")])
        assert client.run(echo(f"{prefix}:b", 2)) == [f"{prefix}:b".encode(), 2, b""]
        with pytest.raises(BackendError, match=r"wire_echo\.lua: DataError"):
            client.run(Call(ECHO, ["k"], [True, b""], lambda r: r))  # not a Redis type
    finally:
        client.close()


# ---------------------------------------------------------------- NOSCRIPT


def read_calls(prefix: str, count: int) -> list[Call[Any]]:
    keys = queue_keys(prefix, "q")
    return [read_job(keys, f"job-{i}") for i in range(count)]


def test_noscript_after_script_flush_reloads_once_for_a_gather(
    own_redis_server: RedisServer, own_admin: redis.Redis, prefix: str
) -> None:
    async def body() -> None:
        client = AsyncClient(own_redis_server.url)
        try:
            await client.run_many(read_calls(prefix, 2))  # loaded
            own_admin.script_flush()
            loads = script_loads(own_admin)
            replies = await asyncio.gather(*(client.run(c) for c in read_calls(prefix, 300)))
            assert all(r.state is None for r in replies)  # no such job, but the script ran
            assert script_loads(own_admin) - loads == len(SCRIPT_NAMES)  # one reload
            own_admin.script_flush()
            pair = await client.run_many(read_calls(prefix, 2))  # a pipeline meets NOSCRIPT
            assert [r.state for r in pair] == [None, None]
        finally:
            await client.aclose()

    asyncio.run(body())


def test_noscript_after_script_flush_sync(
    own_redis_server: RedisServer, own_admin: redis.Redis, prefix: str
) -> None:
    client = SyncClient(own_redis_server.url)
    try:
        client.run_many(read_calls(prefix, 2))
        own_admin.script_flush()
        assert client.run(read_calls(prefix, 1)[0]).state is None
        own_admin.script_flush()
        assert [r.state for r in client.run_many(read_calls(prefix, 3))] == [None] * 3
    finally:
        client.close()


# ---------------------------------------------------------------- broken connections


def test_a_killed_connection_fails_calls_in_flight_and_only_idempotent_ones_are_resent(
    own_redis_server: RedisServer, own_admin: redis.Redis, prefix: str
) -> None:
    name = f"{prefix}-kill"

    async def body() -> None:
        client = AsyncClient(named(own_redis_server.url, name))
        try:
            await client.run(incr(f"{prefix}:warm", idempotent=True))
            (before,) = clients_named(own_admin, name)
            own_admin.execute_command("CLIENT", "PAUSE", 20_000, "WRITE")  # holds EVALSHA
            once = asyncio.ensure_future(client.run(incr(f"{prefix}:once", idempotent=False)))
            again = asyncio.ensure_future(client.run(incr(f"{prefix}:again", idempotent=True)))
            raw = asyncio.ensure_future(
                client._wire.request(pack("EVALSHA", INCR.sha, 1, f"{prefix}:raw"))  # type: ignore[union-attr]
            )
            await asyncio.to_thread(wait_until, lambda: paused_in(own_admin, name), 10, "paused")
            own_admin.client_kill_filter(_id=before["id"])
            with pytest.raises(redis.exceptions.ConnectionError):
                await raw  # the wire fails what was in flight
            with pytest.raises(BackendError, match="ConnectionError"):
                await once  # a call that must not run twice is not resent
            own_admin.execute_command("CLIENT", "UNPAUSE")
            assert await again == 1  # resent on a new connection, ran once
            assert own_admin.get(f"{prefix}:once") is None  # never ran
            assert own_admin.get(f"{prefix}:raw") is None
            assert await client.run(incr(f"{prefix}:once", idempotent=False)) == 1
            (after,) = clients_named(own_admin, name)
            assert after["id"] != before["id"]
        finally:
            own_admin.execute_command("CLIENT", "UNPAUSE")
            await client.aclose()

    asyncio.run(body())


def test_sync_killed_connections_in_flight_and_idle(
    own_redis_server: RedisServer, own_admin: redis.Redis, prefix: str
) -> None:
    name = f"{prefix}-skill"
    client = SyncClient(named(own_redis_server.url, name))
    try:
        client.run(incr(f"{prefix}:warm", idempotent=True))
        (idle,) = clients_named(own_admin, name)
        own_admin.client_kill_filter(_id=idle["id"])
        # a connection Redis closed while idle is replaced before the call is sent
        assert client.run(incr(f"{prefix}:after-idle", idempotent=False)) == 1

        own_admin.execute_command("CLIENT", "PAUSE", 20_000, "WRITE")
        errors: list[Exception] = []

        def claim_like() -> None:
            try:
                client.run(incr(f"{prefix}:once", idempotent=False))
            except BackendError as exc:
                errors.append(exc)

        thread = threading.Thread(target=claim_like)
        thread.start()
        wait_until(lambda: paused_in(own_admin, name), 10, "paused")
        (busy,) = clients_named(own_admin, name)
        own_admin.client_kill_filter(_id=busy["id"])
        thread.join(10)
        own_admin.execute_command("CLIENT", "UNPAUSE")
        assert [type(e.__cause__) for e in errors] == [redis.exceptions.ConnectionError]
        assert own_admin.get(f"{prefix}:once") is None  # not resent
        assert client.run(incr(f"{prefix}:once", idempotent=False)) == 1
    finally:
        own_admin.execute_command("CLIENT", "UNPAUSE")
        client.close()


def test_calls_fail_while_redis_is_down_and_work_once_it_is_back(
    own_redis_server: RedisServer, own_admin: redis.Redis, prefix: str
) -> None:
    async def body() -> None:
        client = AsyncClient(own_redis_server.url)
        try:
            await client.run_many(read_calls(prefix, 2))
            own_redis_server.kill()
            with pytest.raises(BackendError, match="ConnectionError"):
                await asyncio.gather(*(client.run(c) for c in read_calls(prefix, 20)))
            own_redis_server.start()
            replies = await asyncio.gather(*(client.run(c) for c in read_calls(prefix, 20)))
            assert [r.state for r in replies] == [None] * 20
        finally:
            await client.aclose()

    asyncio.run(body())


# ---------------------------------------------------------------- timeouts


def test_a_reply_later_than_socket_timeout_fails_and_the_next_call_reconnects(
    own_redis_server: RedisServer, own_admin: redis.Redis, prefix: str
) -> None:
    url = f"{own_redis_server.url}?socket_timeout=0.3"

    async def body() -> None:
        client = AsyncClient(url)
        try:
            await client.run(incr(f"{prefix}:a", idempotent=True))
            own_admin.execute_command("CLIENT", "PAUSE", 20_000, "WRITE")
            with pytest.raises(BackendError, match="TimeoutError"):
                await client.run(incr(f"{prefix}:a", idempotent=True))
            own_admin.execute_command("CLIENT", "UNPAUSE")
            # a fresh connection: the late reply (2) is not taken for this one's
            assert await client.run(echo(f"{prefix}:e", 7)) == [f"{prefix}:e".encode(), 7, b""]
        finally:
            await client.aclose()

    try:
        asyncio.run(body())
        sync = SyncClient(url)
        try:
            sync.run(incr(f"{prefix}:s", idempotent=True))
            own_admin.execute_command("CLIENT", "PAUSE", 20_000, "WRITE")
            with pytest.raises(BackendError, match="TimeoutError"):
                sync.run(incr(f"{prefix}:s", idempotent=True))
            own_admin.execute_command("CLIENT", "UNPAUSE")
            assert sync.run(echo(f"{prefix}:e", 8)) == [f"{prefix}:e".encode(), 8, b""]
        finally:
            sync.close()
    finally:
        own_admin.execute_command("CLIENT", "UNPAUSE")


# ---------------------------------------------------------------- threads, closing


def test_the_sync_client_from_many_threads(redis_url: str, admin: redis.Redis, prefix: str) -> None:
    name = f"{prefix}-threads"
    client = SyncClient(named(redis_url, name))
    barrier = threading.Barrier(8)
    wrong: list[tuple[int, int, Any]] = []

    def work(t: int) -> None:
        barrier.wait()
        for i in range(200):
            got = client.run(echo(f"{prefix}:t{t}", i, b"%d" % t))
            if got != [f"{prefix}:t{t}".encode(), i, b"%d" % t]:
                wrong.append((t, i, got))
        got_many = client.run_many([echo(f"{prefix}:m{t}", t), echo(f"{prefix}:n{t}", -t)])
        if [g[1] for g in got_many] != [t, -t]:
            wrong.append((t, -1, got_many))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert wrong == []
        assert 1 <= len(clients_named(admin, name)) <= 8  # a connection per concurrent caller
    finally:
        client.close()
    wait_until(lambda: not clients_named(admin, name), 10, "connections closed")


@pytest.mark.filterwarnings("error")
def test_closing_leaves_no_connection_task_or_warning(
    redis_url: str, admin: redis.Redis, prefix: str
) -> None:
    name = f"{prefix}-close"
    # What earlier tests left to the cyclic collector is theirs, not this
    # client's: collected first, so that only this test's garbage meets "error".
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()

    async def body() -> None:
        client = AsyncClient(named(redis_url, name))
        await asyncio.gather(*(client.run(echo(f"{prefix}:c", i)) for i in range(50)))
        await client.aclose()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        # usable again after aclose, like redis-py's clients
        assert (await client.run(echo(f"{prefix}:c", 1)))[1] == 1
        await client.aclose()

    asyncio.run(body())
    gc.collect()
    wait_until(lambda: not clients_named(admin, name), 10, "connections closed")


def test_sync_wire_after_fork_opens_its_own_connections(redis_url: str) -> None:
    wire = SyncWire(native(redis_url))
    try:
        assert wire.request(pack("PING")) == b"PONG"
        wire._pid = -1  # as in a forked child: the parent's connections are not reused
        idle = list(wire._idle)
        assert wire.request(pack("ECHO", "child")) == b"child"
        assert not set(map(id, wire._idle)) & set(map(id, idle))
        for conn in idle:
            conn.close()
    finally:
        wire.close()


def test_unix_socket_url_with_database_and_client_name(tmp_path: Path, prefix: str) -> None:
    """The handshake is redis-py's: the URL's database and client name apply."""
    sock = tmp_path / "redis.sock"
    server = RedisServer(dir=tmp_path / "data", extra_args=("--unixsocket", str(sock)))
    server.start()
    url = f"unix://{sock}?db=3&client_name={prefix}-unix"
    try:
        with redis.Redis(unix_socket_path=str(sock), db=3) as admin:
            admin.script_load(INCR.source)

            async def body() -> int:
                client = AsyncClient(url)
                try:
                    return await client.run(incr(f"{prefix}:u", idempotent=True))
                finally:
                    await client.aclose()

            assert asyncio.run(body()) == 1
            sync = SyncClient(url)
            try:
                assert sync.run(incr(f"{prefix}:u", idempotent=True)) == 2
                assert [c["db"] for c in clients_named(admin, f"{prefix}-unix")] == ["3"]
            finally:
                sync.close()
            assert admin.get(f"{prefix}:u") == b"2"  # in database 3
    finally:
        server.close()


# ------------------------------------------------------------- pub/sub


def test_subscription_gives_the_channel_of_each_message(redis_url: str, admin: redis.Redis) -> None:
    async def body() -> list[str | None]:
        client = AsyncClient(redis_url)
        sub = await client.subscribe(["wire:a", "wire:b"])
        try:
            got = [await sub.get(0.01)]  # nothing published yet
            # several messages in one read come out one by one, in order;
            # one subscriber each: open() returned once the channels were confirmed
            pipe = admin.pipeline(transaction=False)
            for channel in ("wire:b", "wire:a", "wire:b"):
                pipe.publish(channel, "1")
            assert pipe.execute() == [1, 1, 1]
            got += [await sub.get(5) for _ in range(3)]
            got.append(await sub.get(0.01))
            return got
        finally:
            await sub.aclose()
            await client.aclose()

    assert asyncio.run(body()) == [None, "wire:b", "wire:a", "wire:b", None]
    assert admin.pubsub_numsub("wire:a") == [(b"wire:a", 0)]


def test_subscription_fails_when_its_connection_is_killed(
    redis_url: str, admin: redis.Redis
) -> None:
    async def body() -> None:
        client = AsyncClient(redis_url)
        sub = await client.subscribe(["wire:k"])
        try:
            assert admin.client_kill_filter(_type="pubsub") >= 1
            with pytest.raises(redis.exceptions.ConnectionError):
                await sub.get(5)
        finally:
            await sub.aclose()
            await client.aclose()

    asyncio.run(body())


def test_memory_subscription_uses_redis_py_pubsub() -> None:
    async def body() -> list[str | None]:
        client = AsyncClient("memory://wire-sub")
        sub = await client.subscribe(["wire:m"])
        try:
            await client.redis.publish("wire:m", "1")
            return [await sub.get(5), await sub.get(0.01)]
        finally:
            await sub.aclose()
            await client.aclose()

    assert asyncio.run(body()) == ["wire:m", None]
