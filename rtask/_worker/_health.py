"""What a container platform asks of a worker process: startup checks of the
Redis it uses, HTTP liveness/readiness probes, and a file touched on every
heartbeat.

    GET /live    200 while the event loop answers and the worker runs
    GET /ready   200 while the worker is connected to Redis and claiming:
                 started, not stopping, its last round trip succeeded and its
                 last heartbeat is recent; 503 otherwise
    --health-file PATH   its mtime is set after every successful heartbeat

Both answers carry a small JSON body with the reasons. The server is plain
asyncio (no dependency); with `--processes N` every process binds the port
with SO_REUSEPORT, so each probe answers for one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _redis_errors as rx
from .._client import is_memory
from .._errors import ConfigError

if TYPE_CHECKING:
    from ._worker import Worker

log = logging.getLogger("rtask.worker")

# Longest a probe may take to send its request.
_REQUEST_TIMEOUT_S = 5.0
# A heartbeat older than this many intervals makes the worker not ready.
_STALE_HEARTBEATS = 2.5


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """port: serve /live and /ready on it (None: no server); host: the address
    to bind; file: touch it after every successful heartbeat (None: none)."""

    port: int | None = None
    host: str = "0.0.0.0"
    file: str | None = None

    def __post_init__(self) -> None:
        if self.port is not None and not 0 <= self.port < 65536:
            raise ConfigError(f"health port {self.port} is not in [0, 65535]")


# ---------------------------------------------------------------- startup checks


async def startup_checks(client: Any) -> None:
    """Check the Redis the worker uses before it starts.

    Credentials Redis refuses are a `ConfigError` (the worker exits with its
    configuration exit code); an unreachable Redis only logs (the worker keeps
    trying). A WARNING when Redis may drop jobs: `maxmemory-policy` other than
    `noeviction`, or no persistence at all. CONFIG GET refused (managed Redis,
    a restricted ACL user) skips that check, at debug level.
    """
    if is_memory(getattr(client, "url", "")):
        return
    try:
        await client.command("PING")
    except rx.authentication_error() as exc:
        raise ConfigError(f"Redis refused the credentials: {exc}") from exc
    except rx.backend_failure() as exc:
        log.warning("Redis does not answer yet (%s): the worker keeps trying", exc)
        return
    try:
        config = await client.config_get()
    except rx.backend_failure() as exc:
        log.debug("startup checks skipped: CONFIG GET refused (%s)", exc)
        return
    for problem in config_problems(_decoded(config)):
        log.warning("%s", problem)


def _decoded(config: Any) -> dict[str, str]:
    """CONFIG GET's reply as str → str (a cluster client may key it by node:
    then the first node's settings are taken)."""
    items = {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in dict(config).items()}
    if items and all(isinstance(v, dict) for v in items.values()):
        return _decoded(next(iter(items.values())))
    return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in items.items()}


def config_problems(config: dict[str, str]) -> list[str]:
    """The settings of a Redis (CONFIG GET *) under which jobs can be lost."""
    problems = []
    policy = config.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        problems.append(
            f"Redis has maxmemory-policy {policy}: under memory pressure it deletes keys, "
            "jobs included; set maxmemory-policy noeviction"
        )
    if config.get("appendonly", "no") == "no" and not config.get("save", "").strip():
        problems.append(
            "Redis has persistence off (appendonly no, no save points): a restart of "
            "Redis loses every job; enable AOF (appendonly yes) or RDB snapshots"
        )
    return problems


# ---------------------------------------------------------------- probes


def health(worker: Worker) -> tuple[bool, bool, dict[str, Any]]:
    """(live, ready, details) of `worker` now."""
    loop = asyncio.get_running_loop()
    live = not worker.closing
    stale_s = worker.config.heartbeat_interval_s * _STALE_HEARTBEATS
    last_ok = min((q.last_heartbeat_ok for q in worker.queues), default=0.0)
    heartbeat_age = loop.time() - last_ok if last_ok else None
    reasons = []
    if not worker.started:
        reasons.append("starting")
    if worker.stopping:
        reasons.append("stopping")
    if worker.redis_failures:
        reasons.append(f"{worker.redis_failures} failed Redis round trips")
    if heartbeat_age is None or heartbeat_age > stale_s:
        reasons.append("no recent heartbeat")
    details = {
        "worker": worker.id,
        "in_flight": worker.in_flight(),
        "heartbeat_age_s": None if heartbeat_age is None else round(heartbeat_age, 3),
        "not_ready": reasons,
    }
    return live, live and not reasons, details


async def _answer(
    worker: Worker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        async with asyncio.timeout(_REQUEST_TIMEOUT_S):
            request = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers: unused
        method, path, *_ = [*request.decode("latin-1").split(), "", ""]
        live, ready, details = health(worker)
        ok = {"/live": live, "/ready": ready}.get(path.split("?", maxsplit=1)[0])
        if method not in ("GET", "HEAD") or ok is None:
            status, body = "404 Not Found", b'{"error": "use GET /live or /ready"}\n'
        else:
            status = "200 OK" if ok else "503 Service Unavailable"
            body = (json.dumps({"live": live, "ready": ready, **details}) + "\n").encode()
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head if method == "HEAD" else head + body)
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass  # a probe that went away
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _touch_on_heartbeat(worker: Worker, path: Path) -> None:
    """Set `path`'s mtime after every heartbeat that succeeded."""
    touched = 0.0
    poll_s = min(1.0, worker.config.heartbeat_interval_s / 2)
    while not worker.closing:
        last_ok = min((q.last_heartbeat_ok for q in worker.queues), default=0.0)
        if worker.started and last_ok > touched:
            touched = last_ok
            try:
                path.touch()
                os.utime(path)
            except OSError as exc:
                log.warning("cannot touch the health file %s: %s", path, exc)
        await worker.pause(poll_s)


@contextlib.asynccontextmanager
async def serving(worker: Worker, config: HealthConfig) -> AsyncIterator[None]:
    """Serve the probes of `worker` (and touch its health file) while inside.

    A port that cannot be bound is a `ConfigError`.
    """
    server = None
    if config.port is not None:
        try:
            server = await asyncio.start_server(
                lambda r, w: _answer(worker, r, w),
                config.host,
                config.port,
                reuse_port=True,
            )
        except OSError as exc:
            raise ConfigError(f"cannot serve health probes on port {config.port}: {exc}") from exc
        log.info("health probes on http://%s:%d/live and /ready", config.host, config.port)
    toucher = None
    if config.file is not None:
        toucher = asyncio.create_task(_touch_on_heartbeat(worker, Path(config.file)))
    try:
        yield
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        if toucher is not None:
            toucher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await toucher
