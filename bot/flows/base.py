"""What every flow shares: filling step text, choice values and the short help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sqlalchemy import select

from bot.context import FlowContext, active_members, names
from bot.messages import Choice
from bot.models import Pair, PairMember, Participant

# What a placeholder reads as when the step's recipient has nothing to fill it with (someone
# waiting for a new pair has no buddy's name), so no message has a gap in it.
FALLBACKS = {"buddy_names": "your buddy"}


class _Values(dict):
    def __getitem__(self, key: str) -> str:
        value = super().__getitem__(key)
        if callable(value):  # worked out only when the step's text uses it
            value = value()
        return str(value) if value not in (None, "") else FALLBACKS.get(key, "")

    def __missing__(self, key: str) -> str:
        return FALLBACKS.get(key, "")


def fill(text: str, **values: Any | Callable[[], Any]) -> str:
    """Fill a programme step's placeholders. A value may be a function, called only if the text
    uses that placeholder; one with no value reads as its fallback ("your buddy")."""
    return text.format_map(_Values(values)) if text else ""


def buddy_names(ctx: FlowContext, participant: Participant) -> Callable[[], str]:
    """For `fill`: the names of the other active members of this person's pair."""
    def others() -> str:
        pair = ctx.session.scalars(select(Pair).join(PairMember, PairMember.pair_id == Pair.id).where(
            PairMember.participant_id == participant.id, Pair.status == "active").order_by(Pair.id.desc())).first()
        return names([m for m in active_members(pair) if m.id != participant.id]) if pair else ""
    return others


def choice(label: str, flow: str, verb: str, *parts: Any) -> Choice:
    return Choice(label=label, action=f"{flow}:{verb}", value=":".join(str(p) for p in parts))


def split_value(value: str, count: int) -> list[str]:
    parts = value.split(":", count - 1)
    if len(parts) != count:
        raise ValueError(f"expected {count} parts in '{value}'")
    return parts


def choices_state(choices: tuple[Choice, ...] | list[Choice]) -> list[Mapping[str, str]]:
    """Choices as stored on a prompt, so a typed "2" or "yes" can stand for a click."""
    return [{"label": c.label, "action": c.action, "value": c.value} for c in choices]


@dataclass(frozen=True)
class StepInfo:
    """The parts of a programme step a flow needs, as plain values."""

    cohort_id: int
    step_id: str
    intent: str
    text: str
    params: Mapping[str, Any]
    week: int
