"""Firing times of schedules (rtask/_timing.py): Ora's next-time algorithm,
missed-time policies, time ranges, and DST in a named zone, with the clock
injected as an argument."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rtask import InvalidSchedule
from rtask._timing import IDLE, STOP, Timing, timing

PARIS = ZoneInfo("Europe/Paris")


def ms(*args: int, tz: ZoneInfo = PARIS) -> int:
    return round(datetime(*args, tzinfo=tz).timestamp() * 1000)  # type: ignore[misc]


def local(tick: int) -> str:
    return datetime.fromtimestamp(tick / 1000, PARIS).isoformat()


def run_ticks(t: Timing, first_last: int, n: int) -> list[int]:
    """Ticks as a worker produces them: each computed when the previous one
    ends, a moment after it fired."""
    out, last = [], first_last
    for _ in range(n):
        last = t.next_tick(last, last + 1)
        out.append(last)
    return out


# ---------------------------------------------------------------- every


@pytest.mark.parametrize(("now", "expected"), [(105, 110), (150, 150), (151, 160)])
def test_every_skip_follows_ora_examples(now: int, expected: int) -> None:
    # Ora §1.5: last = 100, interval = 10
    assert Timing("every", every_ms=10).next_tick(100, now) == expected


def test_every_create_backfills_one_tick_at_a_time() -> None:
    t = Timing("every", every_ms=10, missed="create")
    assert t.next_tick(100, 151) == 110
    assert t.next_tick(110, 151) == 120


def test_first_tick_is_now_with_immediate_else_one_interval_later() -> None:
    assert Timing("every", every_ms=1000).next_tick(None, 5000) == 6000
    assert Timing("every", every_ms=1000, immediate=True).next_tick(None, 5000) == 5000


def test_start_delays_the_first_tick_and_end_stops() -> None:
    t = Timing("every", every_ms=1000, start_ms=10_000, end_ms=12_500)
    assert t.next_tick(None, 0) == 11_000
    assert t.next_tick(11_000, 11_001) == 12_000
    assert t.next_tick(12_000, 12_001) == STOP  # 13_000 is past the end


def test_once_fires_once_and_manual_never_plans() -> None:
    once = Timing("once", at_ms=7_000)
    assert once.next_tick(None, 1_000) == 7_000
    assert once.next_tick(7_000, 7_001) == STOP
    assert once.next_tick(None, 8_000) == STOP  # past: missed, with skip
    assert Timing("once", at_ms=7_000, missed="create").next_tick(None, 8_000) == 7_000
    assert Timing("manual").next_tick(None, 1_000) == IDLE
    assert Timing("manual").next_tick(5, 1_000) == IDLE


def test_a_slow_run_never_overlaps_the_next_tick() -> None:
    t = Timing("every", every_ms=1000)
    # the run of tick 1000 ended at 3500: ticks 2000 and 3000 are skipped
    assert t.next_tick(1000, 3500) == 4000


def test_is_missed_only_when_the_following_tick_has_passed() -> None:
    t = Timing("every", every_ms=1000)
    assert not t.is_missed(1000, 1999)
    assert t.is_missed(1000, 2000)
    assert not Timing("every", every_ms=1000, missed="create").is_missed(1000, 9000)


# ---------------------------------------------------------------- cron


def test_cron_five_and_six_fields() -> None:
    at = ms(2026, 1, 5, 10, 0, 0, tz=UTC)
    five = Timing("cron", cron="*/5 * * * *")
    assert five.next_tick(None, at + 1) == at + 5 * 60_000
    six = Timing("cron", cron="*/20 * * * * *")  # seconds first
    assert six.next_tick(None, at + 1) == at + 20_000
    assert six.next_tick(at + 20_000, at + 20_050) == at + 40_000


def test_cron_in_a_time_zone() -> None:
    t = Timing("cron", cron="0 9 * * *", tz="Europe/Paris")
    # 9:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer
    assert t.next_tick(None, ms(2026, 1, 5, 0, 0, tz=UTC)) == ms(2026, 1, 5, 8, 0, tz=UTC)
    assert t.next_tick(None, ms(2026, 7, 5, 0, 0, tz=UTC)) == ms(2026, 7, 5, 7, 0, tz=UTC)


def test_cron_create_backfills_and_skip_jumps_to_now() -> None:
    last = ms(2026, 1, 5, 10, 0, tz=UTC)
    now = last + 3 * 60_000 + 30_000  # three ticks missed
    assert Timing("cron", cron="* * * * *", missed="create").next_tick(last, now) == last + 60_000
    assert Timing("cron", cron="* * * * *").next_tick(last, now) == last + 4 * 60_000


def test_fall_back_hour_fires_once() -> None:
    # 2026-10-25: 03:00 CEST -> 02:00 CET, so 02:00-02:59 happens twice
    t = Timing("cron", cron="30 * * * *", tz="Europe/Paris")
    ticks = run_ticks(t, ms(2026, 10, 25, 1, 30), 3)
    assert [local(x) for x in ticks] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T03:30:00+01:00",
        "2026-10-25T04:30:00+01:00",
    ]
    daily = Timing("cron", cron="30 2 * * *", tz="Europe/Paris")
    first = daily.next_tick(ms(2026, 10, 24, 2, 30), ms(2026, 10, 24, 2, 31))
    assert local(first) == "2026-10-25T02:30:00+02:00"
    # from inside the repeated hour, the next run is the next day's
    assert local(daily.next_tick(first, first + 3_600_000)) == "2026-10-26T02:30:00+01:00"


def test_spring_forward_follows_the_missed_policy() -> None:
    # 2026-03-29: 02:00 CET -> 03:00 CEST, 02:30 does not exist
    last = ms(2026, 3, 28, 2, 30)
    skip = Timing("cron", cron="30 2 * * *", tz="Europe/Paris")
    create = Timing("cron", cron="30 2 * * *", tz="Europe/Paris", missed="create")
    assert local(skip.next_tick(last, last + 1)) == "2026-03-30T02:30:00+02:00"
    assert local(create.next_tick(last, last + 1)) == "2026-03-29T03:30:00+02:00"
    # an hourly cron loses nothing but the hour that does not exist
    hourly = Timing("cron", cron="0 * * * *", tz="Europe/Paris")
    ticks = run_ticks(hourly, ms(2026, 3, 29, 1, 0), 2)
    assert [local(x) for x in ticks] == ["2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"]


def test_a_day_of_ticks_across_dst_is_strictly_increasing_and_unique() -> None:
    t = Timing("cron", cron="*/15 * * * *", tz="Europe/Paris", missed="create")
    ticks = run_ticks(t, ms(2026, 10, 24, 23, 45), 4 * 25)
    assert ticks == sorted(set(ticks))
    gaps = [(b - a) // 60_000 for a, b in itertools.pairwise(ticks)]
    # every 15 minutes, except across the repeated hour, which fires once
    assert sorted(set(gaps)) == [15, 75]
    assert gaps.count(75) == 1


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "61 * * * *"}, "invalid cron"),
        ({"cron": "* * * *"}, "5 fields"),
        ({"cron": "0 0 31 2 *"}, "never fires"),
        ({"cron": "* * * * *", "tz": "Mars/Olympus"}, "unknown time zone"),
        ({"every": 0}, "positive interval"),
        ({"every": -5}, "positive interval"),
        ({"every": timedelta(0)}, "positive interval"),
        ({"every": 1, "start": 100.0, "end": 50.0}, "empty time range"),
        ({"every": 1, "start": 100.0, "end": 100.0}, "empty time range"),
        ({"every": 1, "missed": "later"}, "missed must be"),
        ({}, "exactly one of"),
        ({"cron": "* * * * *", "every": 5}, "exactly one of"),
        ({"at": datetime(2030, 1, 1)}, "timezone-aware"),
    ],
)
def test_invalid_timings_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        timing(**kwargs)  # type: ignore[arg-type]
