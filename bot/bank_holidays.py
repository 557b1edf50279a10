"""Bank holidays in the four UK nations, from the `holidays` package (its GB subdivisions).

An organisation follows one nation's bank holidays (England unless it says otherwise): nobody is
offered a meeting on one, and a programme step that falls on one moves to the next working day.
Pure: no database, no platform.
"""

from __future__ import annotations

import difflib
import functools
from datetime import date, timedelta

import holidays

# The nations as people name them, and the `holidays` package's UK subdivision codes.
NATIONS: dict[str, str] = {"England": "ENG", "Wales": "WLS", "Scotland": "SCT", "Northern Ireland": "NIR"}
DEFAULT_NATION = "England"
# The package's names where gov.uk (and so everyone in the NHS) says something else.
_GOV_UK_NAMES = {
    "May Day": "Early May bank holiday",
    "Spring Bank Holiday": "Spring bank holiday",
    "Summer Bank Holiday": "Summer bank holiday",
    "Late Summer Bank Holiday": "Summer bank holiday",
}


class NationError(ValueError):
    pass


def parse_nation(text: str) -> str:
    """"scotland", "SCT", "northern ireland" -> the nation's name; anything else names the choices."""
    wanted = " ".join(str(text).replace("-", " ").replace("_", " ").split()).lower()
    for name, code in NATIONS.items():
        if wanted in (name.lower(), code.lower()):
            return name
    close = difflib.get_close_matches(wanted, [n.lower() for n in NATIONS], n=1, cutoff=0.75)
    hint = f" Did you mean {next(n for n in NATIONS if n.lower() == close[0])}?" if close else ""
    raise NationError(f"'{str(text).strip()}' is not a UK nation: use England, Wales, Scotland or "
                      f"Northern Ireland.{hint}")


@functools.lru_cache(maxsize=64)
def _year(nation: str, year: int) -> dict[date, str]:
    calendar = holidays.country_holidays("GB", subdiv=NATIONS[parse_nation(nation)], years=year)
    return {day: _gov_uk(name) for day, name in calendar.items()}


def _gov_uk(name: str) -> str:
    parts = []
    for part in name.split("; "):
        observed = part.endswith(" (observed)")
        base = part.removesuffix(" (observed)")
        base = _GOV_UK_NAMES.get(base, base)
        parts.append(f"{base} (substitute day)" if observed else base)
    return "; ".join(parts)


def holiday_name(day: date, nation: str = DEFAULT_NATION) -> str | None:
    """The bank holiday's name on `day` in `nation` ("Early May bank holiday"), or None."""
    return _year(nation, day.year).get(day)


def is_bank_holiday(day: date, nation: str = DEFAULT_NATION) -> bool:
    """A bank holiday in `nation` (Christmas Day and Boxing Day count on a weekend too)."""
    return holiday_name(day, nation) is not None


def is_working_day(day: date, nation: str = DEFAULT_NATION) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day, nation)


def next_working_day(day: date, nation: str = DEFAULT_NATION) -> date:
    """The first weekday after `day` that is not a bank holiday in `nation`."""
    following = day + timedelta(days=1)
    while not is_working_day(following, nation):
        following += timedelta(days=1)
    return following


def previous_working_day(day: date, nation: str = DEFAULT_NATION) -> date:
    """The last weekday before `day` that is not a bank holiday in `nation`."""
    earlier = day - timedelta(days=1)
    while not is_working_day(earlier, nation):
        earlier -= timedelta(days=1)
    return earlier


def bank_holidays_between(first: date, last: date, nation: str = DEFAULT_NATION) -> list[tuple[date, str]]:
    """Every bank holiday from `first` to `last` (both included), in order, with its name."""
    found = []
    for year in range(first.year, last.year + 1):
        found += [(day, name) for day, name in _year(nation, year).items() if first <= day <= last]
    return sorted(found)
