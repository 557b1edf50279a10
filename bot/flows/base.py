"""What every flow shares: filling step text, choice values and the short help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bot.messages import Choice


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fill(text: str, **values: Any) -> str:
    """Fill a programme step's placeholders; one the step does not use is simply left out."""
    return text.format_map(_Blank(values)) if text else ""


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
