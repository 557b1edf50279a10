"""Quiet hours: messages nobody asked for (nudges, reminders, digests) wait for the recipient's
morning, in their own time zone. Deferred, never dropped. A night worker sets their own hours."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_QUIET_HOURS = "21:00-08:00"
# Intents of messages sent without the person asking; answers to them go out at once.
UNPROMPTED = frozenset({"quiet_pair_nudge", "quiet_pair_escalation", "survey_reminder", "digest",
                        "rotation_warning", "moving_on_offer"})
_HOURS = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*(?:-|–|to)\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


class QuietHoursError(ValueError):
    pass


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """"21:00-08:00" -> (21:00, 08:00); the span may run past midnight."""
    match = _HOURS.match(text)
    if not match:
        raise QuietHoursError(f"'{text.strip()}' is not a span of hours: write it like '21:00-08:00'")
    start, end = time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
    if start == end:
        raise QuietHoursError("quiet hours must start and end at different times")
    return start, end


def next_daytime(now: datetime, timezone: str, quiet_hours: str) -> datetime | None:
    """When a message due now may go out: None if now is outside quiet hours, else the end of them."""
    start, end = parse_quiet_hours(quiet_hours or DEFAULT_QUIET_HOURS)
    local = now.astimezone(ZoneInfo(timezone))
    clock = local.time()
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    wake = datetime.combine(local.date(), end, tzinfo=local.tzinfo)
    if wake <= local:
        wake = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=local.tzinfo)
    return wake.astimezone(now.tzinfo)
