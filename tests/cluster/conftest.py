"""Fixtures of the Redis Cluster tests.

cluster        session  a 3-primary cluster on free loopback ports (no replicas)
cluster_url    session  its rtask URL, redis+cluster://h:p,h:p,h:p/
spread_queues  function three fresh queue names whose slots live on three different nodes
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator

import pytest
from redis.crc import key_slot

from tests.cluster._cluster import LocalCluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    nodes = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="session")
def cluster_url(cluster: LocalCluster) -> str:
    return cluster.url


def queues_on_every_node(cluster: LocalCluster, stem: str) -> list[str]:
    """One queue name per primary (in node order): `<stem>-<n>` whose slot that node serves."""
    primaries = cluster.primaries()
    wanted = {node.port: "" for node in primaries}
    for n in itertools.count():
        name = f"{stem}-{n}"
        port = cluster.slot_owner(key_slot(name.encode()))
        if not wanted[port]:
            wanted[port] = name
        if all(wanted.values()):
            return [wanted[node.port] for node in primaries]
    raise AssertionError("unreachable")


@pytest.fixture
def spread_queues(cluster: LocalCluster) -> Callable[[], list[str]]:
    """Call to get three new queue names, one per node."""
    return lambda: queues_on_every_node(cluster, f"cq{uuid.uuid4().hex[:6]}")
