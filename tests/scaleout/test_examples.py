"""The producer examples: a FastAPI app (async) and a Flask app (sync), driven
by their frameworks' test clients, on real Redis and on memory://."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import threading
from collections.abc import Iterator
from types import ModuleType

import pytest
import redis

from rtask import App, Worker
from rtask.testing import drain_sync


def _load(name: str, url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """examples.<name>.app, its App built on `url` (the modules read RTASK_REDIS_URL)."""
    monkeypatch.setenv("RTASK_REDIS_URL", url)
    tasks = importlib.reload(importlib.import_module(f"examples.{name}.tasks"))
    if url == redis_url:  # the example's fixed prefix, on the suite's own server
        with redis.Redis.from_url(redis_url) as r:
            for key in r.scan_iter(match=f"{tasks.app.prefix}:*"):
                r.delete(key)
    return importlib.reload(importlib.import_module(f"examples.{name}.app"))


class _ThreadWorker:
    """A worker on its own thread and event loop, for endpoints that await a result."""

    def __init__(self, app: App, queues: list[str]) -> None:
        self.worker: Worker = app.worker(queues, concurrency=4, handle_signals=False)
        self.thread = threading.Thread(target=asyncio.run, args=(self._run(app),))

    async def _run(self, app: App) -> None:
        try:
            await self.worker.run()
        finally:
            await app.aclose()

    def __enter__(self) -> _ThreadWorker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.worker.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def fastapi_example(
    backend_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    module = _load("fastapi_producer", backend_url, redis_url, monkeypatch)
    yield module
    module.app.close()


def test_fastapi_producer(fastapi_example: ModuleType) -> None:
    from fastapi.testclient import TestClient

    app = fastapi_example.app
    with TestClient(fastapi_example.api) as client:
        accepted = client.post("/signups", json={"email": "ada@example.com"})
        assert accepted.status_code == 202
        job_id, queue = accepted.json()["job_id"], accepted.json()["queue"]
        assert queue == "emails"
        assert client.get(f"/jobs/emails/{job_id}").json()["status"] == "queued"

        assert drain_sync(app, ["emails"]).succeeded == 1
        assert client.get(f"/jobs/emails/{job_id}").json() == {
            "id": job_id,
            "status": "succeeded",
            "attempt": 1,
            "result": "welcome mail sent to ada@example.com",
        }

        with _ThreadWorker(app, ["default"]):
            done = client.post("/checksums", json={"text": "rtask", "rounds": 3})
        digest = b"rtask"
        for _ in range(3):
            digest = hashlib.sha256(digest).digest()
        assert done.status_code == 200
        assert done.json()["checksum"] == digest.hex()

        assert client.get("/jobs/emails/0190aaaa-no-such-job").status_code == 404
        assert client.get("/jobs/bad queue!/x").status_code == 422


@pytest.fixture
def flask_example(
    backend_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    module = _load("flask_producer", backend_url, redis_url, monkeypatch)
    yield module
    module.app.close()


def test_flask_producer(flask_example: ModuleType) -> None:
    client = flask_example.web.test_client()
    accepted = client.post("/reports", json={"customer": "acme", "lines": 4, "priority": -1})
    assert accepted.status_code == 202
    job_id = accepted.get_json()["job_id"]
    assert client.get(f"/jobs/reports/{job_id}").get_json()["status"] == "queued"

    assert drain_sync(flask_example.app, ["reports"]).succeeded == 1
    assert client.get(f"/jobs/reports/{job_id}").get_json() == {
        "id": job_id,
        "status": "succeeded",
        "attempt": 1,
        "result": {"customer": "acme", "lines": 4, "total": 6},
    }
    assert client.post("/reports", json={"lines": 4}).status_code == 422  # no customer
    assert client.get("/jobs/reports/0190aaaa-no-such-job").status_code == 404
