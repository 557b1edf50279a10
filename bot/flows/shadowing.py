"""Shadowing proposals, both directions: the host offers slots from their own rota, because the
visitor joins the host's real work (a ward round, a night shift, a capacity meeting)."""

from __future__ import annotations

from bot import reach
from bot.context import FlowContext, active_members, names
from bot.flows import meeting
from bot.flows.base import StepInfo, fill
from bot.models import Cohort, Pair

DIRECTIONS = {
    "manager_shadows_clinician": ("clinician", "manager"),
    "clinician_shadows_manager": ("manager", "clinician"),
}


def start(ctx: FlowContext, cohort: Cohort, pair: Pair, step: StepInfo) -> int:
    direction = step.params.get("direction", "manager_shadows_clinician")
    host_role, visitor_role = DIRECTIONS[direction]
    members = active_members(pair)
    hosts = [m for m in members if m.role == host_role]
    visitors = [m for m in members if m.role == visitor_role]
    if len(members) < 2 or not hosts or not visitors:
        return 0
    host = hosts[0]
    # The host's rota sets the times; a visitor picks them when the host cannot be reached.
    proposer = host if host.person.reachable else next(iter(reach.reachable(visitors)), None)
    if proposer is None:
        return 0
    intro = fill(step.text, first_name=proposer.person.first_name,
                 buddy_names=names([m for m in members if m.id != proposer.id]), cohort=cohort.name, week=step.week)
    meeting.propose(ctx, cohort, pair, proposer=proposer, slot_members=members, kind="shadowing",
                    step_id=step.step_id, intro_text=intro, direction=direction,
                    title=f"{names(visitors)} shadows {host.person.name}")
    return 1
