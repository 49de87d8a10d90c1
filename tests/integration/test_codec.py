"""Codecs end to end: JSON and msgpack roundtrips, results that cannot be encoded."""

from __future__ import annotations

import pytest

import rtask
from rtask import JobStatus

from ._helpers import RESULT_TIMEOUT, close, run, worker

pytestmark = pytest.mark.timeout(20)

VALUE = {
    "int": 1,
    "neg": -(2**40),
    "float": 1.5,
    "str": "héllo ✓",
    "none": None,
    "bools": [True, False],
    "nested": {"list": [1, [2, [3]]], "empty": {}},
}


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_roundtrip(backend_url: str, prefix: str, codec: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, codec=codec)
        seen: list[object] = []

        @app.task
        async def echo(value: dict[str, object], pair: tuple[int, int], *, label: str) -> object:
            seen.append((value, pair, label))
            return {"value": value, "pair": pair, "label": label}

        try:
            job = await echo.enqueue(VALUE, (1, 2), label="x")
            await worker(app).run(burst=True)
            got = await job.result(timeout=RESULT_TIMEOUT)
            # tuples come back as lists in both codecs
            assert seen == [(VALUE, [1, 2], "x")]
            assert got == {"value": VALUE, "pair": [1, 2], "label": "x"}
            assert (await job.info()).result == got
        finally:
            await close(app)

    run(body)


def test_msgpack_keeps_bytes(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def reverse(data: bytes) -> bytes:
            assert isinstance(data, bytes)
            return data[::-1]

        try:
            job = await reverse.enqueue(b"\x00\x01\xff")
            await worker(app).run(burst=True)
            assert await job.result(timeout=RESULT_TIMEOUT) == b"\xff\x01\x00"
        finally:
            await close(app)

    run(body)


def test_json_cannot_encode_bytes_arguments(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, codec="json")

        @app.task
        async def take(data: object) -> None:
            return None

        try:
            with pytest.raises(rtask.CodecError) as exc:
                await take.enqueue(b"raw")
            assert isinstance(exc.value, rtask.RtaskError)
            with pytest.raises(rtask.CodecError):
                await take.enqueue(object())
            keys = await app.async_client().redis.keys(f"{prefix}:*")
            assert keys == []
        finally:
            await close(app)

    run(body)


def test_worker_decodes_payloads_of_another_codec(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        worker_app = rtask.App(backend_url, prefix=prefix, codec="msgpack")
        producer_app = rtask.App(backend_url, prefix=prefix, codec="json")

        @worker_app.task(name="echo")
        async def echo(value: object) -> object:
            return value

        @producer_app.task(name="echo")
        async def echo_producer(value: object) -> object:
            return value

        try:
            job = await echo_producer.enqueue({"a": [1, 2]})
            await worker(worker_app).run(burst=True)
            assert await job.result(timeout=RESULT_TIMEOUT) == {"a": [1, 2]}
        finally:
            await close(worker_app, producer_app)

    run(body)


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_unencodable_result_fails_without_retry(backend_url: str, prefix: str, codec: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, codec=codec)
        runs: list[int] = []

        @app.task(max_attempts=3, backoff=0)
        async def weird() -> object:
            runs.append(rtask.current_job().attempt)
            return object()

        try:
            job = await weird.enqueue()
            await worker(app).run(burst=True)
            with pytest.raises(rtask.JobFailed) as failed:
                await job.result(timeout=RESULT_TIMEOUT)
            assert failed.value.status == "failed"
            info = await job.info()
            assert info.status is JobStatus.FAILED
            assert runs == [1]
            assert info.attempt == 1
            assert len(info.errors) == 1
            assert info.errors[0]["type"] == "result_encode_error"
            assert "object" in info.errors[0]["message"]
            assert info.result is None
        finally:
            await close(app)

    run(body)
