"""A programme step fans out to its audience: each intent names the flow that handles it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.context import FlowContext
from bot.flows import contract, group_meeting, intro, meeting, profile, project, reflection, shadowing, survey
from bot.flows.base import StepInfo, fill
from bot.messages import Message
from bot.models import Cohort, Pair, Participant
from bot.programme import Step
from bot.slots import format_slot

# Steps addressed to a pair.
PAIR_STEPS = {
    "pair_intro": intro.introduce,
    "propose_meeting": meeting.start_buddy_meeting,
    "propose_shadowing": shadowing.start,
    "contract": contract.start,
    "project": project.start,
}

# Steps addressed to each participant in the audience.
PERSON_STEPS = {
    "enrol": profile.start,
    "pre_survey": survey.start,
    "post_survey": survey.start,
    "pulse": survey.start,
    "fit_check": survey.start,
    "follow_up": survey.start,
    "reflect": reflection.start,
    "project": None,  # handled per pair
}

ROLE_AUDIENCES = {"clinicians": "clinician", "managers": "manager"}


def fan_out(ctx: FlowContext, cohort: Cohort, step: Step) -> int:
    """Record this step's deliveries for every recipient; returns how many conversations it reaches."""
    info = StepInfo(cohort.id, step.id, step.intent, step.text, step.params, step.week)
    if step.audience in ("coordinators", "facilitators"):
        return _to_staff(ctx, cohort, step, info)
    if step.audience == "pair" or (step.intent in PAIR_STEPS and step.intent != "project"):
        handler = PAIR_STEPS[step.intent]
        pairs = ctx.session.scalars(
            select(Pair).where(Pair.cohort_id == cohort.id, Pair.status == "active").order_by(Pair.id)
        )
        return sum(handler(ctx, cohort, pair, info) for pair in pairs)
    participants = _participants(ctx, cohort, step.audience)
    if step.intent == "group_meeting":
        event = group_meeting.meeting_for_step(ctx, cohort, info)
        return sum(group_meeting.invite(ctx, cohort, event, p, info) for p in participants)
    if step.intent == "project":
        pair_ids = {m.pair_id for p in participants for m in _memberships(ctx, p)}
        pairs = [ctx.session.get(Pair, pid) for pid in sorted(pair_ids)]
        return sum(project.start(ctx, cohort, pair, info) for pair in pairs if pair.status == "active")
    handler = PERSON_STEPS[step.intent]
    return sum(handler(ctx, cohort, p, info) for p in participants)


def _participants(ctx: FlowContext, cohort: Cohort, audience: str) -> list[Participant]:
    query = select(Participant).where(Participant.cohort_id == cohort.id, Participant.status == "active")
    if audience in ROLE_AUDIENCES:
        query = query.where(Participant.role == ROLE_AUDIENCES[audience])
    return [p for p in ctx.session.scalars(query.order_by(Participant.id)).unique() if p.person.reachable]


def _memberships(ctx: FlowContext, participant: Participant):
    from bot.models import PairMember

    return ctx.session.scalars(select(PairMember).where(PairMember.participant_id == participant.id))


def _to_staff(ctx: FlowContext, cohort: Cohort, step: Step, info: StepInfo) -> int:
    role = "coordinator" if step.audience == "coordinators" else "facilitator"
    people = ctx.staff(cohort, role)
    event = group_meeting.meeting_for_step(ctx, cohort, info) if step.intent == "group_meeting" else None
    for person in people:
        when = format_slot(event.agreed_at, ZoneInfo(person.timezone)) if event else ""
        text = fill(step.text, first_name=person.first_name, cohort=cohort.name, week=step.week,
                    title=event.title if event else "", held_at=when)
        if event:
            text += f"\n{event.title}: {when}."
        ctx.send_to_person(person, Message(text, intent=step.intent),
                           f"step:{cohort.id}:{step.id}:person:{person.id}", cohort.id)
    return len(people)
