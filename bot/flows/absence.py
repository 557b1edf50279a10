"""People paused until a date (leave, nights, rotation) come back on that day by themselves."""

from __future__ import annotations

from sqlalchemy import select

from bot.context import FlowContext
from bot.messages import Message
from bot.models import Cohort, Participant


def resume(ctx: FlowContext, who: Participant, cohort_id: int) -> None:
    who.status, who.paused_until = "active", None
    ctx.send_to(who, Message("Welcome back: your programme messages start again.", intent="resumed"),
                f"resume:{who.id}:{ctx.now.date().isoformat()}", cohort_id)


def resume_returning(ctx: FlowContext, cohort: Cohort) -> int:
    """Resume everyone whose pause ends today or earlier (run by the daily sweep)."""
    today = ctx.now.date()
    returning = list(ctx.session.scalars(select(Participant).where(
        Participant.cohort_id == cohort.id, Participant.status == "paused",
        Participant.paused_until.is_not(None), Participant.paused_until <= today)).unique())
    for who in returning:
        resume(ctx, who, cohort.id)
    return len(returning)
