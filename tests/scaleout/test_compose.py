"""docker-compose.yml is valid: `docker compose config` (or the standalone
`docker-compose config`) accepts it, with and without the cluster profile.

Skipped only when there is no docker client at all; `./dev setup` installs
docker-compose when the client lacks the compose plugin.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.faults._harness import REPO

BASE = {"redis", "worker", "producer"}
CLUSTER = {"redis-node-1", "redis-node-2", "redis-node-3", "redis-cluster-init", "worker-cluster"}


def compose_command() -> list[str]:
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    plugin = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, timeout=60, check=False
    )
    if plugin.returncode == 0:
        return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    assert standalone, "docker has no compose plugin and docker-compose is missing: ./dev setup"
    return [standalone]


def compose(*args: str) -> str:
    done = subprocess.run(
        [*compose_command(), "--project-directory", str(REPO), "-f", "docker-compose.yml", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_default_stack_is_valid() -> None:
    compose("config", "--quiet")
    services = set(compose("config", "--services").split())
    assert services >= BASE
    config = compose("config")
    # two worker replicas that stop gracefully, a durable Redis that never evicts
    assert "replicas: 2" in config
    assert "noeviction" in config and "appendonly" in config
    assert "--health-port" in config and "/ready" in config


def test_the_cluster_profile_is_valid() -> None:
    services = set(compose("--profile", "cluster", "config", "--services").split())
    assert services >= BASE | CLUSTER
    config = compose("--profile", "cluster", "config")
    assert "redis+cluster://redis-node-1:7001,redis-node-2:7002,redis-node-3:7003/" in config
    assert "--cluster-yes" in config
