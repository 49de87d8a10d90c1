"""A throwaway Redis Cluster on free loopback ports: primaries only, or with
one replica per primary when a test asks (failover tests).

Each node is a :class:`RedisServer` started with ``--cluster-enabled yes`` in
its own directory; ``redis-cli --cluster create`` assigns the slots. Nodes are
stopped by their process ids; the system Redis on 127.0.0.1:6379 is never used.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests._redis_server import RedisServer, RedisServerError, free_cluster_port


class ClusterError(RuntimeError):
    """The cluster could not be formed."""


class LocalCluster:
    """`size` primaries on loopback, each with `replicas` replicas.

    `node_timeout_ms` is how long a silent primary stays up for the others (a
    failover starts after it)."""

    host = "127.0.0.1"

    def __init__(
        self,
        dir: Path,
        size: int = 3,
        *,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
        form_timeout: float = 30.0,
    ) -> None:
        self.dir = dir
        self.form_timeout = form_timeout
        self.replicas = replicas
        self.nodes = [
            RedisServer(
                # a cluster node's port must leave room for its bus port (+10000)
                port=free_cluster_port(self.host),
                dir=dir / f"node{i}",
                extra_args=(
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(node_timeout_ms),
                    "--repl-diskless-sync-delay", "0",
                ),
            )
            for i in range(size * (1 + replicas))
        ]  # fmt: skip

    @property
    def addresses(self) -> list[str]:
        return [f"{self.host}:{node.port}" for node in self.nodes]

    @property
    def url(self) -> str:
        """The rtask URL of the cluster: every node as a seed."""
        return f"redis+cluster://{','.join(self.addresses)}/"

    def start(self) -> LocalCluster:
        if shutil.which("redis-cli") is None:
            raise RedisServerError("redis-cli not found on PATH; run `./dev setup`")
        for node in self.nodes:
            node.start()
        done = subprocess.run(
            ["redis-cli", "--cluster", "create", *self.addresses,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=self.form_timeout,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            self.stop()
            raise ClusterError(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")
        self.wait_ok()
        if self.replicas:
            self.wait_replicas_online()
        return self

    def client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(host=self.host, port=node.port, socket_timeout=5)

    def wait_ok(self) -> None:
        """Poll until every node reports cluster_state:ok and knows every node."""
        deadline = time.monotonic() + self.form_timeout
        while True:
            states = []
            for node in self.nodes:
                with self.client(node) as r:
                    info = r.cluster("INFO")
                    if isinstance(info, bytes):
                        info = info.decode()
                    if isinstance(info, str):
                        info = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
                    states.append(
                        info.get("cluster_state") == "ok"
                        and int(info.get("cluster_known_nodes", 0)) == len(self.nodes)
                        and int(info.get("cluster_slots_ok", 0)) == 16384
                    )
            if all(states):
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster not ok after {self.form_timeout}s: {states}")
            time.sleep(0.05)

    def primaries(self) -> list[RedisServer]:
        """The nodes that serve slots now (after a failover: the promoted replicas)."""
        with self.client(self.live_nodes()[0]) as r:
            ports = {int(primary[1]) for _s, _e, primary, *_ in r.execute_command("CLUSTER SLOTS")}
        return [node for node in self.nodes if node.port in ports]

    def live_nodes(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.running]

    def node_on(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def wait_replicas_online(self) -> None:
        """Poll until every primary has its replicas in sync."""
        deadline = time.monotonic() + self.form_timeout
        while True:
            synced = []
            for node in self.primaries():
                with self.client(node) as r:
                    info = r.info("replication")
                states = [info.get(f"slave{i}", {}).get("state") for i in range(self.replicas)]
                synced.append(all(state == "online" for state in states))
            if all(synced):
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"replicas not in sync after {self.form_timeout}s")
            time.sleep(0.05)

    def slot_owner(self, slot: int) -> int:
        """The port of the primary that serves `slot`."""
        with self.client(self.live_nodes()[0]) as r:
            for start, end, primary, *_ in r.execute_command("CLUSTER SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(primary[1])
        raise ClusterError(f"slot {slot} is not served")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __repr__(self) -> str:
        return f"<LocalCluster {','.join(self.addresses)}>"
