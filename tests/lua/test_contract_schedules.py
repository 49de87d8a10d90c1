"""Schedules in Lua: schedule.lua (create, upsert), the follow-ups of finish.lua,
cancel.lua and recover.lua freeing a schedule, plan.lua, trigger.lua,
unschedule.lua and the schedules.lua read. Every call passes an explicit now;
the `client` fixture checks the schedule invariants of `_state.py` after each
call (one unfinished job per schedule, `a` names it, pending = free and not
stopped, a tick's job is "<sid>:<tick>")."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import redis

from rtask import _protocol as proto
from rtask import _protocol_schedules as ps
from rtask._client import SyncClient
from rtask._keys import QueueKeys
from rtask._timing import IDLE, STOP
from tests.lua._state import (
    NOW,
    assert_invariants,
    cancel,
    claim,
    enqueue,
    finish,
    new_job,
    outcome,
    ready_score,
    recover,
    snapshot,
    wake_listener,
)

TASKS = ("t", "u")
Code = proto.OutcomeCode
Result = proto.FinishResult
Created = ps.ScheduleResult
Plan = ps.PlanResult
Trig = ps.TriggerResult
Stop = ps.StopResult

SID = "s1"
EVERY = 60_000
T1 = NOW + EVERY  # a tick in the future
T2 = NOW + 2 * EVERY
T3 = NOW + 3 * EVERY
BOTH = (("t", 0), ("u", 0))


# ---------------------------------------------------------------- helpers


def stored(
    sid: str = SID,
    first: int = T1,
    *,
    task: str = "t",
    hash: str = "h1",
    priority: int = 0,
    max_attempts: int = 3,
    payload: bytes = b"args",
) -> ps.StoredSchedule:
    """A schedule as schedule.lua stores it (definition and template made up here)."""
    body = proto.state_body(
        task=task, max_attempts=max_attempts, priority=priority, timeout_ms=0, tags=()
    )
    definition = orjson.dumps({"task": task, "every_ms": EVERY, "version_of": hash})
    return ps.StoredSchedule(sid, task, priority, hash, definition, body, payload, first)


def add(
    client: SyncClient,
    keys: QueueKeys,
    *entries: ps.StoredSchedule,
    upsert: bool = True,
    now: int = NOW,
) -> list[ps.ScheduleResult]:
    return client.run(ps.schedule(keys, entries, upsert=upsert, now_ms=now))


def plan(
    client: SyncClient, keys: QueueKeys, *ticks: ps.PlannedTick, now: int
) -> list[ps.PlanResult]:
    return client.run(ps.plan(keys, ticks, now_ms=now))


def trigger(
    client: SyncClient, keys: QueueKeys, sid: str = SID, *, task: str = "t", now: int
) -> tuple[ps.TriggerResult, str]:
    return client.run(ps.trigger(keys, sid, task=task, now_ms=now))


def unschedule(
    client: SyncClient,
    keys: QueueKeys,
    sid: str = SID,
    *,
    cancel_active: bool,
    now: int,
    task: str = "t",
    reason: str = "not needed",
) -> ps.StopReply:
    call = ps.unschedule(
        keys, sid, task=task, cancel_active=cancel_active, reason=reason, now_ms=now
    )
    return client.run(call)


def read(client: SyncClient, keys: QueueKeys, *ids: str) -> ps.SchedulesReply:
    return client.run(ps.read_schedules(keys, ids))


def tick_job(
    tick: int,
    *,
    sid: str = SID,
    ct: int = NOW,
    version: int = 1,
    task: str = "t",
    priority: int = 0,
    max_attempts: int = 3,
) -> dict[str, Any]:
    """The state of the waiting job a schedule creates for `tick`."""
    return {
        "ct": ct,
        "due": tick,
        "sc": sid,
        "tk": tick,
        "sv": version,
        "t": task,
        "s": "scheduled",
        "a": 0,
        "m": max_attempts,
        "p": priority,
        "c": 0,
        "to": 0,
    }


def record(**fields: Any) -> dict[str, Any]:
    """A schedule's record: task t, priority 0, hash h1, version 1, created
    and updated at NOW, then `fields` (a field given as None is absent)."""
    rec = {"t": "t", "p": 0, "h": "h1", "v": 1, "ct": NOW, "ut": NOW} | fields
    return {k: v for k, v in rec.items() if v is not None}


def jid(tick: int, sid: str = SID) -> str:
    return f"{sid}:{tick}"


def running_job(
    client: SyncClient,
    keys: QueueKeys,
    entry: ps.StoredSchedule | None = None,
    *,
    now: int = NOW,
    lease_ms: int = 30_000,
) -> proto.ClaimedJob:
    """Create a schedule whose first tick is `now` and claim that job at `now`."""
    entry = entry or stored(first=now)
    assert add(client, keys, entry, now=now) == [Created.CREATED]
    (job,) = claim(client, keys, 1, tasks=BOTH, now=now, lease_ms=lease_ms).jobs
    assert job.id == jid(entry.first, entry.id)
    return job


def pending_after_cancel(client: SyncClient, keys: QueueKeys, *, now: int) -> None:
    """Schedule SID (first tick T1), then cancel its waiting job at `now`: SID is pending."""
    assert add(client, keys, stored()) == [Created.CREATED]
    assert cancel(client, keys, jid(T1), now=now) == proto.CancelResult.CANCELLED
    assert snapshot(client, keys).pending == {SID: now}


# ---------------------------------------------------------------- schedule.lua: create


def test_create_places_the_first_job_in_scheduled(client: SyncClient, keys: QueueKeys) -> None:
    entry = stored(priority=2)
    with wake_listener(client, keys) as wake:
        assert add(client, keys, entry) == [Created.CREATED]
        assert wake.published() == [b"1"]  # the earliest scheduled job of its task

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(p=2, a=jid(T1), lt=T1)}
    assert state.schedule_fields(SID) == {
        SID: record(p=2, a=jid(T1), lt=T1),
        SID + ":d": orjson.loads(entry.definition),
        SID + ":b": entry.body,
        SID + ":p": b"args",
    }
    assert state.jobs == {jid(T1): tick_job(T1, priority=2)}
    assert state.payload(jid(T1)) == b"args"
    assert state.scheduled() == {jid(T1): T1}
    assert state.ready() == {}
    assert state.set(keys.tasks) == {"t"}
    assert state.pending == {}


def test_create_with_a_tick_due_now_goes_to_ready(client: SyncClient, keys: QueueKeys) -> None:
    with wake_listener(client, keys) as wake:
        assert add(client, keys, stored(first=NOW - 5, priority=-3)) == [Created.CREATED]
        assert wake.published() == [b"1"]

    state = assert_invariants(client, keys, TASKS)
    assert state.jobs == {jid(NOW - 5): tick_job(NOW - 5, priority=-3)}
    assert state.ready() == {jid(NOW - 5): ready_score(-3, NOW - 5)}
    assert state.scheduled() == {}
    assert state.schedules == {SID: record(p=-3, a=jid(NOW - 5), lt=NOW - 5)}


def test_create_several_schedules_of_several_tasks(client: SyncClient, keys: QueueKeys) -> None:
    results = add(client, keys, stored("a", T1), stored("b", T2, task="u"), stored("c", STOP))

    assert results == [Created.CREATED] * 3
    state = assert_invariants(client, keys, TASKS)
    assert state.set(keys.tasks) == {"t", "u"}
    assert state.schedules == {
        "a": record(a=jid(T1, "a"), lt=T1),
        "b": record(t="u", a=jid(T2, "b"), lt=T2),
        "c": record(x=NOW, xr="ended"),
    }
    assert state.jobs == {
        jid(T1, "a"): tick_job(T1, sid="a"),
        jid(T2, "b"): tick_job(T2, sid="b", task="u"),
    }
    assert state.scheduled("t") == {jid(T1, "a"): T1}
    assert state.scheduled("u") == {jid(T2, "b"): T2}


def test_wake_is_published_only_when_needed(client: SyncClient, keys: QueueKeys) -> None:
    enqueue(client, keys, [new_job("r1"), new_job("w1", delay_ms=1000)])
    with wake_listener(client, keys) as wake:
        assert add(client, keys, stored("a", NOW)) == [Created.CREATED]
        assert wake.published() == []  # ready was not empty
        assert add(client, keys, stored("b", NOW + 5000)) == [Created.CREATED]
        assert wake.published() == []  # not before the earliest scheduled job
        assert add(client, keys, stored("c", STOP), stored("d", IDLE)) == [Created.CREATED] * 2
        assert wake.published() == []  # no job
        assert add(client, keys, stored("e", NOW + 500)) == [Created.CREATED]
        assert wake.published() == [b"1"]  # due before every other scheduled job

    state = assert_invariants(client, keys, TASKS)
    assert state.ready() == {"r1": ready_score(0, NOW), jid(NOW, "a"): ready_score(0, NOW)}
    assert state.scheduled() == {
        jid(NOW + 500, "e"): NOW + 500,
        "w1": NOW + 1000,
        jid(NOW + 5000, "b"): NOW + 5000,
    }


def test_first_stop_stores_a_stopped_schedule(client: SyncClient, keys: QueueKeys) -> None:
    with wake_listener(client, keys) as wake:
        assert add(client, keys, stored(first=STOP)) == [Created.CREATED]
        assert wake.published() == []

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(x=NOW, xr="ended")}
    assert set(state.schedule_fields(SID)) == {SID, SID + ":d", SID + ":b", SID + ":p"}
    assert state.jobs == {}
    assert state.pending == {}


def test_first_idle_stores_a_manual_schedule(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored(first=IDLE)) == [Created.CREATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record()}  # no active job, not stopped, not pending
    assert state.jobs == {}
    assert state.pending == {}


def test_first_tick_whose_job_exists_makes_the_schedule_pending(
    client: SyncClient, keys: QueueKeys
) -> None:
    enqueue(client, keys, [new_job(jid(T1), delay_ms=EVERY)])
    before = snapshot(client, keys).job(jid(T1))

    assert add(client, keys, stored(), now=NOW + 10) == [Created.CREATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T1, ct=NOW + 10, ut=NOW + 10)}
    assert state.pending == {SID: NOW + 10}
    assert state.job(jid(T1)) == before  # the job of that id is not touched
    assert state.scheduled() == {jid(T1): T1}


# ---------------------------------------------------------------- schedule.lua: upsert


@pytest.mark.parametrize("upsert", [True, False])
def test_same_hash_writes_nothing(client: SyncClient, keys: QueueKeys, upsert: bool) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    before = snapshot(client, keys)

    with wake_listener(client, keys) as wake:
        results = add(client, keys, stored(first=T2), upsert=upsert, now=NOW + 10)
        assert wake.published() == []

    assert results == [Created.UNCHANGED]
    assert snapshot(client, keys) == before


@pytest.mark.parametrize("new_first", [T1, T2])
def test_new_hash_replaces_the_waiting_job(
    client: SyncClient, keys: QueueKeys, new_first: int
) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    entry = stored(first=new_first, hash="h2", priority=1, max_attempts=5, payload=b"new")

    assert add(client, keys, entry, now=NOW + 10) == [Created.UPDATED]

    state = assert_invariants(client, keys, TASKS)
    rec = record(h="h2", v=2, p=1, a=jid(new_first), lt=new_first, ut=NOW + 10)
    assert state.schedule_fields(SID) == {
        SID: rec,
        SID + ":d": orjson.loads(entry.definition),
        SID + ":b": entry.body,
        SID + ":p": b"new",
    }
    job = tick_job(new_first, ct=NOW + 10, version=2, priority=1, max_attempts=5)
    assert state.jobs == {jid(new_first): job}
    assert state.payload(jid(new_first)) == b"new"
    assert state.scheduled() == {jid(new_first): new_first}
    assert state.zset(keys.cancelled) == {}  # replaced, not cancelled
    assert state.pending == {}


def test_new_hash_replaces_a_waiting_job_that_is_due(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored(first=NOW)) == [Created.CREATED]

    assert add(client, keys, stored(first=T1, hash="h2"), now=NOW + 10) == [Created.UPDATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.jobs == {jid(T1): tick_job(T1, ct=NOW + 10, version=2)}
    assert state.ready() == {}
    assert state.scheduled() == {jid(T1): T1}


def test_new_hash_leaves_a_running_job_alone_then_plans_anew(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = running_job(client, keys)

    assert add(client, keys, stored(first=T1, hash="h2"), now=NOW + 10) == [Created.UPDATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(h="h2", v=2, a=job.id, lt=NOW, ut=NOW + 10)}
    assert state.jobs == {job.id: job.state}
    assert state.running == {job.id: NOW + 30_000}

    # Its end cannot follow up on the old version: the schedule becomes pending.
    done = outcome(job, Code.SUCCEEDED, next=T1)
    assert finish(client, keys, [done], now=NOW + 20) == [Result.APPLIED]
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(h="h2", v=2, lt=NOW, ut=NOW + 10)}
    assert state.pending == {SID: NOW + 20}
    assert state.jobs == {job.id: {**job.state, "s": "succeeded", "ft": NOW + 20}}


def test_new_hash_leaves_a_retrying_job_alone(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)
    finish(client, keys, [outcome(job, Code.RETRY, delay_ms=500, next=T1)], now=NOW + 10)
    retrying = snapshot(client, keys).job(job.id)

    assert add(client, keys, stored(first=T1, hash="h2"), now=NOW + 20) == [Created.UPDATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(h="h2", v=2, a=job.id, lt=NOW, ut=NOW + 20)}
    assert state.jobs == {job.id: retrying}
    assert state.scheduled() == {job.id: NOW + 510}


def test_new_hash_reactivates_a_stopped_schedule(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored(first=STOP)) == [Created.CREATED]

    assert add(client, keys, stored(first=T1, hash="h2"), now=NOW + 10) == [Created.UPDATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(h="h2", v=2, a=jid(T1), lt=T1, ut=NOW + 10)}
    assert state.jobs == {jid(T1): tick_job(T1, ct=NOW + 10, version=2)}


def test_new_hash_of_a_pending_schedule_creates_its_job(
    client: SyncClient, keys: QueueKeys
) -> None:
    pending_after_cancel(client, keys, now=NOW + 5)

    assert add(client, keys, stored(first=T2, hash="h2"), now=NOW + 10) == [Created.UPDATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.pending == {}
    assert state.schedules == {SID: record(h="h2", v=2, a=jid(T2), lt=T2, ut=NOW + 10)}
    assert state.job(jid(T2)) == tick_job(T2, ct=NOW + 10, version=2)
    assert state.job(jid(T1))["s"] == "cancelled"


@pytest.mark.parametrize(("first", "stop"), [(STOP, {"x": NOW + 10, "xr": "ended"}), (IDLE, {})])
def test_new_hash_without_a_tick_drops_the_waiting_job(
    client: SyncClient, keys: QueueKeys, first: int, stop: dict[str, Any]
) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]

    assert add(client, keys, stored(first=first, hash="h2"), now=NOW + 10) == [Created.UPDATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(h="h2", v=2, lt=T1, ut=NOW + 10, **stop)}
    assert state.jobs == {}
    assert state.scheduled() == {}
    assert state.pending == {}


def test_mode_new_leaves_existing_ids_untouched(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    before = snapshot(client, keys)

    results = add(client, keys, stored(first=T2, hash="h2"), upsert=False, now=NOW + 10)

    assert results == [Created.UNCHANGED]
    assert snapshot(client, keys) == before
    # ...while a new id in the same call is created
    results = add(client, keys, stored(hash="h2"), stored("s2", T2), upsert=False, now=NOW + 20)
    assert results == [Created.UNCHANGED, Created.CREATED]
    state = assert_invariants(client, keys, TASKS)
    assert state.schedule(SID) == before.schedule(SID)
    assert state.schedule("s2") == record(a=jid(T2, "s2"), lt=T2, ct=NOW + 20, ut=NOW + 20)


def test_id_of_another_task_is_refused(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    before = snapshot(client, keys)

    results = add(client, keys, stored(task="u", hash="h2", first=NOW), now=NOW + 10)

    assert results == [Created.OTHER_TASK]
    state = assert_invariants(client, keys, TASKS)
    assert state.hash(keys.schedules) == before.hash(keys.schedules)
    assert state.jobs == before.jobs
    assert state.ready("u") == {} and state.scheduled("u") == {}


def test_id_of_another_task_writes_nothing(client: SyncClient, keys: QueueKeys) -> None:
    """REPORTED BUG: schedule.lua adds every task name to the `tasks` set up
    front, so a refused schedule (-4) still records task "u" on the queue."""
    assert add(client, keys, stored()) == [Created.CREATED]
    before = snapshot(client, keys)

    assert add(client, keys, stored(task="u", hash="h2"), now=NOW + 10) == [Created.OTHER_TASK]

    after = snapshot(client, keys)
    assert after.set(keys.tasks) == {"t"}  # fails: {"t", "u"}
    assert after == before


def test_update_keeps_a_cancelled_job_still_running_active(
    client: SyncClient, keys: QueueKeys
) -> None:
    """REPORTED BUG: schedule.lua treats an active job with `ft` as ended and
    plans a new first job, but a job cancelled while running keeps running
    (and holds its slot) until its worker acknowledges: the schedule then has
    two unfinished jobs, and the cancelled one is no longer its active job."""
    job = running_job(client, keys)
    assert cancel(client, keys, job.id, now=NOW + 5) == proto.CancelResult.REQUESTED

    assert add(client, keys, stored(first=T1, hash="h2"), now=NOW + 10) == [Created.UPDATED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(h="h2", v=2, a=job.id, lt=NOW, ut=NOW + 10)}
    assert set(state.jobs) == {job.id}


# ---------------------------------------------------------------- finish.lua: follow-ups


ENDINGS = [
    (Code.SUCCEEDED, 3, "succeeded"),
    (Code.FAILED, 3, "failed"),
    (Code.CANCELLED, 3, "cancelled"),
    (Code.RETRY, 1, "failed"),  # the last attempt
]


@pytest.mark.parametrize(("code", "max_attempts", "status"), ENDINGS)
def test_end_creates_the_next_job(
    client: SyncClient, keys: QueueKeys, code: proto.OutcomeCode, max_attempts: int, status: str
) -> None:
    job = running_job(client, keys, stored(first=NOW, max_attempts=max_attempts))

    with wake_listener(client, keys) as wake:
        done = outcome(job, code, next=T1)
        assert finish(client, keys, [done], tasks=BOTH, now=NOW + 10) == [Result.APPLIED]
        assert wake.published() == [b"1"]  # the earliest scheduled job

    state = assert_invariants(client, keys, TASKS)
    assert state.job(job.id) == {**job.state, "s": status, "ft": NOW + 10}
    assert state.job(jid(T1)) == tick_job(T1, ct=NOW + 10, max_attempts=max_attempts)
    assert set(state.jobs) == {job.id, jid(T1)}
    assert state.schedules == {SID: record(a=jid(T1), lt=T1)}
    assert state.scheduled() == {jid(T1): T1}
    assert state.zset(keys.base + status) == {job.id: NOW + 10}
    assert state.pending == {}
    assert state.running == {}


def test_next_job_due_now_is_ready(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys, stored(first=NOW, priority=4))

    with wake_listener(client, keys) as wake:
        done = outcome(job, Code.SUCCEEDED, next=NOW + 5)
        assert finish(client, keys, [done], now=NOW + 10) == [Result.APPLIED]
        assert wake.published() == [b"1"]

    state = assert_invariants(client, keys, TASKS)
    assert state.ready() == {jid(NOW + 5): ready_score(4, NOW + 5)}
    assert state.job(jid(NOW + 5)) == tick_job(NOW + 5, ct=NOW + 10, priority=4)
    assert state.schedules == {SID: record(p=4, a=jid(NOW + 5), lt=NOW + 5)}


@pytest.mark.parametrize(
    ("code", "status", "place"),
    [(Code.RETRY, "retrying", "scheduled"), (Code.SNOOZED, "scheduled", "scheduled")],
)
def test_unended_job_keeps_the_schedule(
    client: SyncClient, keys: QueueKeys, code: proto.OutcomeCode, status: str, place: str
) -> None:
    job = running_job(client, keys)

    done = outcome(job, code, delay_ms=500, next=T1)
    assert finish(client, keys, [done], now=NOW + 10) == [Result.APPLIED]

    state = assert_invariants(client, keys, TASKS)
    assert set(state.jobs) == {job.id}
    assert state.job(job.id)["s"] == status
    assert state.scheduled() == {job.id: NOW + 510}
    assert state.schedules == {SID: record(a=job.id, lt=NOW)}
    assert state.pending == {}


def test_released_job_keeps_the_schedule(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)

    done = outcome(job, Code.RELEASED, next=T1)
    assert finish(client, keys, [done], now=NOW + 10) == [Result.APPLIED]

    state = assert_invariants(client, keys, TASKS)
    assert state.jobs == {job.id: {**job.state, "s": "scheduled", "a": 0}}
    assert state.ready() == {job.id: ready_score(0, NOW)}
    assert state.schedules == {SID: record(a=job.id, lt=NOW)}


def test_next_stop_ends_the_schedule(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)

    assert finish(client, keys, [outcome(job, Code.SUCCEEDED, next=STOP)], now=NOW + 10) == [
        Result.APPLIED
    ]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=NOW, x=NOW + 10, xr="ended")}
    assert set(state.jobs) == {job.id}
    assert state.pending == {}


def test_next_idle_frees_without_pending(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)

    assert finish(client, keys, [outcome(job, Code.FAILED, next=IDLE)], now=NOW + 10) == [
        Result.APPLIED
    ]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=NOW)}
    assert set(state.jobs) == {job.id}
    assert state.pending == {}


def test_next_not_computed_makes_the_schedule_pending(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)

    assert finish(client, keys, [outcome(job, Code.SUCCEEDED)], now=NOW + 10) == [Result.APPLIED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=NOW)}
    assert state.pending == {SID: NOW + 10}
    assert set(state.jobs) == {job.id}


def test_next_without_the_tasks_keys_makes_the_schedule_pending(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = running_job(client, keys)

    done = outcome(job, Code.SUCCEEDED, next=T1)
    assert finish(client, keys, [done], tasks=(("u", 0),), now=NOW + 10) == [Result.APPLIED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=NOW)}
    assert state.pending == {SID: NOW + 10}
    assert set(state.jobs) == {job.id}


def test_next_tick_whose_job_exists_makes_the_schedule_pending(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = running_job(client, keys)
    enqueue(client, keys, [new_job(jid(T1), delay_ms=EVERY)])
    other = snapshot(client, keys).job(jid(T1))

    assert finish(client, keys, [outcome(job, Code.SUCCEEDED, next=T1)], now=NOW + 10) == [
        Result.APPLIED
    ]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T1)}  # the last tick moved on
    assert state.pending == {SID: NOW + 10}
    assert state.job(jid(T1)) == other


def test_job_cancelled_while_running_follows_up_when_acknowledged(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = running_job(client, keys)
    assert cancel(client, keys, job.id, now=NOW + 5) == proto.CancelResult.REQUESTED
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(a=job.id, lt=NOW)}  # still running
    assert state.pending == {}

    done = outcome(job, Code.SUCCEEDED, next=T1)
    assert finish(client, keys, [done], now=NOW + 10) == [Result.CANCELLED_MEANWHILE]

    state = assert_invariants(client, keys, TASKS)
    assert state.job(job.id)["s"] == "cancelled"
    assert state.job(jid(T1)) == tick_job(T1, ct=NOW + 10)
    assert state.schedules == {SID: record(a=jid(T1), lt=T1)}


def test_stopped_schedule_gets_no_follow_up(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)
    reply = unschedule(client, keys, cancel_active=False, now=NOW + 5)
    assert reply == ps.StopReply(Stop.STOPPED, job.id, None)

    assert finish(client, keys, [outcome(job, Code.SUCCEEDED, next=T1)], now=NOW + 10) == [
        Result.APPLIED
    ]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=NOW, x=NOW + 5, xr="not needed")}
    assert set(state.jobs) == {job.id}
    assert state.pending == {}


def test_stale_outcome_of_a_schedule_job_changes_nothing(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = running_job(client, keys)
    before = snapshot(client, keys)

    stale = proto.Outcome(job.id, "9", Code.SUCCEEDED, 0, b"", T1)
    assert finish(client, keys, [stale], now=NOW + 10) == [Result.LEASE_LOST]

    assert snapshot(client, keys) == before


# ---------------------------------------------------------------- cancel.lua, recover.lua


def test_cancel_of_the_waiting_job_makes_the_schedule_pending(
    client: SyncClient, keys: QueueKeys
) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]

    assert cancel(client, keys, jid(T1), now=NOW + 10) == proto.CancelResult.CANCELLED

    state = assert_invariants(client, keys, TASKS)
    assert state.job(jid(T1)) == {**tick_job(T1), "s": "cancelled", "ft": NOW + 10}
    assert state.zset(keys.cancelled) == {jid(T1): NOW + 10}
    assert state.schedules == {SID: record(lt=T1)}
    assert state.pending == {SID: NOW + 10}
    assert state.scheduled() == {}


def test_cancel_of_the_waiting_job_of_a_stopped_schedule_is_not_pending(
    client: SyncClient, keys: QueueKeys
) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    unschedule(client, keys, cancel_active=False, now=NOW + 5)

    assert cancel(client, keys, jid(T1), now=NOW + 10) == proto.CancelResult.CANCELLED

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T1, x=NOW + 5, xr="not needed")}
    assert state.pending == {}


def test_lost_job_on_its_last_attempt_fails_and_the_schedule_is_pending(
    client: SyncClient, keys: QueueKeys
) -> None:
    pending_after_cancel(client, keys, now=NOW + 1)  # an older pending schedule
    job = running_job(client, keys, stored("s2", NOW, max_attempts=1), lease_ms=1000)

    reply = recover(client, keys, tasks=TASKS, now=NOW + 1001)

    assert reply == proto.RecoverReply(NOW + 1001, True, 0, 1, 0, (SID, "s2"))
    state = assert_invariants(client, keys, TASKS)
    assert state.job(job.id) == {**job.state, "s": "failed", "ft": NOW + 1001}
    assert state.schedule("s2") == record(lt=NOW)
    assert state.pending == {SID: NOW + 1, "s2": NOW + 1001}
    assert state.zset(keys.failed) == {job.id: NOW + 1001}


def test_lost_job_with_attempts_left_keeps_the_schedule(
    client: SyncClient, keys: QueueKeys
) -> None:
    job = running_job(client, keys, lease_ms=1000)

    reply = recover(client, keys, tasks=TASKS, now=NOW + 1001)

    assert reply == proto.RecoverReply(NOW + 1001, True, 1, 0, 0, ())
    state = assert_invariants(client, keys, TASKS)
    assert state.job(job.id)["s"] == "retrying"
    assert state.schedules == {SID: record(a=job.id, lt=NOW)}
    assert state.pending == {}


def test_lost_cancelled_job_frees_the_schedule(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys, lease_ms=1000)
    assert cancel(client, keys, job.id, now=NOW + 5) == proto.CancelResult.REQUESTED

    reply = recover(client, keys, tasks=TASKS, now=NOW + 1001)

    assert reply.pending_schedules == (SID,)
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=NOW)}
    assert state.pending == {SID: NOW + 1001}
    assert state.running == {}


def test_recover_lists_pending_schedules_up_to_its_limit(
    client: SyncClient, keys: QueueKeys
) -> None:
    for k, sid in enumerate(("p1", "p2", "p3")):
        assert add(client, keys, stored(sid, T1)) == [Created.CREATED]
        cancel(client, keys, jid(T1, sid), now=NOW + 10 - k)

    reply = recover(client, keys, tasks=TASKS, now=NOW + 20, limit=2)

    assert reply.pending_schedules == ("p3", "p2")  # oldest first
    assert snapshot(client, keys).pending == {"p3": NOW + 8, "p2": NOW + 9, "p1": NOW + 10}


# ---------------------------------------------------------------- plan.lua


def test_plan_creates_the_next_job_once(client: SyncClient, keys: QueueKeys) -> None:
    pending_after_cancel(client, keys, now=NOW + 10)
    tick = ps.PlannedTick(SID, "t", 1, T1, T2)

    with wake_listener(client, keys) as wake:
        assert plan(client, keys, tick, now=NOW + 20) == [Plan.CREATED]
        assert wake.published() == [b"1"]

    state = assert_invariants(client, keys, TASKS)
    assert state.job(jid(T2)) == tick_job(T2, ct=NOW + 20)
    assert state.scheduled() == {jid(T2): T2}
    assert state.schedules == {SID: record(a=jid(T2), lt=T2)}
    assert state.pending == {}

    before = snapshot(client, keys)
    assert plan(client, keys, tick, now=NOW + 30) == [Plan.NOT_PENDING]  # another worker's read
    assert snapshot(client, keys) == before


@pytest.mark.parametrize(
    "tick",
    [
        ps.PlannedTick(SID, "t", 2, T1, T2),  # version changed
        ps.PlannedTick(SID, "t", 1, None, T2),  # last tick changed
        ps.PlannedTick(SID, "t", 1, T1 - 1, T2),
    ],
)
def test_plan_from_a_changed_read_does_nothing(
    client: SyncClient, keys: QueueKeys, tick: ps.PlannedTick
) -> None:
    pending_after_cancel(client, keys, now=NOW + 10)
    before = snapshot(client, keys)

    assert plan(client, keys, tick, now=NOW + 20) == [Plan.CHANGED]

    assert snapshot(client, keys) == before


def test_plan_stop_stops_the_schedule(client: SyncClient, keys: QueueKeys) -> None:
    pending_after_cancel(client, keys, now=NOW + 10)

    assert plan(client, keys, ps.PlannedTick(SID, "t", 1, T1, STOP), now=NOW + 20) == [Plan.STOPPED]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T1, x=NOW + 20, xr="ended")}
    assert state.pending == {}
    assert set(state.jobs) == {jid(T1)}


def test_plan_idle_leaves_the_schedule_waiting_for_a_trigger(
    client: SyncClient, keys: QueueKeys
) -> None:
    pending_after_cancel(client, keys, now=NOW + 10)

    assert plan(client, keys, ps.PlannedTick(SID, "t", 1, T1, IDLE), now=NOW + 20) == [Plan.IDLE]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T1)}
    assert state.pending == {}
    assert set(state.jobs) == {jid(T1)}


def test_plan_of_a_tick_whose_job_exists_moves_the_last_tick(
    client: SyncClient, keys: QueueKeys
) -> None:
    pending_after_cancel(client, keys, now=NOW + 10)
    enqueue(client, keys, [new_job(jid(T2), delay_ms=EVERY)])

    assert plan(client, keys, ps.PlannedTick(SID, "t", 1, T1, T2), now=NOW + 20) == [
        Plan.TICK_EXISTED
    ]

    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T2)}
    assert state.pending == {SID: NOW + 10}  # still pending: the next read goes on from T2
    assert "sc" not in state.job(jid(T2))

    assert plan(client, keys, ps.PlannedTick(SID, "t", 1, T2, T3), now=NOW + 30) == [Plan.CREATED]
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(a=jid(T3), lt=T3)}
    assert state.pending == {}


def test_plan_of_schedules_not_pending(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored("busy", T1), stored("off", STOP)) == [Created.CREATED] * 2
    before = snapshot(client, keys)

    results = plan(
        client,
        keys,
        ps.PlannedTick("busy", "t", 1, T1, T2),
        ps.PlannedTick("off", "t", 1, None, T2),
        ps.PlannedTick("gone", "t", 1, None, T2),
        now=NOW + 20,
    )

    assert results == [Plan.NOT_PENDING] * 3
    assert snapshot(client, keys) == before


def test_plan_of_an_idle_schedule_does_nothing(client: SyncClient, keys: QueueKeys) -> None:
    """REPORTED (minor): plan.lua's header (and lua/README.md) say the job is
    created "only if ... the schedule is still pending", but plan.lua checks
    only that the record has no active job and is not stopped: an idle
    (manual, never pending) schedule read as (v1, no last tick) gets a job."""
    assert add(client, keys, stored(first=IDLE)) == [Created.CREATED]
    before = snapshot(client, keys)

    results = plan(client, keys, ps.PlannedTick(SID, "t", 1, None, T1), now=NOW + 10)

    assert results == [Plan.NOT_PENDING]  # fails: CREATED, job s1:T1 made
    assert snapshot(client, keys) == before


def test_plan_several_schedules_of_several_tasks(client: SyncClient, keys: QueueKeys) -> None:
    for sid, task in (("a", "t"), ("b", "u")):
        assert add(client, keys, stored(sid, T1, task=task)) == [Created.CREATED]
        cancel(client, keys, jid(T1, sid), task=task, now=NOW + 10)

    results = plan(
        client,
        keys,
        ps.PlannedTick("a", "t", 1, T1, NOW + 15),
        ps.PlannedTick("b", "u", 1, T1, T2),
        now=NOW + 20,
    )

    assert results == [Plan.CREATED, Plan.CREATED]
    state = assert_invariants(client, keys, TASKS)
    assert state.ready("t") == {jid(NOW + 15, "a"): ready_score(0, NOW + 15)}
    assert state.scheduled("u") == {jid(T2, "b"): T2}
    assert state.pending == {}


# ---------------------------------------------------------------- trigger.lua


def test_trigger_without_an_active_job_creates_one_due_now(
    client: SyncClient, keys: QueueKeys
) -> None:
    assert add(client, keys, stored(first=IDLE, priority=2)) == [Created.CREATED]

    with wake_listener(client, keys) as wake:
        assert trigger(client, keys, now=NOW + 10) == (Trig.CREATED, jid(NOW + 10))
        assert wake.published() == [b"1"]

    state = assert_invariants(client, keys, TASKS)
    assert state.jobs == {jid(NOW + 10): tick_job(NOW + 10, ct=NOW + 10, priority=2)}
    assert state.ready() == {jid(NOW + 10): ready_score(2, NOW + 10)}
    assert state.schedules == {SID: record(p=2, a=jid(NOW + 10), lt=NOW + 10)}


def test_trigger_of_a_pending_schedule_takes_it_out_of_pending(
    client: SyncClient, keys: QueueKeys
) -> None:
    pending_after_cancel(client, keys, now=NOW + 5)

    assert trigger(client, keys, now=NOW + 10) == (Trig.CREATED, jid(NOW + 10))

    state = assert_invariants(client, keys, TASKS)
    assert state.pending == {}
    assert state.schedules == {SID: record(a=jid(NOW + 10), lt=NOW + 10)}


def test_trigger_replaces_the_waiting_job_of_a_future_tick(
    client: SyncClient, keys: QueueKeys
) -> None:
    assert add(client, keys, stored(priority=1)) == [Created.CREATED]

    with wake_listener(client, keys) as wake:
        assert trigger(client, keys, now=NOW + 10) == (Trig.CREATED, jid(NOW + 10))
        assert wake.published() == [b"1"]

    state = assert_invariants(client, keys, TASKS)
    assert state.jobs == {jid(NOW + 10): tick_job(NOW + 10, ct=NOW + 10, priority=1)}
    assert state.fields_of(jid(T1)) == set()  # never ran: the run now takes its place
    assert state.ready() == {jid(NOW + 10): ready_score(1, NOW + 10)}
    assert state.scheduled() == {}
    assert state.schedules == {SID: record(p=1, a=jid(NOW + 10), lt=NOW + 10)}


def test_trigger_in_the_ms_of_a_finished_trigger_keeps_the_waiting_job(
    client: SyncClient, keys: QueueKeys
) -> None:
    """REPORTED BUG (trigger.lua as changed in the working tree): the waiting
    job of a future tick is deleted before the job of the tick "now" is
    created; when that job exists already (a trigger in the same ms ran and
    ended), trigger.lua returns 3 without writing the record back: the waiting
    job is gone and the record's `a` names a job that does not exist."""
    assert add(client, keys, stored()) == [Created.CREATED]
    assert trigger(client, keys, now=NOW + 10) == (Trig.CREATED, jid(NOW + 10))
    (job,) = claim(client, keys, 1, now=NOW + 10).jobs
    finish(client, keys, [outcome(job, Code.SUCCEEDED, next=T1)], now=NOW + 10)
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(a=jid(T1), lt=T1)}

    code, _ = trigger(client, keys, now=NOW + 10)  # fails: invariants broken

    assert code is not Trig.CREATED
    state = assert_invariants(client, keys, TASKS)
    assert state.schedule(SID)["a"] == jid(T1)
    assert set(state.jobs) == {jid(NOW + 10), jid(T1)}


def test_trigger_of_a_job_already_due_changes_nothing(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored(first=NOW)) == [Created.CREATED]
    before = snapshot(client, keys)

    with wake_listener(client, keys) as wake:
        assert trigger(client, keys, now=NOW + 10) == (Trig.MADE_DUE, jid(NOW))
        assert wake.published() == []

    assert snapshot(client, keys) == before


def test_trigger_of_a_retrying_job_makes_it_due_now(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)
    finish(client, keys, [outcome(job, Code.RETRY, delay_ms=5000)], now=NOW + 10)

    assert trigger(client, keys, now=NOW + 20) == (Trig.MADE_DUE, job.id)

    state = assert_invariants(client, keys, TASKS)
    assert state.job(job.id)["s"] == "retrying"
    assert state.job(job.id)["due"] == NOW + 20
    assert state.ready() == {job.id: ready_score(0, NOW + 20)}


def test_trigger_of_a_running_job_does_nothing(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)
    before = snapshot(client, keys)

    assert trigger(client, keys, now=NOW + 10) == (Trig.RUNNING, job.id)

    assert snapshot(client, keys) == before


def test_trigger_in_the_ms_of_a_finished_trigger_does_nothing(
    client: SyncClient, keys: QueueKeys
) -> None:
    assert add(client, keys, stored(first=IDLE)) == [Created.CREATED]
    assert trigger(client, keys, now=NOW + 10) == (Trig.CREATED, jid(NOW + 10))
    (job,) = claim(client, keys, 1, now=NOW + 10).jobs
    finish(client, keys, [outcome(job, Code.SUCCEEDED, next=IDLE)], now=NOW + 10)
    before = snapshot(client, keys)

    assert trigger(client, keys, now=NOW + 10) == (Trig.RUNNING, jid(NOW + 10))

    assert snapshot(client, keys) == before


TRIGGER_REFUSED: list[tuple[str, str, ps.TriggerResult]] = [
    ("off", "t", Trig.STOPPED),
    ("nope", "t", Trig.NOT_FOUND),
    (SID, "u", Trig.OTHER_TASK),
]


@pytest.mark.parametrize(("sid", "task", "expected"), TRIGGER_REFUSED)
def test_trigger_refused(
    client: SyncClient, keys: QueueKeys, sid: str, task: str, expected: ps.TriggerResult
) -> None:
    assert add(client, keys, stored(), stored("off", STOP)) == [Created.CREATED] * 2
    before = snapshot(client, keys)

    assert trigger(client, keys, sid, task=task, now=NOW + 10) == (expected, "")

    assert snapshot(client, keys) == before


# ---------------------------------------------------------------- unschedule.lua


def test_stop_without_cancel_lets_the_waiting_job_run(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]

    reply = unschedule(client, keys, cancel_active=False, now=NOW + 10, reason="bye")

    assert reply == ps.StopReply(Stop.STOPPED, jid(T1), None)
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(a=jid(T1), lt=T1, x=NOW + 10, xr="bye")}
    assert state.jobs == {jid(T1): tick_job(T1)}
    assert state.scheduled() == {jid(T1): T1}

    (job,) = claim(client, keys, 1, now=T1).jobs
    assert finish(client, keys, [outcome(job, Code.SUCCEEDED, next=T2)], now=T1 + 5) == [
        Result.APPLIED
    ]
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T1, x=NOW + 10, xr="bye")}
    assert set(state.jobs) == {jid(T1)}
    assert state.pending == {}


def test_stop_with_cancel_of_the_waiting_job(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]

    reply = unschedule(client, keys, cancel_active=True, now=NOW + 10, reason="bye")

    assert reply == ps.StopReply(Stop.STOPPED, jid(T1), 1)
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T1, x=NOW + 10, xr="bye")}
    assert state.job(jid(T1)) == {**tick_job(T1), "s": "cancelled", "ft": NOW + 10}
    assert state.errors(jid(T1)) == [
        {"at": NOW + 10, "attempt": 0, "type": "cancelled", "message": "bye"}
    ]
    assert state.zset(keys.cancelled) == {jid(T1): NOW + 10}
    assert state.scheduled() == {}
    assert state.pending == {}


def test_stop_with_cancel_of_the_running_job(client: SyncClient, keys: QueueKeys) -> None:
    job = running_job(client, keys)

    reply = unschedule(client, keys, cancel_active=True, now=NOW + 10, reason="bye")

    assert reply == ps.StopReply(Stop.STOPPED, job.id, 2)
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(a=job.id, lt=NOW, x=NOW + 10, xr="bye")}
    assert state.job(job.id) == {**job.state, "s": "cancelled", "ft": NOW + 10}
    assert state.running == {job.id: NOW + 30_000}  # holds its slot until acknowledged

    done = outcome(job, Code.SUCCEEDED, next=T1)
    assert finish(client, keys, [done], now=NOW + 20) == [Result.CANCELLED_MEANWHILE]
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=NOW, x=NOW + 10, xr="bye")}
    assert set(state.jobs) == {job.id}
    assert state.pending == {}


def test_stop_of_a_pending_schedule(client: SyncClient, keys: QueueKeys) -> None:
    pending_after_cancel(client, keys, now=NOW + 5)

    reply = unschedule(client, keys, cancel_active=True, now=NOW + 10)

    assert reply == ps.StopReply(Stop.STOPPED, None, None)
    state = assert_invariants(client, keys, TASKS)
    assert state.pending == {}
    assert state.schedules == {SID: record(lt=T1, x=NOW + 10, xr="not needed")}


def test_stop_of_a_stopped_schedule(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    unschedule(client, keys, cancel_active=True, now=NOW + 10)
    before = snapshot(client, keys)

    reply = unschedule(client, keys, cancel_active=True, now=NOW + 20, reason="again")

    assert reply == ps.StopReply(Stop.ALREADY_STOPPED, None, None)
    assert snapshot(client, keys) == before


def test_stop_then_cancel_of_a_stopped_schedules_job(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    unschedule(client, keys, cancel_active=False, now=NOW + 10)

    reply = unschedule(client, keys, cancel_active=True, now=NOW + 20, reason="again")

    assert reply == ps.StopReply(Stop.ALREADY_STOPPED, jid(T1), 1)
    state = assert_invariants(client, keys, TASKS)
    assert state.schedules == {SID: record(lt=T1, x=NOW + 10, xr="not needed")}
    assert state.job(jid(T1))["s"] == "cancelled"


@pytest.mark.parametrize(
    ("sid", "task", "expected"), [("nope", "t", Stop.NOT_FOUND), (SID, "u", Stop.OTHER_TASK)]
)
def test_stop_refused(
    client: SyncClient, keys: QueueKeys, sid: str, task: str, expected: ps.StopResult
) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    before = snapshot(client, keys)

    reply = unschedule(client, keys, sid, task=task, cancel_active=True, now=NOW + 10)

    assert reply == ps.StopReply(expected, None, None)
    assert snapshot(client, keys) == before


# ---------------------------------------------------------------- schedules.lua


def _server_now_ok(now_ms: int) -> bool:
    return abs(now_ms - time.time() * 1000) < 60_000


def test_read_every_schedule(client: SyncClient, keys: QueueKeys) -> None:
    running = running_job(client, keys, stored("busy", NOW, payload=b"p-busy"))
    assert add(client, keys, stored(), stored("off", STOP, task="u")) == [Created.CREATED] * 2
    state = assert_invariants(client, keys, TASKS)

    reply = read(client, keys)

    assert _server_now_ok(reply.now_ms)
    by_id = {s.id: s for s in reply.schedules}
    assert len(reply.schedules) == 3
    assert by_id == {
        "busy": ps.RawSchedule(
            "busy",
            record(a=running.id, lt=NOW),
            orjson.loads(stored("busy").definition),
            b"p-busy",
            running.state,
        ),
        SID: ps.RawSchedule(
            SID, record(a=jid(T1), lt=T1), orjson.loads(stored().definition), b"args", tick_job(T1)
        ),
        "off": ps.RawSchedule(
            "off",
            record(t="u", x=NOW, xr="ended"),
            orjson.loads(stored(task="u").definition),
            b"args",
            None,
        ),
    }
    assert {sid: s.record for sid, s in by_id.items()} == state.schedules


def test_read_by_ids_in_the_order_given(client: SyncClient, keys: QueueKeys) -> None:
    assert add(client, keys, stored("a", T1), stored("b", IDLE)) == [Created.CREATED] * 2

    reply = read(client, keys, "b", "missing", "a")

    assert [s.id for s in reply.schedules] == ["b", "a"]
    assert reply.schedules[0].active_state is None
    assert reply.schedules[1].active_state == tick_job(T1, sid="a")


def test_read_of_an_empty_queue(client: SyncClient, keys: QueueKeys) -> None:
    reply = read(client, keys)

    assert reply.schedules == []
    assert _server_now_ok(reply.now_ms)


# ---------------------------------------------------------------- the checker


def _job_state(r: redis.Redis, keys: QueueKeys, job_id: str) -> dict[str, Any]:
    return dict(orjson.loads(r.hget(keys.jobs, job_id) or b"{}"))


def _set_record(r: redis.Redis, keys: QueueKeys, sid: str, **changes: Any) -> None:
    rec = orjson.loads(r.hget(keys.schedules, sid) or b"{}") | changes
    r.hset(keys.schedules, sid, orjson.dumps({k: v for k, v in rec.items() if v is not None}))


def _second_job(r: redis.Redis, keys: QueueKeys) -> None:
    st = _job_state(r, keys, jid(T1)) | {"tk": T2, "due": T2}
    r.hset(keys.jobs, mapping={jid(T2): orjson.dumps(st), jid(T2) + ":p": b"x"})
    r.zadd(keys.scheduled("t"), {jid(T2): T2})


def _wrong_id(r: redis.Redis, keys: QueueKeys) -> None:
    st = _job_state(r, keys, jid(T1)) | {"tk": T2}
    r.hset(keys.jobs, jid(T1), orjson.dumps(st))


SCHEDULE_CORRUPTIONS: dict[str, tuple[Callable[[redis.Redis, QueueKeys], object], str]] = {
    "two unfinished jobs": (_second_job, f"{jid(T2)} (scheduled) is unfinished"),
    "active job missing": (lambda r, k: _set_record(r, k, SID, a="gone:1"), "does not exist"),
    "no active job": (lambda r, k: _set_record(r, k, SID, a=None), "is unfinished but"),
    "pending with a job": (lambda r, k: r.zadd(k.pending_schedules, {SID: 1}), "pending schedule"),
    "pending unknown": (lambda r, k: r.zadd(k.pending_schedules, {"zz": 1}), "has no record"),
    "no body": (lambda r, k: r.hdel(k.schedules, SID + ":b"), f"no field {SID}:b"),
    "orphan field": (lambda r, k: r.hset(k.schedules, "zz:p", b"x"), "orphan schedule field"),
    "id not of its tick": (_wrong_id, "is not"),
}


@pytest.mark.parametrize("name", sorted(SCHEDULE_CORRUPTIONS))
def test_checker_notices_broken_schedules(client: SyncClient, keys: QueueKeys, name: str) -> None:
    assert add(client, keys, stored()) == [Created.CREATED]
    corrupt, message = SCHEDULE_CORRUPTIONS[name]
    corrupt(client.redis, keys)

    with pytest.raises(AssertionError, match="invariants broken") as info:
        assert_invariants(client, keys, TASKS)
    assert message in str(info.value)
