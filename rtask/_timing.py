"""When a schedule fires: cron, every, once or manual. Pure: every function
takes the current time as an argument (Redis's clock, in ms since the epoch).

`next_tick(last, now)` follows Ora's algorithm (seed-semantics §1.5):
`now' = max(now, start)`; with no previous tick, `immediate` fires at `now'`,
else at the first time after `now'`; after a tick `last`, the `missed` policy
decides: `create` takes the first time after `last` (missed ticks are
back-filled one job at a time), `skip` the first time at or after `now'`
(missed ticks are dropped). A tick at or after `end` stops the schedule.

Cron times are wall-clock times in the schedule's zone. Across a daylight
saving change: a wall time that occurs twice (fall back) fires once, at its
first occurrence; a wall time that does not exist (spring forward) is a missed
tick: `skip` drops it, `create` fires it read with the offset before the
change (02:30 becomes 03:30 summer time), as Python's `fold=0` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._errors import InvalidSchedule

Kind = Literal["cron", "every", "once", "manual"]


def _croniter() -> Any:
    """croniter, imported at first use: it costs every process ~70 ms of start-up."""
    import croniter

    return croniter


Missed = Literal["skip", "create"]

# What next_tick returns besides a tick (ms >= 0). Lua uses the same codes.
STOP = -1  # no time left: the schedule stops (once fired, end reached)
IDLE = -2  # nothing to plan until triggered (manual)

# Cron iteration gives up after this many candidates (all in a DST gap).
_MAX_CANDIDATES = 1000


def _ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    """False for a wall time skipped by a spring-forward change."""
    back = wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return back.replace(tzinfo=None) == wall


@dataclass(frozen=True, slots=True)
class Timing:
    """A validated firing rule. Times are ms since the epoch; 0 = unset."""

    kind: Kind
    cron: str = ""
    tz: str = "UTC"
    every_ms: int = 0
    at_ms: int = 0
    immediate: bool = False
    missed: Missed = "skip"
    start_ms: int = 0
    end_ms: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("cron", "every", "once", "manual"):
            raise InvalidSchedule(f"unknown schedule kind {self.kind!r}")
        if self.missed not in ("skip", "create"):
            raise InvalidSchedule(f"missed must be 'skip' or 'create', got {self.missed!r}")
        if self.end_ms and self.end_ms <= self.start_ms:
            raise InvalidSchedule("empty time range: end must be after start")
        if self.kind == "every" and self.every_ms <= 0:
            raise InvalidSchedule(f"every must be a positive interval, got {self.every_ms} ms")
        if self.kind == "once" and self.at_ms <= 0:
            raise InvalidSchedule("a once schedule needs a time (at=)")
        if self.kind == "cron":
            self._check_cron()

    def _check_cron(self) -> None:
        fields = self.cron.split()
        if not fields or (len(fields) not in (5, 6) and not self.cron.startswith("@")):
            raise InvalidSchedule(
                f"invalid cron {self.cron!r}: use 5 fields, or 6 with seconds first"
            )
        cron = _croniter()
        if not cron.croniter.is_valid(self.cron, second_at_beginning=len(fields) == 6):
            raise InvalidSchedule(f"invalid cron expression {self.cron!r}")
        self.zone()  # raises for an unknown zone
        # An expression that never matches (e.g. 31 February) has no times.
        try:
            self._iterator(datetime(2000, 1, 1)).get_next(datetime)
        except (cron.CroniterBadDateError, cron.CroniterError) as exc:
            raise InvalidSchedule(f"cron {self.cron!r} never fires") from exc

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidSchedule(f"unknown time zone {self.tz!r}") from exc

    def _iterator(self, wall: datetime) -> Any:
        cron = _croniter()
        try:
            return cron.croniter(
                self.cron,
                wall,
                second_at_beginning=len(self.cron.split()) == 6,
                max_years_between_matches=50,
            )
        except cron.CroniterBadCronError as exc:
            raise InvalidSchedule(f"invalid cron expression {self.cron!r}") from exc

    # ------------------------------------------------------------ firing times

    def next_tick(self, last_ms: int | None, now_ms: int) -> int:
        """The next tick (ms), or STOP / IDLE. `last_ms` is the previous tick."""
        now = max(now_ms, self.start_ms)
        if self.kind == "manual":
            return IDLE
        if self.kind == "once":
            # a time already past is a missed tick: `create` runs it now
            missed = self.at_ms < now and self.missed == "skip"
            tick = STOP if last_ms is not None or missed else self.at_ms
        elif last_ms is None:
            tick = now if self.immediate else self._after(now, skip_gaps=self.missed == "skip")
        elif self.missed == "create":
            tick = self._after(last_ms, skip_gaps=False)
        elif self.kind == "every":
            tick = last_ms + self.every_ms
            if tick < now:  # skip: the first multiple of the interval at or after now
                tick += math.ceil((now - tick) / self.every_ms) * self.every_ms
        else:
            tick = self._after(max(now, last_ms), skip_gaps=True)
        if tick < 0 or (self.end_ms and tick >= self.end_ms):
            return STOP
        return tick

    def is_missed(self, tick_ms: int, now_ms: int) -> bool:
        """True when the tick after `tick_ms` has passed too: with `skip`,
        a job created for `tick_ms` that starts only now is dropped."""
        if self.missed != "skip" or self.kind not in ("cron", "every"):
            return False
        following = self._after(tick_ms, skip_gaps=True)
        return 0 <= following <= now_ms

    def _after(self, after_ms: int, *, skip_gaps: bool) -> int:
        """The first firing time strictly after `after_ms`, or STOP."""
        if self.kind == "every":
            return after_ms + self.every_ms
        zone = self.zone()
        wall = datetime.fromtimestamp(after_ms / 1000, UTC).astimezone(zone).replace(tzinfo=None)
        # croniter works on naive wall-clock times; each candidate is placed
        # in the zone here, so DST is decided in one place.
        it = self._iterator(wall)
        bad_date = _croniter().CroniterBadDateError
        for _ in range(_MAX_CANDIDATES):
            try:
                candidate: datetime = it.get_next(datetime)
            except bad_date:
                return STOP
            if skip_gaps and not _exists(candidate, zone):
                continue
            tick = _ms(candidate.replace(tzinfo=zone, fold=0))
            if tick > after_ms:
                return tick
        return STOP


def _to_ms(value: datetime | float | int | None, what: str) -> int:
    """A time given as an aware datetime or epoch seconds, in ms (None = 0)."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidSchedule(f"{what} must be a timezone-aware datetime, got {value!r}")
        return _ms(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSchedule(f"{what} must be a datetime or epoch seconds, got {value!r}")
    return round(value * 1000)


def _interval_ms(every: float | timedelta) -> int:
    seconds = every.total_seconds() if isinstance(every, timedelta) else every
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidSchedule(f"every must be seconds or a timedelta, got {every!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidSchedule(f"every must be a positive interval, got {every!r}")
    return max(1, round(seconds * 1000))


def timing(
    *,
    cron: str | None = None,
    every: float | timedelta | None = None,
    at: datetime | float | None = None,
    manual: bool = False,
    tz: str = "UTC",
    immediate: bool = False,
    missed: Missed = "skip",
    start: datetime | float | None = None,
    end: datetime | float | None = None,
) -> Timing:
    """Build a Timing from the user's keyword arguments; exactly one of
    cron / every / at / manual must be given."""
    given = [name for name, v in (("cron", cron), ("every", every), ("at", at)) if v is not None]
    if manual:
        given.append("manual")
    if len(given) != 1:
        raise InvalidSchedule(f"give exactly one of cron=, every=, at=, manual=True (got {given})")
    if cron is not None and not isinstance(cron, str):
        raise InvalidSchedule(f"cron must be a string, got {cron!r}")
    kind: Kind = "cron" if cron is not None else "every" if every is not None else "once"
    return Timing(
        kind="manual" if manual else kind,
        cron=cron.strip() if cron else "",
        tz=tz,
        every_ms=_interval_ms(every) if every is not None else 0,
        at_ms=_to_ms(at, "at"),
        immediate=bool(immediate),
        missed=missed,
        start_ms=_to_ms(start, "start"),
        end_ms=_to_ms(end, "end"),
    )


def timing_to_dict(t: Timing) -> dict[str, Any]:
    """The stored form (only the fields that differ from the defaults)."""
    out: dict[str, Any] = {"kind": t.kind}
    defaults = Timing("manual")
    for name in ("cron", "tz", "every_ms", "at_ms", "immediate", "missed", "start_ms", "end_ms"):
        value = getattr(t, name)
        if value != getattr(defaults, name):
            out[name] = value
    return out


def timing_from_dict(d: dict[str, Any]) -> Timing:
    return Timing(**d)
