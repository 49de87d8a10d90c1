"""Bad input: clear errors at the API boundary, nothing stored; a worker never crashes."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import msgpack
import pytest

import rtask
from rtask import JobStatus
from rtask._job import new_job_id
from rtask._protocol import NewJob, enqueue, state_body

from ._helpers import RESULT_TIMEOUT, background, close, run, worker

pytestmark = pytest.mark.timeout(20)


async def stored_keys(app: rtask.App) -> list[bytes]:
    """Every key under the app's prefix."""
    keys: list[bytes] = await app.async_client().redis.keys(f"{app.prefix}:*")
    return keys


def test_unknown_task_fails_the_job_and_the_worker_goes_on(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        worker_app = rtask.App(backend_url, prefix=prefix)
        producer_app = rtask.App(backend_url, prefix=prefix)

        @worker_app.task(name="known")
        async def known(n: int) -> int:
            return n

        @producer_app.task(name="only.in.producer", max_attempts=5)
        async def stranger() -> None:
            raise AssertionError("the worker does not know this task")

        @producer_app.task(name="known")
        async def known_from_producer(n: int) -> int:
            raise AssertionError("the producer's copy never runs")

        try:
            bad = await stranger.enqueue()
            good = await known_from_producer.enqueue(5)
            await worker(worker_app).run(burst=True)

            with pytest.raises(rtask.JobFailed) as failed:
                await bad.result(timeout=RESULT_TIMEOUT)
            assert failed.value.status == "failed"
            info = await bad.info()
            assert info.status is JobStatus.FAILED
            assert info.attempt == 1  # failed at once, not retried 5 times
            assert len(info.errors) == 1
            assert info.errors[0]["type"] == "unknown_task"
            assert "only.in.producer" in info.errors[0]["message"]
            assert await good.result(timeout=RESULT_TIMEOUT) == 5
        finally:
            await close(worker_app, producer_app)

    run(body)


def test_get_task(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task(name="here")
    async def here() -> None:
        return None

    assert app.get_task("here") is here
    with pytest.raises(rtask.UnknownTask) as exc:
        app.get_task("nope")
    assert isinstance(exc.value, rtask.InvalidInput)
    assert isinstance(exc.value, rtask.RtaskError)
    assert "nope" in str(exc.value)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff\x00", id="unknown-codec-tag"),
        pytest.param(b"", id="empty"),
        pytest.param(b"m\xc1", id="bad-msgpack"),
        pytest.param(b"j{not json", id="bad-json"),
        pytest.param(b"m" + msgpack.packb(5), id="not-args-kwargs"),
        pytest.param(b"m" + msgpack.packb([[1], [2]]), id="kwargs-not-a-dict"),
    ],
)
def test_undecodable_payload_fails_with_decode_error(
    backend_url: str, prefix: str, payload: bytes
) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        calls: list[object] = []

        @app.task(max_attempts=3)
        async def target(*args: object, **kwargs: object) -> str:
            calls.append((args, kwargs))
            return "ran"

        try:
            job_id = new_job_id()
            body = state_body(task=target.name, max_attempts=3, priority=0, timeout_ms=0, tags=())
            raw = NewJob(job_id, target.name, 0, 0, body, payload)
            reply = await app.async_client().run(enqueue(app.keys(target.queue), [raw]))
            assert reply.stored == [True]
            bad = rtask.Job(app, job_id, target.queue, target.name)

            async with background(app):
                with pytest.raises(rtask.JobFailed):
                    await bad.result(timeout=RESULT_TIMEOUT)
                # the worker survived and runs the next job
                good = await target.enqueue(1, k=2)
                assert await good.result(timeout=RESULT_TIMEOUT) == "ran"
            info = await bad.info()
            assert info.status is JobStatus.FAILED
            assert info.attempt == 1
            assert len(info.errors) == 1
            assert info.errors[0]["type"] == "decode_error"
            assert calls == [((1,), {"k": 2})]
        finally:
            await close(app)

    run(body)


def test_oversize_payload_is_refused_and_nothing_is_stored(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix, max_payload_bytes=64)

        @app.task
        async def take(data: str) -> int:
            return len(data)

        try:
            with pytest.raises(rtask.PayloadTooLarge) as exc:
                await take.enqueue("x" * 100)
            assert isinstance(exc.value, rtask.InvalidInput)
            assert isinstance(exc.value, rtask.RtaskError)
            assert "64" in str(exc.value)
            with pytest.raises(rtask.PayloadTooLarge):
                take.enqueue_sync("x" * 100)
            # one oversize item refuses the whole batch
            with pytest.raises(rtask.PayloadTooLarge):
                await take.enqueue_many([("ok",), ("x" * 100,)])
            assert await stored_keys(app) == []

            small = await take.enqueue("x" * 10)
            await worker(app).run(burst=True)
            assert await small.result(timeout=RESULT_TIMEOUT) == 10
        finally:
            await close(app)

    run(body)


def test_invalid_queue_names(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)
    for bad in ("bad queue", "", "a/b", "q{x}", "x" * 201):
        with pytest.raises(rtask.RtaskError) as exc:

            @app.task(queue=bad)
            async def t() -> None:
                return None

        # A bad queue name in @app.task is reported as InvalidInput (the
        # argument check), not wrapped as a ConfigError.
        assert type(exc.value) is rtask.InvalidInput, type(exc.value)
        with pytest.raises(rtask.InvalidInput):
            app.worker(queues=[bad], handle_signals=False)
        with pytest.raises(rtask.InvalidInput):
            app.keys(bad)
    assert app.tasks == {}


def test_invalid_task_options_are_config_errors(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    async def fn() -> None:
        return None

    def sync_fn() -> None:
        return None

    bad_options: list[dict[str, object]] = [
        {"max_attempts": 0},
        {"max_attempts": 10_001},
        {"priority": 1001},
        {"priority": -1001},
        {"timeout": 0},
        {"timeout": -1},
        {"concurrency": 0},
        {"blocking": True},  # on an async function
        {"backoff": True},
        {"backoff": "fast"},
    ]
    for options in bad_options:
        with pytest.raises(rtask.ConfigError):
            app.task(**options)(fn)  # type: ignore[call-overload]
    with pytest.raises(rtask.InvalidInput):
        app.task(name="bad name")(sync_fn)
    app.task(name="dup")(sync_fn)
    with pytest.raises(rtask.ConfigError):
        app.task(name="dup")(fn)
    assert list(app.tasks) == ["dup"]

    with pytest.raises(rtask.ConfigError):
        rtask.App("http://localhost:1/0")
    with pytest.raises(rtask.ConfigError):
        rtask.App(backend_url, codec="yaml")
    with pytest.raises(rtask.ConfigError):
        rtask.App(backend_url, max_payload_bytes=0)
    with pytest.raises(rtask.InvalidInput):
        rtask.App(backend_url, prefix="bad prefix")
    for worker_options in (
        {"concurrency": 0},
        {"lease_s": 0},
        {"grace_s": -1},
        {"heartbeat_s": 5, "lease_s": 1},
        {"batch_max": 0},
    ):
        with pytest.raises(rtask.ConfigError):
            app.worker(handle_signals=False, **worker_options)


def test_invalid_enqueue_options_are_invalid_input(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def t(n: int = 0) -> int:
            return n

        bad_options: list[dict[str, object]] = [
            {"delay": -1},
            {"delay": -0.001},
            {"delay": math.nan},
            {"delay": math.inf},
            {"delay": "5"},
            {"priority": 1001},
            {"priority": -1001},
            {"priority": 1.5},
            {"priority": True},
            {"id": "has space"},
            {"id": ""},
            {"id": "a/b"},
            {"id": "x" * 129},
            {"at": datetime.now() + timedelta(seconds=5)},  # naive
            {"delay": 1, "at": datetime.now().astimezone()},
            {"timeout": 0},
            {"timeout": -2},
            {"max_attempts": 0},
            {"tags": ["ok", ""]},
        ]
        try:
            for options in bad_options:
                with pytest.raises(rtask.InvalidInput) as exc:
                    await t.options(**options).enqueue()  # type: ignore[arg-type]
                assert isinstance(exc.value, rtask.RtaskError)
                assert isinstance(exc.value, ValueError)
            with pytest.raises(rtask.InvalidInput):
                t.options(priority=5).options(priority=2000)
            with pytest.raises(rtask.InvalidInput):
                t.options().options(nonsense=1)
            assert await stored_keys(app) == []
            # the boundaries themselves are fine
            ok = [
                await t.options(priority=1000).enqueue(),
                await t.options(priority=-1000).enqueue(),
                await t.options(delay=0).enqueue(),
                await t.options(id="A-z_0.9:x" + "y" * 119).enqueue(),
            ]
            await worker(app).run(burst=True)
            for job in ok:
                assert await job.result(timeout=RESULT_TIMEOUT) == 0
        finally:
            await close(app)

    run(body)


def test_existing_id_is_not_overwritten(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        ran: list[int] = []

        @app.task
        async def order(n: int) -> int:
            ran.append(n)
            return n

        try:
            first = await order.options(id="order-42", priority=3, tags=["first"]).enqueue(1)
            assert first.created is True
            assert first.id == "order-42"
            before = await first.info()

            second = await order.options(id="order-42", priority=-7, delay=60).enqueue(2)
            assert second.created is False
            assert second.id == "order-42"
            third = order.options(id="order-42").enqueue_sync(3)
            assert third.created is False

            after = await first.info()
            assert after == before
            assert after.priority == 3
            assert after.tags == ["first"]

            await worker(app).run(burst=True)
            assert await second.result(timeout=RESULT_TIMEOUT) == 1
            assert ran == [1]

            # still refused once the job has finished
            again = await order.options(id="order-42").enqueue(4)
            assert again.created is False
            await worker(app).run(burst=True)
            assert ran == [1]
            assert (await again.info()).result == 1
        finally:
            await close(app)

    run(body)
