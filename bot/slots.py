"""Candidate meeting slots drawn from the members' stated weekly availability.

Availability is a list of weekly windows in the person's own time zone, e.g. "Mon 12:00-14:00".
Rotas differ, so a slot must fall inside a window of every member and outside every member's
shifts, leave and rest (bot/rota.py's busy spans), their quiet hours (bot/daytime.py) and the
organisation's bank holidays, with enough notice; at most one slot per day is offered so the
choices are spread out. When nothing fits in the search window, the search says what was in the
way ("Asha is on nights until Thu 14 Jan") and looks further ahead for the nearest times that do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.bank_holidays import holiday_name
from bot.daytime import DEFAULT_QUIET_HOURS, parse_quiet_hours
from bot.rota import Busy

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_WINDOW = re.compile(
    r"^(?P<day>[a-z]+)\s+(?P<start>\d{1,2}(?::\d{2})?)\s*(?:-|to|–)\s*(?P<end>\d{1,2}(?::\d{2})?)$"
)
SLOT_STEP = timedelta(minutes=15)
MIN_NOTICE = timedelta(hours=12)
SEARCH_DAYS = 14  # the days offered slots are looked for in
FURTHER_DAYS = 70  # how far ahead the nearest times are looked for when nothing fits in those
REASONS_SHOWN = 3
# Shifts of one kind closer together than this are one run ("on nights until Thu 14 Jan").
RUN_GAP = timedelta(hours=24)


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


@dataclass(frozen=True)
class SlotMember:
    """What slot-finding knows of one member: who (`key`, and a first name for saying why), their
    weekly windows and zone, their quiet hours and when their rota keeps them busy."""

    key: object
    name: str
    windows: Sequence[Mapping]
    tz: ZoneInfo
    quiet_hours: str = DEFAULT_QUIET_HOURS
    busy: Sequence[Busy] = ()


@dataclass(frozen=True)
class Obstacle:
    """Something that kept a time every member has free from being offered."""

    kind: str  # "busy" (their rota), "holiday", "quiet" (their quiet hours), "booked" (other meetings)
    member_key: object = None
    member: str = ""
    tz: ZoneInfo | None = None
    reason: str = ""  # a Busy reason, worded to follow a name: "is on nights"
    until: datetime | None = None  # when that run of busy spans ends
    day: date | None = None  # the bank holiday
    holiday: str = ""
    quiet_hours: str = ""

    def describe(self, reader: object = None) -> str:
        """A clause for the message to `reader` (a member's key): they are "you"."""
        you = reader is not None and reader == self.member_key
        if self.kind == "busy":
            local = self.until.astimezone(self.tz)
            if local.time() == time(0):
                local -= timedelta(days=1)  # leave until midnight: the last day is the day before
            who = self.member
            reason = self.reason
            if you and reason.startswith("is "):
                who, reason = "you", "are " + reason[3:]
            return f"{who} {reason} until {local:%a} {local.day} {local:%b}"
        if self.kind == "holiday":
            return f"{self.day:%a} {self.day.day} {self.day:%b} is a bank holiday ({self.holiday})"
        if self.kind == "quiet":
            whose = "your" if you else f"{self.member}'s"
            return f"the times you share fall in {whose} quiet hours ({self.quiet_hours})"
        return "other meetings are already booked at the times you share"


@dataclass(frozen=True)
class SlotSearch:
    """What to offer, and why nothing fitted sooner."""

    slots: list[datetime]
    # When nothing fitted in the search window: what was in the way there, in the order to tell it.
    obstacles: tuple[Obstacle, ...] = ()
    further: bool = False  # the slots are past the search window: the nearest that fit
    search_days: int = SEARCH_DAYS

    def why(self, reader: object = None) -> str:
        """"Asha is on nights until Thu 14 Jan; Mon 3 May is a bank holiday (Early May bank holiday)"."""
        return "; ".join(o.describe(reader) for o in self.obstacles[:REASONS_SHOWN])


def _member(member) -> SlotMember:
    if isinstance(member, SlotMember):
        return member
    windows, tz = member  # (windows, zone): availability alone
    return SlotMember(key=None, name="", windows=windows, tz=tz)


def find_slots(
    members: Sequence[SlotMember],
    earliest: datetime,
    duration: timedelta,
    *,
    count: int = 3,
    search_days: int = SEARCH_DAYS,
    further_days: int = FURTHER_DAYS,
    exclude: set[datetime] | None = None,
    booked: Sequence[tuple[datetime, datetime]] = (),
    nation: str | None = None,
) -> SlotSearch:
    """Up to `count` slot starts (UTC) from `earliest` in the next `search_days`, one per day,
    inside every member's windows and outside their busy spans, quiet hours, the bank holidays of
    `nation` and the `booked` spans (their other meetings and the cohort's workshops). If none
    fits, what was in the way, and the nearest slots up to `further_days` ahead."""
    members = [_member(m) for m in members]
    earliest = _round_up(earliest.astimezone(timezone.utc))
    runs = [_runs(m.busy) for m in members]
    first_day = earliest.date() - timedelta(days=1)  # windows in zones west of UTC start a day early
    seen: dict[Obstacle, None] = {}
    found = _scan(members, runs, earliest, duration, first_day, search_days + 2, count, exclude or set(), booked,
                  nation, seen)
    if found:
        return SlotSearch(found, search_days=search_days)
    obstacles = tuple(sorted(_latest_runs(seen), key=_telling_order))
    after = first_day + timedelta(days=search_days + 2)
    nearest = _scan(members, runs, earliest, duration, after, max(further_days - search_days, 0), count,
                    exclude or set(), booked, nation, None)
    return SlotSearch(nearest, obstacles, further=bool(nearest), search_days=search_days)


def candidate_slots(
    members: Sequence[SlotMember | tuple[Sequence[Mapping], ZoneInfo]],
    earliest: datetime,
    duration: timedelta,
    count: int = 3,
    search_days: int = SEARCH_DAYS,
    exclude: set[datetime] | None = None,
    busy: Sequence[tuple[datetime, datetime]] = (),
    nation: str | None = None,
) -> list[datetime]:
    """Up to `count` slot starts (UTC) from `earliest` in the next `search_days`, as find_slots
    finds them, without looking further ahead; `busy` are the members' other bookings."""
    return find_slots(members, earliest, duration, count=count, search_days=search_days, further_days=0,
                      exclude=exclude, booked=busy, nation=nation).slots


def _scan(members, runs, earliest, duration, first_day, days, count, exclude, booked, nation,
          seen: dict | None) -> list[datetime]:
    found: list[datetime] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        common: list[tuple[datetime, datetime]] | None = None
        for member in members:
            spans = _windows_on(day, member.windows, member.tz)
            common = spans if common is None else _intersect(common, spans)
        for start, end in common or []:
            slot = _round_up(max(start, earliest)) if start < earliest else start
            near = [[r for r in member_runs if r[0] < end and start < r[1]] for member_runs in runs]
            while slot + duration <= end:
                blocker = _blocker(slot, duration, members, near, booked, nation)
                if blocker is None:
                    break
                if seen is not None:
                    seen.setdefault(blocker)
                slot += SLOT_STEP
            if slot + duration <= end and slot not in exclude and slot >= earliest:
                if not any(s.date() == slot.date() for s in found):
                    found.append(slot)
                break
        if len(found) >= count:
            break
    return sorted(found)[:count]


def _blocker(slot: datetime, duration: timedelta, members: list[SlotMember], runs, booked,
             nation: str | None) -> Obstacle | None:
    """What keeps this slot from being offered, or None if it fits."""
    ends = slot + duration
    if nation is not None:
        for member in members:
            for moment in (slot, ends - timedelta(microseconds=1)):
                day = moment.astimezone(member.tz).date()
                name = holiday_name(day, nation)
                if name is not None:
                    return Obstacle("holiday", day=day, holiday=name)
    for member, member_runs in zip(members, runs):
        for start, end, run_end, reason in member_runs:
            if start < ends and slot < end:
                return Obstacle("busy", member.key, member.name, member.tz, reason, until=run_end)
    for member in members:
        if _in_quiet_hours(slot, ends, member):
            return Obstacle("quiet", member.key, member.name, quiet_hours=member.quiet_hours or DEFAULT_QUIET_HOURS)
    if _clashes(slot, duration, booked):
        return Obstacle("booked")
    return None


def _runs(busy: Sequence[Busy]) -> list[tuple[datetime, datetime, datetime, str]]:
    """Each busy span with the end of its run: spans of one reason less than RUN_GAP apart."""
    spans = sorted(busy, key=lambda b: (b.start, b.end))
    out: list[tuple[datetime, datetime, datetime, str]] = []
    for index, span in enumerate(spans):
        run_end = span.end
        for later in spans[index + 1:]:
            if later.reason == span.reason and later.start - run_end < RUN_GAP:
                run_end = max(run_end, later.end)
        out.append((span.start, span.end, run_end, span.reason))
    return out


def _in_quiet_hours(slot: datetime, ends: datetime, member: SlotMember) -> bool:
    start, end = parse_quiet_hours(member.quiet_hours or DEFAULT_QUIET_HOURS)
    local = slot.astimezone(member.tz).date()
    for day in (local - timedelta(days=1), local, local + timedelta(days=1)):
        begins = datetime.combine(day, start, member.tz)
        finishes = datetime.combine(day if start < end else day + timedelta(days=1), end, member.tz)
        if slot < finishes and begins < ends:
            return True
    return False


def _latest_runs(seen) -> list[Obstacle]:
    """One busy obstacle per member and reason (the run that ends last); the rest as they are."""
    latest: dict[tuple, Obstacle] = {}
    others = []
    for obstacle in seen:
        if obstacle.kind != "busy":
            others.append(obstacle)
            continue
        key = (obstacle.member_key, obstacle.member, obstacle.reason)
        if key not in latest or obstacle.until > latest[key].until:
            latest[key] = obstacle
    return [*latest.values(), *others]


def _telling_order(obstacle: Obstacle):
    order = {"busy": 0, "holiday": 1, "quiet": 2, "booked": 3}[obstacle.kind]
    return (order, obstacle.until or datetime.min.replace(tzinfo=timezone.utc), obstacle.day or date.min,
            str(obstacle.member))


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
