"""Pairs that drift apart: a nudge after three weeks without a meeting, the coordinator told at five."""

from __future__ import annotations

from datetime import timedelta

from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.context import FlowContext, active_members, names
from bot.flows.base import choice
from bot.messages import Message
from bot.models import Cohort, Pair
from bot.programme import Programme


def active_until(cohort: Cohort):
    """Pairs are expected to meet until the programme's last step before the follow-up."""
    programme = Programme.from_dict(cohort.programme)
    tz = ZoneInfo(cohort.timezone)
    ends = [due for due, step in programme.timeline(cohort.start_date, tz) if step.intent != "follow_up"]
    return max(ends) if ends else None


def sweep(ctx: FlowContext, cohort: Cohort) -> int:
    until = active_until(cohort)
    if until is not None and ctx.now > until:
        return 0
    nudge_after = timedelta(weeks=ctx.options.quiet_nudge_weeks)
    escalate_after = timedelta(weeks=ctx.options.quiet_escalate_weeks)
    acted = 0
    for pair in ctx.session.scalars(select(Pair).where(Pair.cohort_id == cohort.id, Pair.status == "active")):
        last = pair.last_met_at or pair.introduced_at
        members = active_members(pair)
        if last is None or len(members) < 2:
            continue
        quiet_for = ctx.now - last
        stamp = last.date().isoformat()
        if quiet_for >= escalate_after and (pair.escalated_at is None or pair.escalated_at < last):
            weeks = quiet_for.days // 7
            ctx.tell_coordinators(cohort, f"{names(members)} have not logged a meeting for {weeks} weeks "
                                          f"(nudged {'once' if pair.nudged_at else 'not yet'}). A word from you may help.",
                                  key=f"pair:{pair.id}:escalate:{stamp}", intent="quiet_pair_escalation")
            pair.escalated_at = ctx.now
            acted += 1
        elif quiet_for >= nudge_after and (pair.nudged_at is None or pair.nudged_at < last):
            options = (choice("Suggest times", "meeting", "propose", pair.id),)
            message = Message(f"It's been {quiet_for.days // 7} weeks since you last met. Rotas are hard; "
                              f"shall I suggest some times?", choices=options, intent="quiet_pair_nudge")
            for member in members:
                ctx.send_to(member, message, f"pair:{pair.id}:nudge:{stamp}:to:{member.id}", cohort.id)
            pair.nudged_at = ctx.now
            acted += 1
    return acted
