"""The lean enqueue path (enqueue_plain.lua): what a producer sees through it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

import rtask
from rtask._task import OVERLAP_MIN
from rtask.testing import drain_sync, frozen_clock

pytestmark = pytest.mark.timeout(30)


def test_enqueue_many_with_ids_refuses_existing_and_repeated_ids(
    backend_url: str, prefix: str
) -> None:
    app = rtask.App(backend_url, prefix=prefix)
    seen: list[int] = []

    @app.task
    def record(n: int) -> None:
        seen.append(n)

    try:
        first = record.options(priority=2).enqueue_sync(
            1,
        )
        jobs = record.enqueue_many_sync([(2,), (3,), (4,), (5,)], ids=["a", first.id, "b", "a"])

        assert [j.created for j in jobs] == [True, False, True, False]
        assert [j.id for j in jobs] == ["a", first.id, "b", "a"]
        assert first.info().priority == 2  # the existing job is untouched
        drain_sync(app)
        assert sorted(seen) == [1, 2, 4]
    finally:
        app.close()


def test_a_large_async_enqueue_many_marks_each_existing_id(backend_url: str, prefix: str) -> None:
    """From OVERLAP_MIN jobs the handles are built while Redis stores the
    jobs; the replies still decide which were created."""
    app = rtask.App(backend_url, prefix=prefix)
    seen: list[int] = []

    @app.task
    def record(n: int) -> None:
        seen.append(n)

    async def body() -> list[rtask.Job[None]]:
        await record.enqueue_many([(0,), (1,)], ids=["i3", "i150"])
        return await record.enqueue_many([(n,) for n in range(200)], ids=ids)

    ids = [f"i{n}" for n in range(199)] + ["i7"]  # i7 twice: the second is refused
    assert OVERLAP_MIN < 200
    try:
        jobs = asyncio.run(body())
        existing = {3, 150, 199}
        assert [j.created for j in jobs] == [n not in existing for n in range(200)]
        assert [j.id for j in jobs] == ids
        drain_sync(app)
        assert sorted(seen) == sorted([0, 1] + [n for n in range(200) if n not in existing])
    finally:
        asyncio.run(app.aclose())
        app.close()


def test_repeated_items_each_run_with_their_arguments(backend_url: str, prefix: str) -> None:
    app = rtask.App(backend_url, prefix=prefix)
    seen: list[Any] = []

    @app.task
    def record(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs))

    try:
        same, kwargs = (7,), {"k": 1}
        items: list[Any] = [same, same, kwargs, (), same, kwargs, ()]
        jobs = record.enqueue_many_sync(items)
        record.enqueue_sync()
        record.enqueue_sync(8)

        assert len({j.id for j in jobs}) == 7
        drain_sync(app)
        assert sorted(map(repr, seen)) == sorted(
            map(repr, [((7,), {})] * 3 + [((), {"k": 1})] * 2 + [((), {})] * 3 + [((8,), {})])
        )
    finally:
        app.close()


class CountingCodec:
    """A user codec: may not be deterministic, so every payload is encoded afresh."""

    tag = b"c"

    def __init__(self) -> None:
        self.dumped = 0

    def dumps(self, value: Any) -> bytes:
        self.dumped += 1
        return orjson.dumps(value)

    def loads(self, data: bytes) -> Any:
        return orjson.loads(data)


def test_a_user_codec_encodes_each_job(backend_url: str, prefix: str) -> None:
    codec = CountingCodec()
    app = rtask.App(backend_url, prefix=prefix, codec=codec)

    @app.task
    def noop() -> None:
        pass

    try:
        noop.enqueue_many_sync([()] * 3)
        noop.enqueue_sync()
        assert codec.dumped == 4
    finally:
        app.close()


@pytest.mark.parametrize("events", [False, True], ids=["lean", "general"])
def test_a_bound_task_with_at_keeps_its_time_at_each_enqueue(
    backend_url: str, prefix: str, events: bool
) -> None:
    """The delay of `at` is computed at each enqueue, on the lean path and on
    the general one (events on), though both keep what does not change."""
    app = rtask.App(backend_url, prefix=prefix, events=events)

    @app.task
    def noop() -> None:
        pass

    try:
        with frozen_clock(app, datetime(2030, 1, 1, tzinfo=UTC)) as clock:
            at = datetime(2030, 1, 1, 1, tzinfo=UTC)
            bound = noop.options(at=at)
            first = bound.enqueue_sync()
            clock.advance(600)
            second = bound.enqueue_sync()
            (third,) = bound.enqueue_many_sync([()])

            for job in (first, second, third):
                assert job.info().scheduled_at == at
    finally:
        app.close()


def test_a_delayed_bound_task_counts_its_delay_from_each_enqueue(
    backend_url: str, prefix: str
) -> None:
    app = rtask.App(backend_url, prefix=prefix)

    @app.task
    def noop() -> None:
        pass

    try:
        start = datetime(2030, 1, 1, tzinfo=UTC)
        with frozen_clock(app, start) as clock:
            bound = noop.options(delay=60)
            first = bound.enqueue_sync()
            clock.advance(10)
            second = bound.enqueue_sync()

            assert first.info().scheduled_at == datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
            assert second.info().scheduled_at == datetime(2030, 1, 1, 0, 1, 10, tzinfo=UTC)
    finally:
        app.close()
