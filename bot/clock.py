"""One injectable clock for the core and the timeline.

Programme time ("virtual" time) is what the core reads: meeting slots, quiet-pair checks and step due
dates are all in it. APScheduler only knows the wall clock, so a clock also maps a virtual instant to
the wall-clock instant at which a job for it should fire. With speed 1 the two are the same. The demo
runs a four-month programme in seconds on a VirtualClock, which jumps from one due thing to the next.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC datetime; naive values (SQLite gives them back) are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current programme time, aware, in UTC."""

    def wall_time_for(self, moment: datetime) -> datetime:
        """The wall-clock instant at which something due at programme time `moment` should run."""

    def wall_seconds(self, programme_seconds: float) -> float:
        """How many wall-clock seconds a span of programme time takes."""


class SystemClock:
    """Real time: programme time is wall time."""

    def now(self) -> datetime:
        return utcnow()

    def wall_time_for(self, moment: datetime) -> datetime:
        return as_utc(moment)

    def wall_seconds(self, programme_seconds: float) -> float:
        return programme_seconds


class ScaledClock:
    """Programme time that runs `speed` times faster than the wall clock, from a chosen origin."""

    def __init__(self, origin: datetime, speed: float, wall_origin: datetime | None = None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.origin = as_utc(origin)
        self.speed = float(speed)
        self.wall_origin = as_utc(wall_origin) if wall_origin else utcnow()

    def now(self) -> datetime:
        return self.origin + (utcnow() - self.wall_origin) * self.speed

    def wall_time_for(self, moment: datetime) -> datetime:
        return self.wall_origin + (as_utc(moment) - self.origin) / self.speed

    def wall_seconds(self, programme_seconds: float) -> float:
        return programme_seconds / self.speed


class ManualClock:
    """A frozen clock for tests: time moves only when the test says so.

    Anything due at or before now should run at once; anything later never fires until the clock
    is advanced and the timeline resynchronised.
    """

    FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)

    def __init__(self, start: datetime):
        self._now = as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = as_utc(moment)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._now += step
            return self._now

    def wall_time_for(self, moment: datetime) -> datetime:
        return utcnow() if as_utc(moment) <= self.now() else self.FAR_FUTURE

    def wall_seconds(self, programme_seconds: float) -> float:
        return programme_seconds


class VirtualClock:
    """Programme time for a discrete-event simulation (the demo): it stands still while anything
    due is handled and moves only when told to jump to the next due thing.

    The scheduler driving it (scheduler/virtual.py) compares job run times with programme time, so
    a programme instant maps to itself and a span of programme time takes that long.
    """

    def __init__(self, start: datetime):
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> datetime:
        moment = as_utc(moment)
        if moment < self._now:
            raise ValueError(f"programme time cannot go back from {self._now.isoformat()} to {moment.isoformat()}")
        self._now = moment
        return self._now

    def wall_time_for(self, moment: datetime) -> datetime:
        return as_utc(moment)

    def wall_seconds(self, programme_seconds: float) -> float:
        return programme_seconds
