"""`app.remote(name)`: a producer that cannot import the workers' code
enqueues their tasks by name."""

from __future__ import annotations

import asyncio

import pytest

import rtask
from rtask import JobStatus
from rtask.testing import DrainResult, assert_enqueued, drain, drain_sync

pytestmark = pytest.mark.timeout(30)


async def aclose(*apps: rtask.App) -> None:
    """Close the apps' async clients, their pools' connections included
    (AsyncClient.aclose leaves them open on real Redis)."""
    for app in apps:
        await app.async_client().redis.connection_pool.disconnect()
        await app.aclose()


def worker_app(url: str, prefix: str) -> rtask.App:
    """The workers' side: it defines the task."""
    app = rtask.App(url, prefix=prefix)

    @app.task(name="billing.charge", queue="billing")
    def charge(amount: int, currency: str = "EUR") -> str:
        return f"charged {amount} {currency}"

    return app


def test_enqueue_by_name_runs_on_the_worker_that_defines_the_task(
    backend_url: str, prefix: str
) -> None:
    workers = worker_app(backend_url, prefix)
    producer = rtask.App(backend_url, prefix=prefix)  # knows no task
    try:
        charge = producer.remote("billing.charge", queue="billing")
        assert producer.tasks == {}  # a handle is not registered
        assert charge.name == "billing.charge"
        assert charge.queue == "billing"

        job = charge.enqueue_sync(10, currency="USD")
        (plain,) = charge.options(tags=["vip"]).enqueue_many_sync([(5,)])
        assert_enqueued(producer, "billing.charge", queue="billing", count=2)
        assert_enqueued(workers, "billing.charge", args=[10], kwargs={"currency": "USD"})
        assert_enqueued(workers, charge, args=[5], tags=["vip"], count=1)

        assert drain_sync(workers) == DrainResult(claimed=2, succeeded=2)
        assert job.result(timeout=1) == "charged 10 USD"
        assert plain.result(timeout=1) == "charged 5 EUR"
    finally:
        producer.close()
        workers.close()


def test_async_producer_and_job_defaults(backend_url: str, prefix: str) -> None:
    workers = worker_app(backend_url, prefix)
    producer = rtask.App(backend_url, prefix=prefix)

    async def body() -> None:
        try:
            charge = producer.remote("billing.charge", queue="billing", max_attempts=2, priority=7)
            job = await charge.options(delay=0).enqueue(3)
            info = await job.info()
            assert (info.status, info.max_attempts, info.priority) == (JobStatus.QUEUED, 2, 7)
            assert await drain(workers) == DrainResult(claimed=1, succeeded=1)
            assert await job.result(timeout=1) == "charged 3 EUR"
        finally:
            await aclose(producer, workers)

    asyncio.run(body())


def test_calling_a_handle_is_an_error(rtask_app: rtask.App) -> None:
    handle = rtask_app.remote("reports.build")
    with pytest.raises(rtask.RtaskError, match=r"'reports.build' is a by-name handle.*enqueue it"):
        handle(1, 2)


def test_a_registered_name_gives_the_task_itself(rtask_app: rtask.App) -> None:
    @rtask_app.task(name="local.job", queue="local")
    def local_job() -> int:
        return 1

    assert rtask_app.remote("local.job") is local_job
    assert rtask_app.remote("local.job", queue="local") is local_job
    with pytest.raises(rtask.ConfigError, match="registered on queue 'local', not 'other'"):
        rtask_app.remote("local.job", queue="other")


def test_bad_names_and_options_are_refused(rtask_app: rtask.App) -> None:
    with pytest.raises(rtask.InvalidInput, match="invalid task name"):
        rtask_app.remote("no spaces")
    with pytest.raises(rtask.InvalidInput, match="invalid queue name"):
        rtask_app.remote("ok.name", queue="bad queue")
    with pytest.raises(rtask.ConfigError, match="max_attempts"):
        rtask_app.remote("ok.name", max_attempts=0)
