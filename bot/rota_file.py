"""Reading a rota from a calendar file: most e-rostering systems export iCalendar (.ics). Each timed
event is a shift (a night, a long day or a day, by its hours), leave if its summary says so; an
all-day event is leave when its summary says leave, AL, annual leave or study leave, and is
otherwise left out (rostering exports mark rest days and post names that way). Repeating events
(RRULE, with their exceptions) are expanded by recurring-ical-events."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from bot.rota import Leave, Shift, is_night

# Shifts far in the past or the future do not matter to a four-month programme and its follow-up.
LOOK_BACK = timedelta(days=7)
LOOK_AHEAD = timedelta(days=548)
MAX_SHIFTS = 1000
LONG_SHIFT = timedelta(hours=10)  # the contract's "long shift": more than 10 hours
_STUDY = re.compile(r"\bstudy\b", re.IGNORECASE)
_LEAVE = re.compile(r"\b(?:leave|a/?l|holiday|hols|vacation)\b", re.IGNORECASE)
_OFF = re.compile(r"^\s*(?:off|day off|rest|rest day|zero|zero day|not rostered|nwd|non[- ]working day)\s*$",
                  re.IGNORECASE)


class RotaFileError(ValueError):
    """Why a file cannot be read as a rota, in words the sender can act on."""


@dataclass(frozen=True)
class ImportedRota:
    shifts: tuple[Shift, ...]
    leave: tuple[Leave, ...]
    left_out: int  # all-day events that are not leave, rest days, cancelled or free-time events
    more_than_kept: bool  # more than MAX_SHIFTS shifts: the earliest were kept


def read_calendar(name: str, text: str, zone: ZoneInfo, today: date) -> ImportedRota:
    """The shifts and leave in an iCalendar file; times without a zone are in `zone`."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as problem:  # the parser's errors are of many kinds; every one means "not readable"
        raise RotaFileError(f"{name} is not a calendar file I can read ({_first_line(problem)}). Export your rota "
                            f"as a calendar (.ics) and send it again with the message 'rota'.") from None
    if not calendar.walk("VEVENT"):
        raise RotaFileError(f"{name} has no events in it. Export your rota as a calendar (.ics) and send it again "
                            f"with the message 'rota'.")
    start = datetime.combine(today, time(0), zone) - LOOK_BACK
    try:
        events = recurring_ical_events.of(calendar).between(start.astimezone(timezone.utc),
                                                             (start + LOOK_AHEAD).astimezone(timezone.utc))
    except Exception as problem:  # a repeat rule or date the library cannot expand
        raise RotaFileError(f"I couldn't read the dates in {name} ({_first_line(problem)}).") from None
    shifts: set[Shift] = set()
    leave: set[Leave] = set()
    left_out = 0
    for event in events:
        summary = str(event.get("SUMMARY") or "")
        status = str(event.get("STATUS") or "").upper()
        if status == "CANCELLED" or _OFF.match(summary):
            left_out += 1
            continue
        kind = _leave_kind(summary)
        first, last = event.start, event.end
        if not isinstance(first, datetime):  # an all-day event: its end is the day after its last
            if kind is None:
                left_out += 1
                continue
            last_day = (last if isinstance(last, date) else first + timedelta(days=1)) - timedelta(days=1)
            leave.add(Leave(first, max(first, last_day), kind, "file"))
            continue
        begins, ends = _utc(first, zone), _utc(last, zone)
        if ends <= begins or (kind is None and str(event.get("TRANSP") or "").upper() == "TRANSPARENT"):
            left_out += 1
            continue
        shifts.add(Shift(kind or _shift_kind(begins, ends, zone), begins, ends))
    ordered = sorted(shifts, key=lambda s: (s.start, s.end))
    return ImportedRota(tuple(ordered[:MAX_SHIFTS]), tuple(sorted(leave, key=lambda v: (v.first, v.last))),
                        left_out, len(ordered) > MAX_SHIFTS)


def _leave_kind(summary: str) -> str | None:
    if not _LEAVE.search(summary):
        return None
    return "study leave" if _STUDY.search(summary) else "leave"


def _shift_kind(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    if is_night(start, end, zone):
        return "nights"
    return "long_days" if end - start > LONG_SHIFT else "days"


def _utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """A floating time (no zone in the file) is the person's own."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(timezone.utc)


def _first_line(problem: Exception) -> str:
    text = str(problem).strip().splitlines()[0] if str(problem).strip() else problem.__class__.__name__
    return text if len(text) <= 120 else text[:119] + "…"
