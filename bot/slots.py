"""Candidate meeting slots drawn from the members' stated weekly availability.

Availability is a list of weekly windows in the person's own time zone, e.g. "Mon 12:00-14:00".
Rotas differ, so a slot must fall inside a window of every member; at most one slot per day is
offered so the choices are spread out.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_WINDOW = re.compile(
    r"^(?P<day>[a-z]+)\s+(?P<start>\d{1,2}(?::\d{2})?)\s*(?:-|to|–)\s*(?P<end>\d{1,2}(?::\d{2})?)$"
)
SLOT_STEP = timedelta(minutes=15)
MIN_NOTICE = timedelta(hours=12)


class AvailabilityError(ValueError):
    pass


def _clock(text: str, part: str) -> time:
    hours, _, minutes = text.partition(":")
    h, m = int(hours), int(minutes or 0)
    if h == 24 and m == 0:
        return time(23, 59)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise AvailabilityError(f"'{part}': {text} is not a time of day (use 24-hour times like 13:30)")
    return time(h, m)


def parse_availability(text: str) -> list[dict]:
    """Parse "Mon 12:00-14:00, Wed 16-17:30" into windows; errors name the part that is wrong."""
    windows: list[dict] = []
    parts = [p.strip() for p in re.split(r"[,;\n]+", text.strip().lower()) if p.strip()]
    if not parts:
        raise AvailabilityError("no times given: reply like 'Mon 12:00-14:00, Thu 17:00-18:00'")
    for part in parts:
        match = _WINDOW.match(part)
        if not match:
            raise AvailabilityError(
                f"'{part}' is not a day and a time range: write it like 'Tue 12:30-13:30'"
            )
        day = match["day"][:3]
        if day not in DAYS:
            raise AvailabilityError(f"'{part}': '{match['day']}' is not a day of the week")
        start, end = _clock(match["start"], part), _clock(match["end"], part)
        if end <= start:
            raise AvailabilityError(f"'{part}': the end time must be after the start time")
        windows.append({"day": DAYS.index(day), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")})
    return windows


def describe_availability(windows: list[dict]) -> str:
    if not windows:
        return "not given yet"
    return ", ".join(f"{DAYS[w['day']].title()} {w['start']}-{w['end']}" for w in windows)


def _windows_on(day: date, windows: list[dict], tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    spans = []
    for w in windows:
        if w["day"] != day.weekday():
            continue
        start = datetime.combine(day, time.fromisoformat(w["start"]), tz).astimezone(timezone.utc)
        end = datetime.combine(day, time.fromisoformat(w["end"]), tz).astimezone(timezone.utc)
        spans.append((start, end))
    return spans


def _intersect(a: list[tuple[datetime, datetime]], b: list[tuple[datetime, datetime]]):
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            start, end = max(s1, s2), min(e1, e2)
            if end > start:
                out.append((start, end))
    return sorted(out)


def _round_up(moment: datetime) -> datetime:
    base = moment.replace(second=0, microsecond=0)
    extra = base.minute % 15
    if extra or moment != base:
        base += timedelta(minutes=15 - extra) if extra else SLOT_STEP
    return base


def candidate_slots(
    members: list[tuple[list[dict], ZoneInfo]],
    earliest: datetime,
    duration: timedelta,
    count: int = 3,
    search_days: int = 14,
    exclude: set[datetime] | None = None,
    busy: list[tuple[datetime, datetime]] = (),
) -> list[datetime]:
    """Up to `count` slot starts (UTC) from `earliest`, inside every member's windows, one per day,
    never overlapping a `busy` span (the members' other bookings and the cohort's workshops)."""
    exclude = exclude or set()
    earliest = _round_up(earliest.astimezone(timezone.utc))
    found: list[datetime] = []
    first_day = earliest.date() - timedelta(days=1)  # windows in zones west of UTC start a day early
    for offset in range(search_days + 2):
        day = first_day + timedelta(days=offset)
        common: list[tuple[datetime, datetime]] | None = None
        for windows, tz in members:
            spans = _windows_on(day, windows, tz)
            common = spans if common is None else _intersect(common, spans)
        for start, end in common or []:
            slot = _round_up(max(start, earliest)) if start < earliest else start
            while slot + duration <= end and _clashes(slot, duration, busy):
                slot += SLOT_STEP
            if slot + duration <= end and slot not in exclude and slot >= earliest:
                if not any(s.date() == slot.date() for s in found):
                    found.append(slot)
                break
        if len(found) >= count:
            break
    return sorted(found)[:count]


def _clashes(slot: datetime, duration: timedelta, busy) -> bool:
    return any(slot < end and start < slot + duration for start, end in busy)


def format_slot(moment: datetime, tz: ZoneInfo) -> str:
    """"Mon 8 Mar, 08:00": the day without a leading zero, the time as a 24-hour clock shows it."""
    local = moment.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def format_day(moment: datetime, tz: ZoneInfo) -> str:
    """"Mon 8 Mar": the day, as format_slot writes it."""
    local = moment.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b}"
