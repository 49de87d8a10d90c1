"""`rediss://` with certificate checks, against a redis-server with a TLS
port and a throw-away CA; credentials never show in repr() or errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from rtask import App, BackendError, JobStatus
from tests._redis_server import RedisServer, free_port
from tests.scaleout._tls import Certs, make_ca
from tests.scaleout._topology import SentinelSet


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def tls_server(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server whose TLS port asks clients for a certificate of the CA.
    (Its plain port, on loopback, only answers the harness's PING.)"""
    port = free_port()
    server = RedisServer(
        dir=tmp_path_factory.mktemp("tls-redis"),
        extra_args=(
            "--tls-port", str(port),
            "--tls-cert-file", str(certs.server_cert),
            "--tls-key-file", str(certs.server_key),
            "--tls-ca-cert-file", str(certs.ca),
            "--tls-auth-clients", "yes",
        ),
    )  # fmt: skip
    server.tls_port = port  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.close()


def tls_url(server: RedisServer, **options: str) -> str:
    return f"rediss://127.0.0.1:{server.tls_port}/0?{urlencode(options)}"  # type: ignore[attr-defined]


def full_options(certs: Certs) -> dict[str, str]:
    return {
        "ssl_ca_certs": str(certs.ca),
        "ssl_certfile": str(certs.client_cert),
        "ssl_keyfile": str(certs.client_key),
        "ssl_cert_reqs": "required",
    }


def test_worker_and_producer_over_tls(tls_server: RedisServer, certs: Certs, prefix: str) -> None:
    app = App(tls_url(tls_server, **full_options(certs)), prefix=prefix)

    @app.task(name="double")
    async def double(x: int) -> int:
        return 2 * x

    sync_job = double.enqueue_sync(4)

    async def scenario() -> list[int]:
        try:
            async_job = await double.enqueue(5)
            await app.worker(["default"], concurrency=4).run(burst=True)
            return [await (await app.job(j.id)).result(timeout=5) for j in (sync_job, async_job)]
        finally:
            await app.aclose()

    assert asyncio.run(scenario()) == [8, 10]
    assert sync_job.info().status is JobStatus.SUCCEEDED
    app.close()


def test_a_server_signed_by_another_ca_is_refused(
    tls_server: RedisServer, certs: Certs, tmp_path: Path, prefix: str
) -> None:
    other = make_ca(tmp_path / "other", name="someone-else")
    options = full_options(certs) | {"ssl_ca_certs": str(other.ca)}
    app = App(tls_url(tls_server, **options), prefix=prefix)
    noop = app.task(name="noop")(lambda: None)
    with pytest.raises(BackendError, match="certificate verify failed"):
        noop.enqueue_sync()
    app.close()


def test_the_server_refuses_a_client_without_certificate(
    tls_server: RedisServer, certs: Certs, prefix: str
) -> None:
    options = {"ssl_ca_certs": str(certs.ca), "ssl_cert_reqs": "required"}
    app = App(tls_url(tls_server, **options), prefix=prefix)
    noop = app.task(name="noop")(lambda: None)
    with pytest.raises(BackendError):
        noop.enqueue_sync()
    app.close()


def test_sentinel_over_tls_follows_a_failover(certs: Certs, tmp_path: Path, prefix: str) -> None:
    """rediss+sentinel://: sentinels, servers and replication all on TLS."""
    topology = SentinelSet(tmp_path / "sentinel", certs).start()
    app = App(topology.url, prefix=prefix)
    try:
        noop = app.task(name="noop")(lambda: None)
        before = noop.enqueue_sync()
        old = topology.primary_port()
        topology.server_on(old).kill()
        after = noop.enqueue_sync()  # waits for the sentinels to promote the replica
        assert topology.primary_port() != old
        assert before.info().status is JobStatus.QUEUED  # it had been replicated
        assert after.info().status is JobStatus.QUEUED
    finally:
        app.close()
        topology.close()


SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    "url",
    [
        f"rediss://alice:{SECRET}@127.0.0.1:1/0?ssl_cert_reqs=required&ssl_password={SECRET}",
        f"redis+sentinel://alice:{SECRET}@127.0.0.1:1,127.0.0.1:2/0"
        f"?service_name=m&sentinel_password={SECRET}&failover_timeout_s=0",
        f"rediss+sentinel://alice:{SECRET}@127.0.0.1:1/0?service_name=m&failover_timeout_s=0",
        f"redis://:{SECRET}@127.0.0.1:1/0?password={SECRET}",
    ],
)
def test_credentials_never_show(url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Not in repr() of the App or its clients, nor in the error of a failed call."""
    app = App(url, prefix="redact")
    noop = app.task(name="noop")(lambda: None)
    shown = [repr(app), repr(app.sync_client())]
    with pytest.raises(BackendError) as failed:
        noop.enqueue_sync()
    shown.append(str(failed.value))
    shown.append(caplog.text)
    app.close()
    assert all(SECRET not in text for text in shown), shown
    assert "***" in shown[0]


def test_cluster_credentials_never_show() -> None:
    """A cluster URL's password stays out of repr(); the sync cluster client
    connects at once, so its error (no node answers) is checked too."""
    url = f"redis+cluster://bob:{SECRET}@127.0.0.1:1,127.0.0.1:2/"
    app = App(url)
    noop = app.task(name="noop")(lambda: None)
    assert SECRET not in repr(app) and "bob:***@" in repr(app)
    with pytest.raises(BackendError) as failed:
        noop.enqueue_sync()
    assert SECRET not in str(failed.value)
    app.close()
