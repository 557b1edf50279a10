"""A participant's rota: when they cannot meet because they are working (a repeating pattern, or
shifts imported from their e-rostering calendar), on planned leave, or resting after a run of
nights; and the date they rotate to another post.

Slots, warnings and the coordinator's view ask this module, never the stored form directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.models import Participant


@dataclass(frozen=True)
class Busy:
    """A span (UTC) in which someone cannot meet, and why, worded to follow their name:
    "is on nights", "is on leave", "is resting after nights", "is on a long day"."""

    start: datetime
    end: datetime
    reason: str


def busy_spans(participant: Participant, start: datetime, end: datetime) -> list[Busy]:
    """Every span between `start` and `end` (UTC) in which `participant` cannot meet, earliest first."""
    return []


def rotates_on(participant: Participant) -> date | None:
    """The day they move to another post, if known."""
    return None
