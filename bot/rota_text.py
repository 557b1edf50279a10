"""Reading a rota as people type it on a phone: "nights 1 in 4 from 11 Jan", "long days Mon Wed",
"weekends 1 in 3 from 16 Jan", "leave 1-5 Mar", "rotate 7 Apr", several at once separated by
commas. Coordinators use the same forms (`enrol ... rota=... leave=... rotates=...`, CSV columns).
What cannot be read is refused with the part that is wrong, quoted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.rota import EVERY_FROM, EVERY_TO, KINDS, Leave, Pattern, RotaPlan

EXAMPLE = "nights 1 in 4 from 11 Jan, leave 1-5 Mar, rotate 7 Apr"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_LEAVE_DAYS = 366

_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
_ORD = r"(?:st|nd|rd|th)?"
# One date: 2027-01-11, (Mon) 11 Jan (2027), Jan 11 (2027), 11/1(/2027).
_DATE = (rf"(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|(?:{_DAY}\s+)?\d{{1,2}}{_ORD}\s+{_MONTH}(?:\s+\d{{4}})?"
         rf"|{_MONTH}\s+\d{{1,2}}{_ORD}(?:\s+\d{{4}})?|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?)")
_CLOCK = r"\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm)?"
_KIND = {  # how people name a kind of shift -> KINDS name (longest first)
    "long day shifts": "long_days", "long day shift": "long_days", "long days": "long_days", "long day": "long_days",
    "night shifts": "nights", "night shift": "nights", "nights": "nights", "night": "nights",
    "weekend shifts": "weekends", "weekends": "weekends", "weekend": "weekends",
    "day shifts": "days", "day shift": "days", "days": "days",
}
_LEAVE = {"annual leave": "leave", "study leave": "study leave", "leave": "leave", "al": "leave", "a/l": "leave",
          "holidays": "leave", "holiday": "leave"}
_ROTATE = ("rotation date", "rotating", "rotation", "rotates", "rotate", "moving post", "move post",
           "new post", "next post")
_REGULAR = ("no, regular days", "regular days", "no shifts", "no shift work", "office hours", "no, i don't",
            "i don't work shifts")
_NOTHING = ("none", "no", "nope", "nothing", "no leave", "not yet", "n/a", "na", "skip", "don't know",
            "dont know", "no plans", "nothing planned", "nothing booked", "not sure")
_FILLER = {"on", "the", "a", "week", "weeks", "shift", "shifts", "of", "at", "and", "every", "my", "i", "do",
           "work", "am", "is", "are", "from", "starting", "to"}


class RotaError(ValueError):
    """What is wrong, naming the part of the text: "'nights 1 in 0': the repeat must be 1 in 2 to 1 in 12"."""


@dataclass(frozen=True)
class RotaChange:
    """What a message says about someone's rota."""

    patterns: tuple[Pattern, ...] = ()
    leave: tuple[Leave, ...] = ()
    rotates: date | None = None
    regular_days: bool = False
    nothing: bool = False  # "none": no (more) leave or rotation date to give
    clear: bool = False

    @property
    def says_anything(self) -> bool:
        return bool(self.patterns or self.leave or self.rotates or self.regular_days or self.nothing or self.clear)


def parse_rota(text: str, today: date) -> RotaChange:
    """Everything a message says: patterns, leave and a rotation date; RotaError names what is wrong."""
    typed = _plain(text)
    if not typed:
        raise RotaError(f"nothing given: reply like '{EXAMPLE}'")
    if typed in ("clear", "clear all", "delete", "remove"):
        return RotaChange(clear=True)
    if typed.rstrip(".!") in _NOTHING:
        return RotaChange(nothing=True)
    if typed.rstrip(".!") in _REGULAR:
        return RotaChange(regular_days=True)
    patterns, leave, rotates, regular = [], [], None, False
    for clause in _clauses(typed):
        word, kind = _keyword(clause)
        body = clause[len(word):].strip() if word else clause
        if kind == "regular":
            regular = True
        elif kind == "rotate":
            rotates = _rotation(clause, body, today)
        elif kind in ("leave", "study leave"):
            leave += [Leave(first, last, kind) for first, last in _leave(clause, body, today)]
        elif kind in KINDS:
            patterns.append(_pattern(clause, kind, body, today))
        else:
            raise RotaError(f"'{clause}': start with nights, long days, days, weekends, leave or rotate, "
                            f"like '{EXAMPLE}'")
    if regular and patterns:
        raise RotaError(f"'{typed}': regular days and shifts at once; give one or the other")
    return RotaChange(tuple(patterns), tuple(leave), rotates, regular)


def applied(plan: RotaPlan, change: RotaChange) -> RotaPlan:
    """`plan` with what a message said: new patterns replace those of the same kinds, leave is
    added, a rotation date replaces the one before; "clear" starts again."""
    plan = RotaPlan() if change.clear else plan
    if change.regular_days:
        plan = plan.as_regular_days()
    if change.patterns:
        plan = plan.with_patterns(change.patterns)
    if change.leave:
        plan = plan.with_leave(change.leave)
    if change.rotates:
        plan = plan.with_rotation(change.rotates)
    return plan


def parse_leave(text: str, today: date) -> tuple[Leave, ...]:
    """`leave=2027-03-01..2027-03-05,2027-05-10` (enrol, CSV): date ranges only."""
    typed = _plain(text)
    return tuple(Leave(first, last) for first, last in _leave(typed, typed, today))


def parse_rotation(text: str, today: date) -> date:
    """`rotates=2027-04-07` (enrol, CSV): one date."""
    typed = _plain(text)
    return _rotation(typed, typed, today)


# --- clauses ---------------------------------------------------------------------------------------
def _plain(text: str) -> str:
    typed = " ".join(text.strip().lower().split())
    typed = re.sub(r"\s*[\u2013\u2014\u2012\u2212]+\s*|\s+--\s+|\s*--\s*", "-", typed)  # a phone's dashes
    return typed.replace("\u2019", "'")


def _clauses(typed: str) -> list[str]:
    """Split at commas, semicolons, new lines and 'and'; a part that starts with no keyword
    belongs to the one before ("nights Mon, Wed", "leave 1-5 Mar and 10-12 Apr")."""
    clauses: list[str] = []
    for part in re.split(r"\s*(?:[,;+]|\band\b)\s*", typed):
        if not part:
            continue
        normal = _reorder(part)
        if clauses and _keyword(normal)[1] is None:
            clauses[-1] = f"{clauses[-1]}, {part}"
        else:
            clauses.append(normal)
    return clauses


def _reorder(part: str) -> str:
    """'1 in 4 nights from 11 Jan' -> 'nights 1 in 4 from 11 Jan'."""
    match = re.match(r"^((?:1|one)\s+in\s+\d+)\s+(.*)$", part)
    if match and _keyword(match[2])[1] in KINDS:
        word, _kind = _keyword(match[2])
        return f"{word} {match[1]} {match[2][len(word):].strip()}".strip()
    return part


def _keyword(clause: str) -> tuple[str, str | None]:
    """The words a clause starts with and what they name: a KINDS name, "leave", "study leave",
    "rotate", "regular", or None."""
    for phrase in _REGULAR:
        if clause == phrase or clause.startswith(phrase + " "):
            return phrase, "regular"
    for phrase, kind in [*_KIND.items(), *_LEAVE.items()] + [(r, "rotate") for r in _ROTATE]:
        if re.match(rf"^(?:on\s+)?{re.escape(phrase)}(?![a-z])", clause):
            found = re.match(rf"^(?:on\s+)?{re.escape(phrase)}", clause)[0]
            return found, kind
    return "", None


# --- a pattern -------------------------------------------------------------------------------------
def _pattern(clause: str, kind: str, body: str, today: date) -> Pattern:
    usual = KINDS[kind]
    rest = body.replace(",", " ")
    every, rest = _every(clause, rest)
    anchor_text, rest = _take(rest, rf"\b(?:from|starting|starts|beginning|w/c|wc|week of|week commencing)\s+({_DATE})")
    hours, rest = _take(rest, rf"(?<![\d/])({_CLOCK})\s*(?:-|to)\s*({_CLOCK})(?![\d/])", whole=True)
    days, rest = _days(clause, rest)
    leftover = [w for w in re.findall(r"[^\s]+", rest) if w not in _FILLER]
    if leftover:
        raise RotaError(f"'{clause}': I can't read '{' '.join(leftover)}'; write it like "
                        f"'{usual.label} 1 in 4 from 11 Jan' or '{usual.label} Mon-Thu 20:00-08:30'")
    if every == 1 and days is None and anchor_text is None:
        raise RotaError(f"'{clause}': say how often, like '{usual.label} 1 in 4 from 11 Jan', or on which days, "
                        f"like '{usual.label} {_describe_days(usual.days)}'")
    anchor = None
    if anchor_text is not None:
        anchor = _date(clause, anchor_text, today, nearest=True)
        anchor -= timedelta(days=anchor.weekday())  # the repeat counts weeks from that Monday
    if every > 1 and anchor is None:
        raise RotaError(f"'{clause}': say which week they start, like '{usual.label} 1 in {every} from 11 Jan'")
    start, end = usual.start, usual.end
    if hours is not None:
        start, end = _time(clause, hours[0]), _time(clause, hours[1])
        if start == end:
            raise RotaError(f"'{clause}': a shift can't start and end at the same time")
    return Pattern(kind, days or usual.days, start, end, every, anchor, today)


def _every(clause: str, rest: str) -> tuple[int, str]:
    for expression, number in ((r"\b(?:1|one)\s+in\s+(\d+)\b", None),
                               (r"\bevery\s+(\d+)(?:st|nd|rd|th)?\s+weeks?\b", None),
                               (r"\bevery\s+(?:other|second|2nd)\s+week\b", 2),
                               (r"\b(?:every\s+week|weekly)\b", 1)):
        match = re.search(expression, rest)
        if match:
            every = number if number is not None else int(match[1])
            if number is None and not EVERY_FROM <= every <= EVERY_TO:
                raise RotaError(f"'{clause}': the repeat must be 1 in {EVERY_FROM} to 1 in {EVERY_TO}")
            return every, rest[:match.start()] + " " + rest[match.end():]
    return 1, rest


def _take(rest: str, expression: str, whole: bool = False):
    match = re.search(expression, rest)
    if not match:
        return None, rest
    value = match.groups() if whole else match[1]
    return value, rest[:match.start()] + " " + rest[match.end():]


def _days(clause: str, rest: str) -> tuple[tuple[int, ...] | None, str]:
    found: list[int] = []
    span = re.search(rf"\b({_DAY})\s*(?:-|to)\s*({_DAY})\b", rest)
    if span:
        first, last = _weekday(clause, span[1]), _weekday(clause, span[2])
        found = [(first + n) % 7 for n in range(((last - first) % 7) + 1)]
        rest = rest[:span.start()] + " " + rest[span.end():]
    for match in list(re.finditer(rf"\b{_DAY}\b", rest)):
        found.append(_weekday(clause, match[0]))
    rest = re.sub(rf"\b{_DAY}\b", " ", rest)
    return (tuple(sorted(set(found))) if found else None), rest


def _weekday(clause: str, word: str) -> int:
    day = word[:3]
    if day not in DAYS or not re.fullmatch(r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?s?", word):
        raise RotaError(f"'{clause}': '{word}' is not a day of the week")
    return DAYS.index(day)


def _time(clause: str, text: str) -> str:
    match = re.fullmatch(r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?", text.strip())
    hours, minutes, half = int(match[1]), int(match[2] or 0), match[3]
    if half:
        if not 1 <= hours <= 12:
            raise RotaError(f"'{clause}': {text} is not a time of day")
        hours = hours % 12 + (12 if half == "pm" else 0)
    elif match[2] is None:
        raise RotaError(f"'{clause}': write times like 20:00 or 8pm, not '{text}'")
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise RotaError(f"'{clause}': {text} is not a time of day (use 24-hour times like 20:00)")
    return f"{hours:02d}:{minutes:02d}"


def _describe_days(days: tuple[int, ...]) -> str:
    return f"{DAYS[days[0]].title()}-{DAYS[days[-1]].title()}"


# --- leave and rotation ----------------------------------------------------------------------------
def _leave(clause: str, body: str, today: date) -> list[tuple[date, date]]:
    ranges = [r.strip() for r in re.split(r"\s*,\s*", body) if r.strip()]
    if not ranges:
        raise RotaError(f"'{clause}': say which days, like 'leave 1-5 Mar' or 'leave 2027-03-01..2027-03-05'")
    found = []
    for typed in ranges:
        first, last = _range(clause, re.sub(r"^(?:from|on)\s+", "", typed), today)
        if last < first:
            raise RotaError(f"'{clause}': the leave ends before it starts")
        if (last - first).days >= MAX_LEAVE_DAYS:
            raise RotaError(f"'{clause}': that is more than a year of leave; check the dates")
        if last < today:
            raise RotaError(f"'{clause}': that leave is over already")
        found.append((first, last))
    return found


def _rotation(clause: str, body: str, today: date) -> date:
    typed = re.sub(r"^(?:on|is|date|:)\s+", "", body.strip())
    if not typed:
        raise RotaError(f"'{clause}': say when, like 'rotate 7 Apr'")
    day = _date(clause, typed, today)
    if day < today:
        raise RotaError(f"'{clause}': that date has passed")
    return day


def _range(clause: str, typed: str, today: date) -> tuple[date, date]:
    iso = re.fullmatch(r"(\d{4}-\d{1,2}-\d{1,2})\s*(?:\.\.|-|to|until|till)\s*(\d{4}-\d{1,2}-\d{1,2})", typed)
    if iso:
        return _date(clause, iso[1], today), _date(clause, iso[2], today)
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", typed):
        day = _date(clause, typed, today)
        return day, day
    parts = re.split(r"\s*(?:\.\.|-|\bto\b|\buntil\b|\btill\b)\s*", typed)
    if len(parts) == 1:
        day = _date(clause, parts[0], today)
        return day, day
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise RotaError(f"'{clause}': '{typed}' is not a date or a range of dates, like '1-5 Mar'")
    last = _date(clause, parts[1], today)
    first_text = parts[0]
    if re.fullmatch(rf"(?:{_DAY}\s+)?\d{{1,2}}{_ORD}", first_text):  # "1-5 Mar": month and year of the end
        number = int(re.search(r"\d+", first_text)[0])
        try:
            return date(last.year, last.month, number), last
        except ValueError:
            raise RotaError(f"'{clause}': {last:%B} has no day {number}") from None
    first = _date(clause, first_text, last, before=True)
    return first, last


def _date(clause: str, typed: str, today: date, nearest: bool = False, before: bool = False) -> date:
    """A date as typed. Without a year: the next one from `today` (leave, rotation), the one
    nearest to it (a pattern's first week) or the last one on or before it (a range's first day)."""
    text = typed.strip()
    year = None
    try:
        if match := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := re.fullmatch(rf"(?:{_DAY}\s+)?(\d{{1,2}}){_ORD}\s+({_MONTH})(?:\s+(\d{{4}}))?", text):
            day, month, year = int(match[1]), _month(clause, match[2]), match[3]
        elif match := re.fullmatch(rf"({_MONTH})\s+(\d{{1,2}}){_ORD}(?:\s+(\d{{4}}))?", text):
            day, month, year = int(match[2]), _month(clause, match[1]), match[3]
        elif match := re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?", text):
            day, month = int(match[1]), int(match[2])
            year = match[3] and (int(match[3]) + 2000 if len(match[3]) == 2 else int(match[3]))
        else:
            raise RotaError(f"'{clause}': '{typed}' is not a date; write it like 11 Jan or 2027-01-11")
        if year:
            return date(int(year), month, day)
        date(2028, month, day)  # a day that exists in some year (29 Feb in a leap year)
    except ValueError:
        raise RotaError(f"'{clause}': '{typed}' is not a date") from None
    years = [y for y in (today.year - 1, today.year, today.year + 1, today.year + 4) if _exists(y, month, day)]
    candidates = [date(y, month, day) for y in years]
    if nearest:
        return min(candidates, key=lambda d: abs((d - today).days))
    if before:
        return max(d for d in candidates if d <= today) if any(d <= today for d in candidates) else candidates[0]
    return min((d for d in candidates if d >= today), default=candidates[-1])


def _exists(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _month(clause: str, word: str) -> int:
    full = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
            "november", "december")
    if word[:3] in MONTHS and (word in full or word == word[:3] or full[MONTHS.index(word[:3])].startswith(word)
                               or word == "sept"):
        return MONTHS.index(word[:3]) + 1
    raise RotaError(f"'{clause}': '{word}' is not a month")
