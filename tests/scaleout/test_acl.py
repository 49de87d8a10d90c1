"""The restricted ACL user of README "Securing Redis": rtask works as that user
(producers, a worker process, admin views) and is refused outside its prefix."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rtask import App, BackendError, JobStatus
from tests._redis_server import RedisServer
from tests.faults._harness import REPO, wait_until
from tests.scaleout._workers import start_worker
from tests.scaleout.apps import build_app, ran_key

README = REPO / "README.md"
PASSWORD = "acl-test-pw"


def acl_rule() -> list[str]:
    """The `ACL SETUSER` line of the README, as arguments."""
    match = re.search(r"^ACL SETUSER rtask .*$", README.read_text(), re.MULTILINE)
    assert match, "README has no ACL SETUSER rtask line"
    return shlex.split(match.group(0).replace("<password>", PASSWORD))


def lua_commands() -> set[str]:
    """Every Redis command the scripts call (redis.call/pcall and call_chunked)."""
    found: set[str] = set()
    for script in (REPO / "lua").glob("*.lua"):
        text = script.read_text()
        found.update(re.findall(r"(?:call|pcall|call_chunked)\(\s*['\"]([A-Za-z]+)['\"]", text))
    return {name.lower() for name in found}


def test_the_rule_allows_every_command_of_the_scripts() -> None:
    allowed = {arg[1:] for arg in acl_rule() if arg.startswith("+")}
    assert lua_commands(), "no command found in lua/"
    assert lua_commands() <= allowed, lua_commands() - allowed
    assert {"evalsha", "script|load", "subscribe", "smembers"} <= allowed


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(dir=tmp_path_factory.mktemp("acl-redis")).start()
    with redis.Redis(port=server.port) as admin:
        admin.execute_command(*acl_rule())
    try:
        yield server
    finally:
        server.close()


def user_url(server: RedisServer) -> str:
    return f"redis://rtask:{PASSWORD}@127.0.0.1:{server.port}/0"


def test_the_whole_flow_as_the_restricted_user(
    acl_server: RedisServer, record_server: RedisServer, tmp_path: Path
) -> None:
    url = user_url(acl_server)
    app = build_app(url, "rtask", record_server.url)  # the default prefix
    record = redis.Redis(port=record_server.port)
    record.delete(ran_key("rtask"))
    worker = start_worker(
        url, "rtask", record_server.url, tmp_path / "worker.log",
        "--lease", "1.5", "--grace", "1",
        global_options=("--log-level", "DEBUG"),
    )  # fmt: skip
    work = app.tasks["work"]
    try:
        jobs = work.enqueue_many_sync([(0.01,)] * 20)

        async def produce() -> list[object]:
            try:
                more = await work.enqueue_many([(0.01,)] * 20)
                return [await job.result(timeout=30) for job in more]
            finally:
                await app.aclose()

        assert asyncio.run(produce()) == [worker.pid] * 20
        assert all(job.result(timeout=30) == worker.pid for job in jobs)
        assert jobs[0].info().status is JobStatus.SUCCEEDED
        # heartbeats (workers registry) and the admin views work as the user too
        wait_until(app.workers_sync, 10, "the worker in the registry")
        assert app.stats_sync(["default"])[0].succeeded == 40
        assert record.llen(ran_key("rtask")) == 40
        worker.send(signal.SIGTERM)
        assert worker.wait_exit(20) == 0, worker.output_tail()
        # CONFIG GET is refused to this user: the startup checks are skipped quietly
        assert "DEBUG rtask.worker: startup checks skipped: CONFIG GET refused" in worker.output()
        assert "WARNING" not in worker.output(), worker.output()
    finally:
        worker.kill_group()
        record.close()
        app.close()


def test_the_user_is_refused_outside_the_prefix(acl_server: RedisServer) -> None:
    outsider = App(user_url(acl_server), prefix="other")
    noop = outsider.task(name="noop")(lambda: None)
    with pytest.raises(BackendError, match="no permissions"):
        noop.enqueue_sync()
    outsider.close()

    with redis.Redis.from_url(user_url(acl_server)) as r:
        for command in (
            ("GET", "other:key"),
            ("SET", "other:key", "1"),
            ("CONFIG", "GET", "maxmemory-policy"),
            ("FLUSHALL",),
            ("KEYS", "*"),
            ("EVAL", "return 1", "0"),
            ("DEL", "rtask:{default}:jobs"),  # in the prefix, but not a command rtask uses
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                r.execute_command(*command)
        assert r.execute_command("SET", "rtask:ok", "1")  # inside the prefix: allowed
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.execute_command("PUBLISH", "other-channel", "x")
