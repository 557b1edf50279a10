"""Dates as every message writes them."""

from __future__ import annotations

from datetime import date, datetime


def short_date(value: date | datetime, weekday: bool = False, year: bool = False) -> str:
    """"8 Mar", "Mon 8 Mar" or "8 Mar 2027" (a value already in the reader's time zone): the day
    without a leading zero, as the slots and invitations write it."""
    text = f"{value.day} {value:%b}" + (f" {value:%Y}" if year else "")
    return f"{value:%a} {text}" if weekday else text
