"""Throwaway ``redis-server`` processes for tests and benchmarks.

Each :class:`RedisServer` runs a private ``redis-server`` on a free loopback
port, without persistence, in its own directory. It never touches the system
Redis on 127.0.0.1:6379.

    with RedisServer() as srv:
        client = redis.Redis.from_url(srv.url)

Only the standard library is used, so benchmarks can import this too.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

__all__ = [
    "FORBIDDEN_PORT",
    "ExternalRedis",
    "RedisServer",
    "RedisServerError",
    "free_port",
    "ping",
    "unique_prefix",
]

FORBIDDEN_PORT = 6379  # the system Redis: never start on, connect to, or flush it
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}
_issued_prefixes: set[str] = set()


class RedisServerError(RuntimeError):
    """The server could not be started or controlled."""


def unique_prefix(stem: str = "rtest") -> str:
    """Return a key prefix such as ``rtest-1a2b3c4d``, unique within this process."""
    while True:
        prefix = f"{stem}-{uuid.uuid4().hex[:8]}"
        if prefix not in _issued_prefixes:
            _issued_prefixes.add(prefix)
            return prefix


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently unused TCP port (never 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port != FORBIDDEN_PORT:
            return port


def free_cluster_port(host: str = "127.0.0.1") -> int:
    """An unused port for a cluster node: at most 55535, with port + 10000
    (its cluster bus port) unused too."""
    rng = random.Random()
    while True:
        port = rng.randint(20000, 55535)
        if port == FORBIDDEN_PORT:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((host, candidate))
        except OSError:
            continue
        return port


def ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a Redis server at host:port answers ``PING`` with ``+PONG``."""
    if is_system_redis(host, port):
        raise RedisServerError(f"refusing to contact the system Redis at {host}:{port}")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def is_system_redis(host: str, port: int) -> bool:
    return port == FORBIDDEN_PORT and host in _LOOPBACK_HOSTS


class RedisServer:
    """A private ``redis-server`` child process on a loopback port.

    ``port=None`` picks a free port; ``dir=None`` makes (and later removes) a
    temporary directory. ``stop()``/``kill()`` followed by ``start()`` restart
    the server on the same port and directory; as nothing is persisted, the
    restarted server is empty.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        port: int | None = None,
        dir: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        *,
        executable: str = "redis-server",
        startup_timeout: float = 10.0,
    ) -> None:
        if port == FORBIDDEN_PORT:
            raise ValueError(f"port {FORBIDDEN_PORT} belongs to the system Redis")
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port(self.host)
        self._own_dir = dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="rtask-redis-") if dir is None else dir)
        self.extra_args = tuple(extra_args)
        self.executable = executable
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    # -- properties ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Process id while running, else None."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.dir / "redis-server.log"

    def command(self) -> list[str]:
        return [
            self.executable,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> RedisServer:
        """Start (or restart) the server and wait until it answers PING."""
        if self.running:
            return self
        exe = shutil.which(self.executable)
        if exe is None:
            raise RedisServerError(
                f"{self.executable!r} not found on PATH; run `./dev setup` to install it"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        # A port picked by free_port() can be grabbed by someone else before
        # redis binds it; then pick another one (only before the first start).
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                self._spawn()
                break
            except RedisServerError:
                if attempt == attempts - 1:
                    raise
                self.port = free_port(self.host)
        self._fixed_port = True  # restarts must keep the port
        if not self._atexit_registered:
            atexit.register(self._cleanup_at_exit)
            self._atexit_registered = True
        return self

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                raise RedisServerError(
                    f"redis-server exited during start on port {self.port}:\n{self._log_tail()}"
                )
            # Check liveness again: a PONG from a stranger on a stolen port doesn't count.
            if ping(self.host, self.port, timeout=0.2) and self._proc.poll() is None:
                return
            time.sleep(0.01)
        self.kill()
        raise RedisServerError(
            f"redis-server on port {self.port} did not answer PING within "
            f"{self.startup_timeout}s:\n{self._log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (SIGTERM), escalating to SIGKILL after ``timeout``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Abrupt crash (SIGKILL); waits until the process is gone."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait()

    def close(self) -> None:
        """Stop the server and remove its directory if we created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self._atexit_registered:
            atexit.unregister(self._cleanup_at_exit)
            self._atexit_registered = False

    def _cleanup_at_exit(self) -> None:
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"<RedisServer {self.url} {state}>"


class ExternalRedis:
    """A server given by ``RTASK_TEST_REDIS_URL``: used as is, never controlled.

    Tests that stop, kill or restart Redis must use the ``own_redis_server``
    fixture instead, which always starts a private server.
    """

    pid = None
    running = True

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or FORBIDDEN_PORT
        if parts.scheme not in ("redis", "rediss"):
            raise RedisServerError(f"unsupported test Redis URL {url!r}")
        if is_system_redis(self.host, self.port):
            raise RedisServerError(
                f"refusing to run tests against the system Redis ({url}); "
                "use another port or unset RTASK_TEST_REDIS_URL"
            )

    def _refuse(self, action: str) -> None:
        raise RedisServerError(
            f"cannot {action} the external Redis {self.url}; "
            "fault-injection tests must use the `own_redis_server` fixture"
        )

    def start(self) -> ExternalRedis:
        self._refuse("start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._refuse("stop")

    def kill(self) -> None:
        self._refuse("kill")

    def __repr__(self) -> str:
        return f"<ExternalRedis {self.url}>"
