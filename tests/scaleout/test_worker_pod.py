"""What a container platform needs of `rtask worker`: health probes over HTTP
and a health file, startup checks of Redis, exit code 2 on a configuration
error."""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis

from rtask._cli import EXIT_CONFIG
from tests._redis_server import RedisServer, free_port
from tests.faults._harness import WorkerProcess, wait_until
from tests.scaleout._workers import start_worker
from tests.scaleout.apps import build_app


def probe(port: int, path: str) -> tuple[int, dict[str, Any]] | None:
    """(status, JSON body) of GET path, or None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return None


def status_is(port: int, path: str, status: int) -> dict[str, Any] | None:
    answer = probe(port, path)
    return answer[1] if answer and answer[0] == status else None


def test_health_probes_follow_redis(
    own_redis_server: RedisServer, record_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    server, port = own_redis_server, free_port()
    worker = start_worker(
        server.url, prefix, record_server.url, tmp_path / "worker.log",
        "--health-port", str(port), "--health-host", "127.0.0.1", "--lease", "1.5",
    )  # fmt: skip
    app = build_app(server.url, prefix, record_server.url)
    try:
        ready = wait_until(
            lambda: status_is(port, "/ready", 200), 20, "ready", on_timeout=worker.output_tail
        )
        assert ready["ready"] and ready["live"] and ready["not_ready"] == []
        assert status_is(port, "/live", 200)
        assert probe(port, "/other") == (404, {"error": "use GET /live or /ready"})
        assert app.tasks["work"].enqueue_sync().result(timeout=20) == worker.pid

        server.kill()  # Redis gone: not ready, still live
        body = wait_until(lambda: status_is(port, "/ready", 503), 20, "not ready")
        assert body["live"] and not body["ready"] and body["not_ready"]
        assert status_is(port, "/live", 200)

        server.start()  # back: ready again
        wait_until(lambda: status_is(port, "/ready", 200), 30, "ready again")
        worker.send(signal.SIGTERM)
        assert worker.wait_exit(20) == 0, worker.output_tail()
    finally:
        worker.kill_group()
        app.close()


def test_health_file_is_touched_on_every_heartbeat(
    redis_url: str, record_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    health = tmp_path / "health"
    worker = start_worker(
        redis_url, prefix, record_server.url, tmp_path / "worker.log",
        "--health-file", str(health), "--lease", "1.5",
    )  # fmt: skip
    try:
        first = wait_until(lambda: health.exists() and health.stat().st_mtime_ns, 20, "the file")
        wait_until(lambda: health.stat().st_mtime_ns > first, 20, "a second heartbeat")
        wait_until(lambda: health.stat().st_mtime_ns > first, 20, "a second heartbeat")
    finally:
        worker.kill_group()


def _burst(url: str, record_url: str, prefix: str, log: Path) -> WorkerProcess:
    worker = start_worker(url, prefix, record_url, log, "--burst")
    assert worker.wait_exit(30) == 0, worker.output_tail()
    return worker


def test_startup_checks_warn_when_redis_may_lose_jobs(
    record_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    with RedisServer(dir=tmp_path / "lru", extra_args=("--maxmemory-policy", "allkeys-lru")) as lru:
        output = _burst(lru.url, record_server.url, prefix, tmp_path / "lru.log").output()
    assert "WARNING rtask.worker: Redis has maxmemory-policy allkeys-lru" in output
    assert "WARNING rtask.worker: Redis has persistence off" in output

    safe_args = ("--appendonly", "yes", "--maxmemory-policy", "noeviction")
    with RedisServer(dir=tmp_path / "safe", extra_args=safe_args) as safe:
        output = _burst(safe.url, record_server.url, prefix, tmp_path / "safe.log").output()
    assert "maxmemory-policy" not in output and "persistence" not in output, output
    assert "worker" in output and "stopped" in output


def test_refused_credentials_exit_with_the_config_code(
    record_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    with RedisServer(dir=tmp_path / "auth") as server:
        with redis.Redis(port=server.port) as admin:
            admin.config_set("requirepass", "right")
        url = f"redis://:wrong@127.0.0.1:{server.port}/0"
        worker = start_worker(url, prefix, record_server.url, tmp_path / "worker.log")
        assert worker.wait_exit(30) == EXIT_CONFIG, worker.output_tail()
    assert "Redis refused the credentials" in worker.output()
    assert "wrong" not in worker.output().replace("wrong password", "")


@pytest.mark.parametrize("case", ["bad url", "bad option", "port taken"])
def test_configuration_errors_exit_with_the_config_code(
    case: str, redis_url: str, record_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    url, options = redis_url, ["--burst"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        if case == "bad url":
            url = "ftp://127.0.0.1/0"
        elif case == "bad option":
            options += ["--queues", "no spaces allowed"]
        else:
            options += ["--health-port", str(taken.getsockname()[1]), "--health-host", "127.0.0.1"]
        worker = start_worker(url, prefix, record_server.url, tmp_path / "worker.log", *options)
        assert worker.wait_exit(30) == EXIT_CONFIG, worker.output_tail()
    assert "rtask worker:" in worker.output()
    assert "Traceback" not in worker.output()


def test_processes_share_the_health_port(
    redis_url: str, record_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    """With --processes 2 each process binds the port (SO_REUSEPORT): the probes
    answer, and SIGTERM still stops everything cleanly."""
    port = free_port()
    worker = start_worker(
        redis_url, prefix, record_server.url, tmp_path / "worker.log",
        "--processes", "2", "--health-port", str(port), "--health-host", "127.0.0.1",
    )  # fmt: skip
    try:
        answers: set[str] = set()

        def both_answered() -> bool:  # each probe reaches one process
            body = status_is(port, "/ready", 200)
            if body:
                answers.add(body["worker"])
            return len(answers) == 2

        wait_until(both_answered, 30, "both processes ready", on_timeout=worker.output_tail)
        worker.send(signal.SIGTERM)
        assert worker.wait_exit(30) == 0, worker.output_tail()
        assert "address already in use" not in worker.output().lower()
    finally:
        worker.kill_group()
