"""A participant's rota: when they cannot meet because they are working (a repeating pattern, or
shifts imported from their e-rostering calendar), on planned leave, or resting after a run of
nights; and the date they rotate to another post.

Slots, warnings and the coordinator's view ask this module, never the stored form directly.
The rota is kept as JSON in `participants.rota_plan` (None: never asked or answered); the old
free-text `participants.rota` holds its one-line description. Typed forms are read by
bot/rota_text.py and calendar files by bot/rota_file.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.models import Participant
from bot.dates import short_date

# The 2016 junior doctors' contract (England) requires 46 hours' rest after a run of night shifts
# (after three or four nights as agreed in 2016; after any number since the 2019 review). No
# meeting is offered in that rest.
REST_AFTER_NIGHTS = timedelta(hours=46)
# A night followed by another within this long of its end is not the last night of its run.
SAME_RUN_WITHIN = timedelta(hours=24)
# The contract's night shift: at least 3 hours of work between 23:00 and 06:00.
NIGHT_HOURS = (time(23, 0), time(6, 0))
NIGHT_AT_LEAST = timedelta(hours=3)
# Repeats people can give ("1 in 4"): every second week up to every twelfth.
EVERY_FROM, EVERY_TO = 2, 12
DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class ShiftKind:
    """A kind of shift, with its usual days and hours (people may give others)."""

    name: str
    label: str  # as people say it: "nights", "long days"
    days: tuple[int, ...]
    start: str
    end: str
    reason: str  # worded to follow a name


KINDS = {k.name: k for k in (
    ShiftKind("nights", "nights", (0, 1, 2, 3), "20:00", "08:30", "is on nights"),
    ShiftKind("long_days", "long days", (0, 1, 2, 3, 4), "08:00", "20:30", "is on a long day"),
    ShiftKind("days", "days", (0, 1, 2, 3, 4), "08:00", "17:00", "is on a day shift"),
    ShiftKind("weekends", "weekends", (5, 6), "08:00", "20:30", "is working the weekend"),
)}
LEAVE_REASONS = {"leave": "is on leave", "study leave": "is on study leave"}
REST_REASON = "is resting after nights"
BETWEEN_NIGHTS_REASON = "is on nights"  # the days between nights of a run are for sleep


@dataclass(frozen=True)
class Busy:
    """A span (UTC) in which someone cannot meet, and why, worded to follow their name:
    "is on nights", "is on leave", "is resting after nights", "is on a long day"."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True)
class Pattern:
    """Shifts of one kind on some days of the week, in their own zone's hours, every `every`
    weeks counted from the week (Monday) `anchor`. Set before the rotation date, it ends there."""

    kind: str
    days: tuple[int, ...]
    start: str
    end: str
    every: int = 1
    anchor: date | None = None  # a Monday; None only when every == 1
    set_on: date | None = None

    def works_in_week(self, monday: date) -> bool:
        if self.every <= 1 or self.anchor is None:
            return True
        return ((monday - self.anchor).days // 7) % self.every == 0

    def describe(self) -> str:
        kind = KINDS[self.kind]
        first = self.anchor + timedelta(days=min(self.days)) if self.anchor else None
        repeat = f" every {ordinal(self.every)} week from {first:%a} {first.day} {first:%b %Y}" \
            if self.every > 1 and first else " every week"
        return f"{kind.label} {describe_days(self.days)} {self.start}-{self.end}{repeat}"


@dataclass(frozen=True)
class Shift:
    """One shift from an imported calendar (UTC instants), or leave given with hours."""

    kind: str  # a KINDS name, or "leave" / "study leave"
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Leave:
    """Planned leave on whole days, first and last day included, in their own zone."""

    first: date
    last: date
    kind: str = "leave"  # or "study leave"
    source: str = "typed"  # or "file"

    def describe(self) -> str:
        what = "study leave" if self.kind == "study leave" else "leave"
        return f"{what} {describe_dates(self.first, self.last)}"


@dataclass(frozen=True)
class RotaPlan:
    works_shifts: bool | None = None  # False: "regular days"; None: not said
    patterns: tuple[Pattern, ...] = ()
    shifts: tuple[Shift, ...] = ()
    leave: tuple[Leave, ...] = ()
    rotates: date | None = None
    file: dict[str, Any] = field(default_factory=dict)  # the imported calendar: name, imported_on, count

    # --- stored form --------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "RotaPlan":
        data = data or {}
        return cls(
            works_shifts=data.get("works_shifts"),
            patterns=tuple(Pattern(p["kind"], tuple(p["days"]), p["start"], p["end"], p.get("every", 1),
                                   _day(p.get("anchor")), _day(p.get("set_on"))) for p in data.get("patterns", [])),
            shifts=tuple(Shift(s["kind"], datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"]))
                         for s in data.get("shifts", [])),
            leave=tuple(Leave(date.fromisoformat(v["first"]), date.fromisoformat(v["last"]), v.get("kind", "leave"),
                              v.get("source", "typed")) for v in data.get("leave", [])),
            rotates=_day(data.get("rotates")),
            file=dict(data.get("file") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "works_shifts": self.works_shifts,
            "patterns": [{"kind": p.kind, "days": list(p.days), "start": p.start, "end": p.end, "every": p.every,
                          "anchor": _iso(p.anchor), "set_on": _iso(p.set_on)} for p in self.patterns],
            "shifts": [{"kind": s.kind, "start": s.start.isoformat(), "end": s.end.isoformat()} for s in self.shifts],
            "leave": [{"first": v.first.isoformat(), "last": v.last.isoformat(), "kind": v.kind, "source": v.source}
                      for v in self.leave],
            "rotates": _iso(self.rotates),
            "file": dict(self.file),
        }

    @property
    def is_empty(self) -> bool:
        return not (self.patterns or self.shifts or self.leave or self.rotates)

    # --- changes ------------------------------------------------------------------------------
    def with_patterns(self, patterns: tuple[Pattern, ...]) -> "RotaPlan":
        """New patterns replace earlier ones of the same kinds."""
        kinds = {p.kind for p in patterns}
        kept = tuple(p for p in self.patterns if p.kind not in kinds)
        return replace(self, works_shifts=True, patterns=kept + patterns)

    def as_regular_days(self) -> "RotaPlan":
        return replace(self, works_shifts=False, patterns=())

    def with_rotation(self, day: date) -> "RotaPlan":
        return replace(self, rotates=day)

    def with_leave(self, leave: tuple[Leave, ...]) -> "RotaPlan":
        added = tuple(v for v in leave if v not in self.leave)
        return replace(self, leave=tuple(sorted(self.leave + added, key=lambda v: (v.first, v.last))))

    def with_file(self, shifts: tuple[Shift, ...], leave: tuple[Leave, ...], name: str, today: date) -> "RotaPlan":
        """A calendar file replaces the shifts and leave of the one before; typed leave stays."""
        typed = tuple(v for v in self.leave if v.source != "file")
        return replace(self, works_shifts=True, shifts=shifts, leave=typed,
                       file={"name": name, "imported_on": today.isoformat(), "count": len(shifts)}
                       ).with_leave(leave)

    # --- when they are busy -------------------------------------------------------------------
    def busy(self, zone: ZoneInfo, start: datetime, end: datetime) -> list[Busy]:
        """Spans that overlap [start, end), whole (not cut to the window), earliest first."""
        # Look back far enough for a run of nights whose rest reaches into the window, and ahead
        # far enough to see whether a night in it is the last of its run (only then is rest owed).
        back = start - REST_AFTER_NIGHTS - timedelta(days=2)
        ahead = end + timedelta(days=2)
        work = sorted(self._pattern_shifts(zone, back, ahead) +
                      [(s.start, s.end, _reason(s.kind)) for s in self.shifts if s.end > back and s.start < ahead])
        spans = [Busy(a, b, why) for a, b, why in work]
        spans += _rests([(a, b) for a, b, _why in work if is_night(a, b, zone)])
        for leave in self.leave:
            spans.append(Busy(_midnight(leave.first, zone), _midnight(leave.last + timedelta(days=1), zone),
                              LEAVE_REASONS.get(leave.kind, LEAVE_REASONS["leave"])))
        return sorted((s for s in spans if s.end > start and s.start < end), key=lambda s: (s.start, s.end, s.reason))

    def _pattern_shifts(self, zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
        found = []
        first = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date()
        for pattern in self.patterns:
            until = self.rotates if self.rotates and (pattern.set_on is None or pattern.set_on < self.rotates) \
                else None
            begins, ends = _clock(pattern.start), _clock(pattern.end)
            day = first
            while day <= last:
                if until is not None and day >= until:
                    break
                if day.weekday() in pattern.days and pattern.works_in_week(day - timedelta(days=day.weekday())):
                    finish_day = day + timedelta(days=1) if ends <= begins else day
                    a = datetime.combine(day, begins, zone).astimezone(timezone.utc)
                    b = datetime.combine(finish_day, ends, zone).astimezone(timezone.utc)
                    if b > start and a < end:
                        found.append((a, b, KINDS[pattern.kind].reason))
                day += timedelta(days=1)
        return found

    # --- in words -----------------------------------------------------------------------------
    def describe(self) -> str:
        """In one line, as the person would say it ("nights Mon-Thu 20:00-08:30 every 4th week
        from Mon 11 Jan 2027; leave 1-5 Mar 2027; rotates Wed 7 Apr 2027")."""
        parts = [p.describe() for p in self.patterns]
        if self.shifts or self.file:
            parts.append(self._file_part())
        parts += [v.describe() for v in self.leave]
        if self.rotates:
            parts.append(f"rotates {self.rotates:%a} {self.rotates.day} {self.rotates:%b %Y}")
        if not parts:
            return "regular days" if self.works_shifts is False else "nothing yet"
        if self.works_shifts is False and not (self.patterns or self.shifts):
            parts.insert(0, "regular days")
        return "; ".join(parts)

    def _file_part(self) -> str:
        name = self.file.get("name") or "your rota file"
        if not self.shifts:
            return f"no shifts in {name}"
        first = min(s.start for s in self.shifts)
        last = max(s.end for s in self.shifts)
        return f"{len(self.shifts)} shifts from {name} ({short_date(first, year=True)} to {short_date(last, year=True)})"

    def summary(self) -> str:
        """A few words for a coordinator's line about the person."""
        parts = []
        kinds = list(dict.fromkeys(KINDS[p.kind].label + (f" 1 in {p.every}" if p.every > 1 else "")
                                   for p in self.patterns))
        parts += kinds
        if self.shifts:
            parts.append(f"{len(self.shifts)} shifts from a file")
        if self.works_shifts is False and not parts:
            parts.append("regular days")
        parts += [v.describe() for v in self.leave[:2]]
        if len(self.leave) > 2:
            parts.append(f"{len(self.leave) - 2} more spells of leave")
        if self.rotates:
            parts.append(f"rotates {self.rotates.day} {self.rotates:%b %Y}")
        return ", ".join(parts)


# --- what callers use ------------------------------------------------------------------------------
def plan_of(participant: Participant) -> RotaPlan:
    return RotaPlan.from_dict(participant.rota_plan)


def store(participant: Participant, plan: RotaPlan) -> None:
    """Keep `plan` as the participant's rota; the free-text column says it in words."""
    participant.rota_plan = plan.to_dict()
    participant.rota = cut(plan.describe(), 200)


def zone_of(participant: Participant) -> ZoneInfo:
    try:
        return ZoneInfo(participant.person.timezone or "Europe/London")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/London")


def busy_spans(participant: Participant, start: datetime, end: datetime) -> list[Busy]:
    """Every span between `start` and `end` (UTC) in which `participant` cannot meet, earliest first."""
    if not participant.rota_plan:
        return []
    return plan_of(participant).busy(zone_of(participant), start, end)


def rotates_on(participant: Participant) -> date | None:
    """The day they move to another post, if known."""
    if not participant.rota_plan:
        return None
    return plan_of(participant).rotates


def is_night(start: datetime, end: datetime, zone: ZoneInfo) -> bool:
    """A night shift as the contract counts one: at least 3 hours of it between 23:00 and 06:00."""
    night = timedelta()
    day = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date():
        a = datetime.combine(day, NIGHT_HOURS[0], zone)
        b = datetime.combine(day + timedelta(days=1), NIGHT_HOURS[1], zone)
        overlap = min(b, end) - max(a, start)
        if overlap > timedelta():
            night += overlap
        day += timedelta(days=1)
    return night >= NIGHT_AT_LEAST


# --- helpers ---------------------------------------------------------------------------------------
def _rests(nights: list[tuple[datetime, datetime]]) -> list[Busy]:
    rests = []
    nights = sorted(nights)
    for n, (_start, end) in enumerate(nights):
        following = nights[n + 1][0] if n + 1 < len(nights) else None
        if following is None or following - end >= SAME_RUN_WITHIN:
            rests.append(Busy(end, end + REST_AFTER_NIGHTS, REST_REASON))
        elif following > end:
            # The day between two nights of a run is for sleep, not for a meeting.
            rests.append(Busy(end, following, BETWEEN_NIGHTS_REASON))
    return rests


def _reason(kind: str) -> str:
    if kind in KINDS:
        return KINDS[kind].reason
    return LEAVE_REASONS.get(kind, "is on a shift")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), zone).astimezone(timezone.utc)


def _clock(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes or 0))


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe_days(days: tuple[int, ...]) -> str:
    """Mon-Thu, Fri-Sun, or Mon, Wed."""
    ordered = sorted(set(days))
    if len(ordered) >= 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_ABBREVIATIONS[ordered[0]]}-{DAY_ABBREVIATIONS[ordered[-1]]}"
    return ", ".join(DAY_ABBREVIATIONS[d] for d in ordered)


def describe_dates(first: date, last: date) -> str:
    if first == last:
        return f"{first:%a} {first.day} {first:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}-{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b}-{last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y}-{last.day} {last:%b %Y}"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
