"""Throwaway Redis topologies on free loopback ports: a primary with a replica
watched by three sentinels.

Every process is a `RedisServer` in its own directory under the test's tmp
dir, stopped by its pid; the system Redis on 127.0.0.1:6379 is never used.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

import redis

from tests._redis_server import RedisServer, free_port
from tests.scaleout._tls import Certs

SERVICE = "mymaster"
# How long a silent primary stays "up" for the sentinels (small: tests wait for it).
DOWN_AFTER_MS = 1000


# Full syncs start at once (the default waits 5 s for more replicas).
_REPLICATION_ARGS = ("--repl-diskless-sync-delay", "0")


def tls_args(certs: Certs) -> tuple[str, ...]:
    """A server's TLS settings: clients and peers need a certificate of the CA,
    replication runs over TLS too."""
    return (
        "--tls-port", str(free_port()),
        "--tls-cert-file", str(certs.server_cert),
        "--tls-key-file", str(certs.server_key),
        "--tls-ca-cert-file", str(certs.ca),
        "--tls-auth-clients", "yes",
        "--tls-replication", "yes",
    )  # fmt: skip


def client_port(server: RedisServer) -> int:
    """The port clients use: the TLS port if the server has one. (The plain
    port stays open on loopback for the harness's PING and the test's checks.)"""
    args = list(server.extra_args)
    return int(args[args.index("--tls-port") + 1]) if "--tls-port" in args else server.port


class SentinelServer(RedisServer):
    """`redis-server <dir>/sentinel.conf --sentinel` on a free port."""

    def __init__(self, dir: Path, primary_port: int, extra_args: tuple[str, ...] = ()) -> None:
        super().__init__(dir=dir, extra_args=extra_args)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "sentinel.conf"  # sentinels rewrite their config file
        self.conf.write_text(
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )

    def command(self) -> list[str]:
        return [
            self.executable, str(self.conf), "--sentinel",
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.dir),
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip


class SentinelSet:
    """A primary, one replica and three sentinels; with `certs`, every one of
    them speaks TLS (clients, replication, sentinels)."""

    def __init__(self, dir: Path, certs: Certs | None = None) -> None:
        self.certs = certs
        self.primary = RedisServer(
            dir=dir / "primary", extra_args=(*_REPLICATION_ARGS, *self._tls())
        )
        self.replica: RedisServer | None = None
        self.sentinels: list[SentinelServer] = []
        self.dir = dir

    def _tls(self) -> tuple[str, ...]:
        return tls_args(self.certs) if self.certs else ()

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{client_port(s)}" for s in self.sentinels)
        if self.certs is None:
            return f"redis+sentinel://{hosts}/0?service_name={SERVICE}"
        options = {
            "service_name": SERVICE,
            "ssl_ca_certs": self.certs.ca,
            "ssl_certfile": self.certs.client_cert,
            "ssl_keyfile": self.certs.client_key,
            "ssl_cert_reqs": "required",
        }
        return f"rediss+sentinel://{hosts}/0?{urlencode(options)}"

    @property
    def servers(self) -> list[RedisServer]:
        return [self.primary, *([self.replica] if self.replica else [])]

    def start(self, timeout: float = 30.0) -> SentinelSet:
        self.primary.start()
        primary = client_port(self.primary)
        self.replica = RedisServer(
            dir=self.dir / "replica",
            extra_args=(*_REPLICATION_ARGS, *self._tls(), "--replicaof", "127.0.0.1", str(primary)),
        ).start()
        self.sentinels = [
            SentinelServer(self.dir / f"sentinel{i}", primary, self._tls()).start()
            for i in range(3)
        ]
        self._wait(self._formed, timeout, "the replica to sync and the sentinels to meet")
        return self

    def _formed(self) -> bool:
        with redis.Redis(port=self.primary.port) as r:
            info = r.info("replication")
            if info.get("connected_slaves") != 1 or info["slave0"]["state"] != "online":
                return False
        for s in self.sentinels:
            with redis.Redis(port=s.port) as r:
                if len(r.sentinel_slaves(SERVICE)) != 1 or len(r.sentinel_sentinels(SERVICE)) != 2:
                    return False
        return True

    def primary_port(self) -> int:
        """The primary's port, as the first sentinel tells it."""
        with redis.Redis(port=self.sentinels[0].port) as r:
            _host, port = r.sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def server_on(self, port: int) -> RedisServer:
        """The Redis server clients reach on `port`."""
        return next(s for s in self.servers if client_port(s) == port)

    @staticmethod
    def _wait(cond: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)

    def close(self) -> None:
        for server in [*self.sentinels, *self.servers]:
            server.close()
