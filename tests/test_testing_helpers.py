"""rtask.testing and the pytest plugin, used the way a user's tests use them.

The end-to-end tests run on memory:// (the plugin's `rtask_app` fixture) and
on real Redis (the suite's `redis_url` + `prefix`); the pure matching and
formatting functions are tested on hand-made records.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

import rtask
from rtask import JobStatus
from rtask._codec import MsgpackCodec, encode
from rtask.testing import (
    DrainResult,
    EnqueuedJob,
    Expectation,
    assert_enqueued,
    assert_enqueued_async,
    check,
    drain,
    drain_sync,
    expectation,
    job_records,
)

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=["memory", "redis"])
def app(request: pytest.FixtureRequest) -> Iterator[rtask.App]:
    """The plugin's rtask_app, or an App on the suite's Redis under a unique prefix."""
    if request.param == "memory":
        memory_app: rtask.App = request.getfixturevalue("rtask_app")
        yield memory_app
        return
    url = request.getfixturevalue("redis_url")
    redis_app = rtask.App(url, prefix=request.getfixturevalue("prefix"))
    try:
        yield redis_app
    finally:
        redis_app.close()


async def aclose(*apps: rtask.App) -> None:
    """Close the apps' async clients, their pools' connections included
    (AsyncClient.aclose leaves them open on real Redis)."""
    for app in apps:
        await app.async_client().redis.connection_pool.disconnect()
        await app.aclose()


def raises_assertion(fn: object, *args: object, **kwargs: object) -> str:
    """The message of the AssertionError `fn(*args, **kwargs)` raises."""
    assert callable(fn)
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------- the plugin


def test_rtask_app_is_a_fresh_memory_app(rtask_app: rtask.App, rtask_memory_url: str) -> None:
    assert rtask_app.url == rtask_memory_url
    assert rtask_memory_url.startswith("memory://rtask-test-")
    assert rtask_app.tasks == {}
    assert assert_enqueued(rtask_app, "anything", count=0) == []


def test_memory_urls_do_not_share_data(rtask_memory_url: str) -> None:
    other = rtask.App(rtask_memory_url.replace("rtask-test-", "rtask-other-"))
    mine = rtask.App(rtask_memory_url)
    try:
        other.remote("t").enqueue_sync()
        assert_enqueued(other, "t", count=1)
        assert_enqueued(mine, "t", count=0)  # another server: nothing shared
    finally:
        other.close()
        mine.close()


USER_TESTS = """
import rtask
from rtask.testing import assert_enqueued, drain_sync


def test_signup(rtask_app):
    sent = []

    @rtask_app.task
    def send_welcome(user_id: int) -> None:
        sent.append(user_id)

    send_welcome.enqueue_sync(7)
    assert_enqueued(rtask_app, send_welcome, args=[7], count=1)
    assert drain_sync(rtask_app).succeeded == 1
    assert sent == [7]
    assert_enqueued(rtask_app, send_welcome, status="succeeded")


def test_each_test_gets_an_empty_app(rtask_app):
    assert rtask_app.tasks == {}
    assert_enqueued(rtask_app, "test_user.send_welcome", count=0)


def test_a_failing_expectation(rtask_app):
    @rtask_app.task(name="emails.send")
    def send(to: str) -> None: ...

    send.enqueue_sync("ann@x.org")
    assert_enqueued(rtask_app, send, args=["bob@x.org"])
"""


def test_a_user_test_module_with_the_plugin(pytester: pytest.Pytester) -> None:
    from rtask import _client

    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    expected = [
        "AssertionError: assert_enqueued: expected at least 1 job matching, found 0",
        "  filter: task='emails.send' queue='default' args=['bob@x.org']",
        "  matching jobs (0):",
        "    (none)",
        "  all jobs of task 'emails.send' in queue 'default' (1):",
    ]
    result.stdout.re_match_lines([rf"E\s+{re.escape(line.strip())}" for line in expected])
    result.stdout.re_match_lines([r"E\s+\w+  queued     args=\['ann@x.org'\] kwargs=\{\} tags="])
    result.stdout.re_match_lines([r"test_user.py:\d+: AssertionError"])  # the user's line
    # the fixtures dropped their in-process servers
    assert not [name for name in _client._memory_servers if name.startswith("rtask-test-")]


def test_the_plugin_is_registered_through_its_entry_point(
    pytestconfig: pytest.Config,
) -> None:
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "rtask"]
    assert entry.value == "rtask.pytest_plugin"
    assert pytestconfig.pluginmanager.has_plugin("rtask")


# ---------------------------------------------------------------- assert_enqueued


def test_at_least_one_and_exactly_n(app: rtask.App) -> None:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    add.enqueue_sync(1, 2)
    add.enqueue_sync(1, 2)
    add.enqueue_sync(3, 4)

    assert len(assert_enqueued(app, add)) == 3
    assert len(assert_enqueued(app, add, count=3)) == 3
    twice = assert_enqueued(app, add, args=[1, 2], count=2)
    assert [job.args for job in twice] == [[1, 2], [1, 2]]
    assert [job.status for job in twice] == [JobStatus.QUEUED, JobStatus.QUEUED]
    (once,) = assert_enqueued(app, add, args=(3, 4))  # a tuple compares as enqueued
    assert once.task == add.name
    assert once.queue == "default"
    assert_enqueued(app, add.name, args=[3, 4], count=1)  # by name
    assert_enqueued(app, add, args=[9, 9], count=0)

    message = raises_assertion(assert_enqueued, app, add, count=2)
    assert message.startswith("assert_enqueued: expected exactly 2 jobs matching, found 3")
    message = raises_assertion(assert_enqueued, app, add, args=[9, 9])
    assert message.startswith("assert_enqueued: expected at least 1 job matching, found 0")


def test_kwargs_and_tags(app: rtask.App) -> None:
    @app.task(queue="emails")
    def send(to: str, subject: str = "", cc: tuple[str, ...] = ()) -> None:
        return None

    send.options(tags=["email", "welcome"]).enqueue_sync(to="ann@x.org", subject="hi")
    send.enqueue_sync("bob@x.org", cc=("a@x.org", "b@x.org"))

    (welcome,) = assert_enqueued(app, send, kwargs={"to": "ann@x.org", "subject": "hi"})
    assert welcome.queue == "emails"
    assert welcome.args == []
    assert welcome.tags == ("email", "welcome")
    # kwargs compare whole: a subset is not a match
    assert_enqueued(app, send, kwargs={"to": "ann@x.org"}, count=0)
    assert_enqueued(app, send, args=["bob@x.org"], kwargs={"cc": ("a@x.org", "b@x.org")}, count=1)
    assert_enqueued(app, "tests.nothing", queue="emails", count=0)
    assert_enqueued(app, send.name, queue="emails", count=2)

    # tags are all-of
    assert_enqueued(app, send, tags=["email"], count=1)
    assert_enqueued(app, send, tags=["welcome", "email"], count=1)
    assert_enqueued(app, send, tags=["email", "other"], count=0)
    assert_enqueued(app, send, tags=[], count=2)


def test_time_window(app: rtask.App) -> None:
    @app.task
    def remind(user: int) -> None:
        return None

    now = datetime.now(UTC)
    remind.enqueue_sync(1)
    remind.options(delay=3600).enqueue_sync(2)
    remind.options(at=now + timedelta(days=2)).enqueue_sync(3)

    half_hour = now + timedelta(minutes=30)
    (soon,) = assert_enqueued(app, remind, scheduled_before=half_hour)
    assert soon.args == [1]
    later = assert_enqueued(app, remind, scheduled_after=half_hour, count=2)
    assert [job.args for job in later] == [[2], [3]]
    assert [job.status for job in later] == [JobStatus.SCHEDULED, JobStatus.SCHEDULED]
    assert_enqueued(
        app,
        remind,
        args=[2],
        scheduled_after=now + timedelta(minutes=50),
        scheduled_before=now + timedelta(minutes=70),
        count=1,
    )
    assert_enqueued(app, remind, scheduled_after=now + timedelta(days=3), count=0)
    assert later[1].scheduled_at is not None
    assert_enqueued(app, remind, scheduled_at=later[1].scheduled_at, args=[3], count=1)


def test_status_filter_after_drain(app: rtask.App) -> None:
    @app.task(max_attempts=1)
    def check_even(n: int) -> int:
        if n % 2:
            raise ValueError(f"{n} is odd")
        return n

    for n in (2, 3, 4):
        check_even.enqueue_sync(n)
    check_even.options(delay=3600).enqueue_sync(6)
    assert_enqueued(app, check_even, status="queued", count=3)
    assert_enqueued(app, check_even, status=JobStatus.SCHEDULED, args=[6], count=1)

    result = drain_sync(app)
    assert result == DrainResult(claimed=3, succeeded=2, retried=1)

    assert_enqueued(app, check_even, count=4)  # any status
    assert_enqueued(app, check_even, status=JobStatus.SUCCEEDED, count=2)
    (odd,) = assert_enqueued(app, check_even, status="failed")
    assert odd.args == [3]
    assert odd.attempt == 1
    assert_enqueued(app, check_even, status=["succeeded", "failed"], count=3)
    assert_enqueued(app, check_even, status="queued", count=0)
    assert_enqueued(app, check_even, status="scheduled", args=[6], count=1)


def test_failing_assertion_lists_the_filter_and_the_jobs(app: rtask.App) -> None:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    @app.task
    async def other(x: int) -> int:
        return x

    first = add.options(tags=["a"]).enqueue_sync(1, 2)
    second = add.options(delay=600).enqueue_sync(3, y=4)
    stranger = other.enqueue_sync(5)

    message = raises_assertion(assert_enqueued, app, add, args=[5, 6], tags=["a"])
    lines = message.splitlines()
    assert lines[0] == "assert_enqueued: expected at least 1 job matching, found 0"
    assert lines[1] == f"  filter: task={add.name!r} queue='default' args=[5, 6] tags all of ['a']"
    assert lines[2:4] == ["  matching jobs (0):", "    (none)"]
    assert lines[4] == f"  all jobs of task {add.name!r} in queue 'default' (2):"
    assert lines[5].startswith(f"    {first.id}  queued     args=[1, 2] kwargs={{}} tags=['a'] ")
    assert lines[6].startswith(
        f"    {second.id}  scheduled  args=[3] kwargs={{'y': 4}} tags=[] scheduled_at=20"
    )
    assert len(lines) == 7
    assert stranger.id not in message

    (queued,) = assert_enqueued(app, add, count=1, status="queued")
    assert queued.id == first.id


def test_exactly_n_failure_lists_the_matching_jobs(app: rtask.App) -> None:
    @app.task
    def ping(n: int) -> None:
        return None

    jobs = [ping.enqueue_sync(n) for n in (1, 2, 3)]
    message = raises_assertion(assert_enqueued, app, ping, count=2, status=["queued"])
    lines = message.splitlines()
    assert lines[0] == "assert_enqueued: expected exactly 2 jobs matching, found 3"
    assert lines[1].endswith("status in ['queued']")
    assert lines[2] == "  matching jobs (3):"
    assert [line.split()[0] for line in lines[3:6]] == [job.id for job in jobs]
    assert lines[6] == f"  all jobs of task {ping.name!r} in queue 'default' (3):"
    assert [line.split()[0] for line in lines[7:]] == [job.id for job in jobs]


def test_bad_arguments_are_refused(app: rtask.App) -> None:
    @app.task(queue="q1")
    def job() -> None:
        return None

    with pytest.raises(rtask.InvalidInput, match="timezone-aware"):
        assert_enqueued(app, job, scheduled_after=datetime(2030, 1, 1))
    with pytest.raises(rtask.InvalidInput, match="'done' is not a valid JobStatus"):
        assert_enqueued(app, job, status="done")
    with pytest.raises(rtask.InvalidInput, match="not one string"):
        assert_enqueued(app, job, tags="urgent")
    with pytest.raises(rtask.InvalidInput, match="is on queue 'q1', not 'q2'"):
        assert_enqueued(app, job, queue="q2")
    with pytest.raises(rtask.InvalidInput, match="count"):
        assert_enqueued(app, job, count=-1)


# ---------------------------------------------------------------- drain


def test_drain_runs_sync_and_async_tasks_retries_and_leaves_delayed_jobs(app: rtask.App) -> None:
    ran: list[tuple[str, int]] = []

    @app.task
    async def double(n: int) -> int:
        ran.append(("double", n))
        return 2 * n

    @app.task(backoff=0, max_attempts=3)
    def flaky(n: int) -> int:  # runs in a thread
        ran.append(("flaky", n))
        if sum(1 for name, _ in ran if name == "flaky") < 3:
            raise ConnectionError("try again")
        return n + 100

    a = double.enqueue_sync(1)
    b = flaky.enqueue_sync(2)
    later = double.options(delay=3600).enqueue_sync(3)

    result = drain_sync(app)

    assert result == DrainResult(claimed=4, succeeded=2, retried=2)
    assert result.ran == 4
    assert sorted(ran) == [("double", 1), ("flaky", 2), ("flaky", 2), ("flaky", 2)]
    assert a.result(timeout=1) == 2
    assert b.result(timeout=1) == 102
    info = b.info()
    assert info.status is JobStatus.SUCCEEDED
    assert info.attempt == 3
    assert [e["type"] for e in info.errors] == ["error", "error"]
    assert "ConnectionError: try again" in info.errors[0]["message"]
    assert later.info().status is JobStatus.SCHEDULED  # not due: not run
    assert later.info().attempt == 0
    assert_enqueued(app, double, args=[3], status="scheduled", count=1)

    assert drain_sync(app) == DrainResult()  # nothing due any more


def test_drain_with_nothing_enqueued(app: rtask.App) -> None:
    @app.task(queue="idle")
    def noop() -> None:
        return None

    assert drain_sync(app) == DrainResult()
    assert drain_sync(app, queues=["idle", "default"], concurrency=2) == DrainResult()


def test_async_helpers(app: rtask.App) -> None:
    results: list[int] = []

    @app.task(queue="math")
    async def square(n: int) -> int:
        results.append(n * n)
        return n * n

    async def body() -> None:
        try:
            jobs = await square.enqueue_many([(2,), (3,)])
            await square.options(tags=["t"]).enqueue(4)
            await assert_enqueued_async(app, square, count=3)
            await assert_enqueued_async(app, square, args=[4], tags=["t"], count=1)
            with pytest.raises(AssertionError, match=r"found 0\n  filter: .* args=\[5\]"):
                await assert_enqueued_async(app, square, args=[5])

            with pytest.raises(rtask.RtaskError, match=r"use `await rtask.testing.drain"):
                drain_sync(app)

            result = await drain(app, queues=["math"])
            assert result == DrainResult(claimed=3, succeeded=3)
            assert sorted(results) == [4, 9, 16]
            assert [await job.result(timeout=1) for job in jobs] == [4, 9]
            await assert_enqueued_async(app, square, status="succeeded", count=3)
        finally:
            await aclose(app)

    asyncio.run(body())


def test_drain_fails_jobs_of_tasks_the_app_does_not_define(rtask_app: rtask.App) -> None:
    handle = rtask_app.remote("elsewhere.task")
    job = handle.enqueue_sync(1)
    assert drain_sync(rtask_app) == DrainResult(claimed=1, failed=1)
    info = job.info()
    assert info.status is JobStatus.FAILED
    assert info.errors[-1]["type"] == "unknown_task"


# ---------------------------------------------------------------- pure core


NOW = datetime(2030, 1, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def record(
    job_id: str = "j1",
    *,
    task: str = "t",
    status: JobStatus = JobStatus.QUEUED,
    args: list[object] | None = None,
    kwargs: dict[str, object] | None = None,
    tags: tuple[str, ...] = (),
    at: datetime | None = NOW,
) -> EnqueuedJob:
    return EnqueuedJob(
        id=job_id,
        queue="default",
        task=task,
        status=status,
        args=list(args or []),
        kwargs=dict(kwargs or {}),
        tags=tags,
        scheduled_at=at,
    )


def state(task: str, status: str, due_ms: int, **extra: object) -> bytes:
    body = {"t": task, "s": status, "a": 0, "m": 5, "p": 0, "c": 0, "due": due_ms, "ct": 1}
    return orjson.dumps({**body, **extra})


def test_job_records_pairs_states_with_payloads() -> None:
    codec = MsgpackCodec()
    fields: dict[bytes | str, bytes] = {
        b"a": state("t", "scheduled", NOW_MS - 1, tg=["x"]),
        b"a:p": encode(codec, [[1, 2], {"k": "v"}]),
        b"a:e": b"[]",
        "b": state("t", "scheduled", NOW_MS + 1000),
        "b:p": encode(codec, [[3], {}]),
        b"c": state("t", "succeeded", NOW_MS - 5),
        b"c:p": b"?garbage",
        b"c:r": encode(codec, 3),
        b"d": state("other", "running", NOW_MS),
        b"d:p": encode(codec, [[], {}]),
    }
    records = job_records("default", fields, NOW_MS)
    assert [(r.id, r.task, r.status) for r in records] == [
        ("a", "t", JobStatus.QUEUED),  # due: reported queued, as Job.info() does
        ("b", "t", JobStatus.SCHEDULED),
        ("c", "t", JobStatus.SUCCEEDED),
        ("d", "other", JobStatus.RUNNING),
    ]
    a, b, c, _ = records
    assert (a.args, a.kwargs, a.tags, a.payload_error) == ([1, 2], {"k": "v"}, ("x",), None)
    assert a.scheduled_at == NOW - timedelta(milliseconds=1)
    assert (b.args, b.kwargs) == ([3], {})
    assert c.payload_error == "payload has unknown codec tag b'?'"
    assert "args=<payload has unknown codec tag" in c.describe()
    assert [r.id for r in job_records("default", fields, NOW_MS, task="t")] == ["a", "b", "c"]


def test_expectation_matches() -> None:
    base = Expectation(task="t", queue="default")
    job = record(args=[1], kwargs={"k": 2}, tags=("a", "b"))
    assert base.matches(job)
    assert not base.matches(record(task="u"))
    assert Expectation("t", "default", args=[1]).matches(job)
    assert not Expectation("t", "default", args=[1, 2]).matches(job)
    assert not Expectation("t", "default", args=[]).matches(job)
    assert Expectation("t", "default", kwargs={"k": 2}).matches(job)
    assert not Expectation("t", "default", kwargs={}).matches(job)
    assert Expectation("t", "default", tags=("b", "a")).matches(job)
    assert not Expectation("t", "default", tags=("a", "c")).matches(job)
    queued = frozenset({JobStatus.QUEUED})
    assert Expectation("t", "default", statuses=queued).matches(job)
    assert not Expectation("t", "default", statuses=frozenset({JobStatus.FAILED})).matches(job)
    broken = EnqueuedJob("x", "default", "t", JobStatus.QUEUED, [], {}, (), NOW, payload_error="e")
    assert base.matches(broken)
    assert not Expectation("t", "default", args=[]).matches(broken)
    assert not Expectation("t", "default", kwargs={}).matches(broken)


def test_time_bounds_are_strict() -> None:
    job = record(at=NOW)
    second = timedelta(seconds=1)
    assert Expectation("t", "q", scheduled_after=NOW - second).matches(job)
    assert not Expectation("t", "q", scheduled_after=NOW).matches(job)
    assert Expectation("t", "q", scheduled_before=NOW + second).matches(job)
    assert not Expectation("t", "q", scheduled_before=NOW).matches(job)
    assert Expectation("t", "q", scheduled_at=NOW).matches(job)
    assert not Expectation("t", "q", scheduled_at=NOW + second).matches(job)
    unscheduled = record(at=None)
    assert Expectation("t", "q").matches(unscheduled)
    assert not Expectation("t", "q", scheduled_before=NOW).matches(unscheduled)


def test_check_counts() -> None:
    jobs = [
        record("1", args=[1]),
        record("2", args=[1]),
        record("3", args=[2]),
        record("4", task="u"),
    ]
    assert [j.id for j in check(Expectation("t", "default"), jobs)] == ["1", "2", "3"]
    assert [j.id for j in check(Expectation("t", "default", args=[1], count=2), jobs)] == ["1", "2"]
    assert check(Expectation("t", "default", args=[3], count=0), jobs) == []
    assert check(Expectation("none", "default", count=0), jobs) == []
    with pytest.raises(AssertionError, match="expected exactly 1 job matching, found 2"):
        check(Expectation("t", "default", args=[1], count=1), jobs)
    with pytest.raises(AssertionError, match="expected at least 1 job matching, found 0"):
        check(Expectation("u", "default", args=[9]), jobs)


def test_failure_message_format() -> None:
    jobs = [
        record("1", args=[1], kwargs={"k": "v"}, tags=("a",)),
        record("2", status=JobStatus.FAILED, args=[2], at=NOW + timedelta(hours=1)),
    ]
    expect = Expectation(
        "t",
        "default",
        args=[2],
        tags=("a",),
        scheduled_after=NOW,
        statuses=frozenset({JobStatus.FAILED, JobStatus.SUCCEEDED}),
        count=1,
    )
    with pytest.raises(AssertionError) as info:
        check(expect, jobs)
    assert str(info.value).splitlines() == [
        "assert_enqueued: expected exactly 1 job matching, found 0",
        "  filter: task='t' queue='default' args=[2] tags all of ['a']"
        " scheduled_after=2030-01-01T00:00:00.000+00:00 status in ['failed', 'succeeded']",
        "  matching jobs (0):",
        "    (none)",
        "  all jobs of task 't' in queue 'default' (2):",
        "    1  queued     args=[1] kwargs={'k': 'v'} tags=['a']"
        " scheduled_at=2030-01-01T00:00:00.000+00:00",
        "    2  failed     args=[2] kwargs={} tags=[] scheduled_at=2030-01-01T01:00:00.000+00:00",
    ]


def test_expectation_builder_resolves_tasks_and_normalizes_arguments(rtask_app: rtask.App) -> None:
    @rtask_app.task(queue="emails")
    def send(to: str) -> None:
        return None

    by_task = expectation(rtask_app, send, args=("a", (1, 2)), kwargs={"n": (3,)})
    assert (by_task.task, by_task.queue) == (send.name, "emails")
    assert by_task.args == ["a", [1, 2]]  # as the codec gives them back
    assert by_task.kwargs == {"n": [3]}
    assert expectation(rtask_app, send.name).queue == "emails"  # a registered name
    assert expectation(rtask_app, "elsewhere").queue == "default"
    assert expectation(rtask_app, "elsewhere", queue="q").queue == "q"
    assert expectation(rtask_app, send, status="queued").statuses == {JobStatus.QUEUED}
    assert expectation(rtask_app, send, status=["failed", JobStatus.CANCELLED]).statuses == {
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    }


def test_drain_result_from_worker_stats() -> None:
    stats = {
        "claimed": 7,
        "outcome.succeeded": 3,
        "outcome.retry": 2,
        "outcome.failed": 1,
        "outcome.snoozed": 1,
        "finish.applied": 7,
    }
    result = DrainResult.from_stats(stats)
    assert result == DrainResult(claimed=7, succeeded=3, retried=2, failed=1, snoozed=1)
    assert result.ran == 7
