""""My programme": what one participant sees of their programme (Slack's App Home, a Teams tab or
a `me` command): their pair, the next steps, their meetings and their surveys."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.context import FlowContext, pair_members
from bot.models import Cohort, Meeting, Pair, PairMember, Participant, Person, StepRun, SurveyResponse
from bot.programme import SURVEY_INTENTS, Programme
from bot.dates import short_date
from bot.slots import format_slot
from bot.surveys import get_survey

INTENT_NAMES = {
    "pair_intro": "Meet your buddy", "propose_meeting": "Buddy meeting", "propose_shadowing": "Shadowing",
    "contract": "Pair contract", "group_meeting": "Group meeting", "reflect": "Reflection",
    "pre_survey": "Starting survey", "post_survey": "End survey", "pulse": "Mid-point check-in",
    "fit_check": "How is your pairing going?", "follow_up": "Follow-up survey", "project": "Improvement project",
    "enrol": "Your profile", "celebrate": "Celebration",
}


@dataclass(frozen=True)
class Overview:
    title: str
    sections: tuple[tuple[str, str], ...]  # (heading, body)


def for_person(ctx: FlowContext, person: Person | None) -> Overview:
    if person is None:
        return Overview("Pairbot", (("Not enrolled yet", "Ask your programme coordinator to enrol you."),))
    participant = ctx.session.scalars(
        select(Participant).join(Cohort, Cohort.id == Participant.cohort_id)
        .where(Participant.person_id == person.id, Cohort.status.in_(("running", "paused", "draft")))
        .order_by(Participant.id.desc())
    ).first()
    if participant is None:
        return Overview("Pairbot", (("No programme just now", "You are not in a running cohort."),))
    cohort = ctx.session.get(Cohort, participant.cohort_id)
    zone = ZoneInfo(person.timezone or cohort.timezone)
    programme = Programme.from_dict(cohort.programme)
    pair = _pair_of(ctx, participant)
    ran = set(ctx.session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
    return Overview(
        f"My programme: {cohort.name}",
        (
            ("My pair", _pair(participant, pair)),
            ("Next steps", _next_steps(ctx, cohort, ran, zone)),
            ("My meetings", _meetings(ctx, pair, programme, zone)),
            ("My surveys", _surveys(ctx, participant, programme, ran)),
        ),
    )


def _pair_of(ctx: FlowContext, participant: Participant) -> Pair | None:
    return ctx.session.scalars(
        select(Pair).join(PairMember, PairMember.pair_id == Pair.id)
        .where(PairMember.participant_id == participant.id, Pair.status == "active")
    ).first()


def _pair(participant: Participant, pair: Pair | None) -> str:
    if pair is None:
        return "You have not been paired yet."
    others = [m for m in pair_members(pair) if m.id != participant.id]
    details = "; ".join(f"{m.person.name} ({m.profession or m.role})" for m in others)
    return f"You are paired with {details}." if others else "Your buddy has left the programme."


def _next_steps(ctx: FlowContext, cohort: Cohort, ran: set[str], zone: ZoneInfo) -> str:
    upcoming = [d for d in ctx.timeline(cohort) if d.step.id not in ran][:3]
    if not upcoming:
        return "The programme is complete. Thank you for taking part."
    return "\n".join(f"• {short_date(d.due.astimezone(zone), weekday=True)}: {INTENT_NAMES.get(d.step.intent, d.step.intent)}"
                     for d in upcoming)


def _meetings(ctx: FlowContext, pair: Pair | None, programme: Programme, zone: ZoneInfo) -> str:
    if pair is None:
        return "None yet."
    meetings = list(ctx.session.scalars(select(Meeting).where(Meeting.pair_id == pair.id).order_by(Meeting.id)))
    held = sum(1 for m in meetings if m.kind == "buddy" and m.status == "held")
    lines = [f"Buddy meetings held: {held} of {programme.meetings_target}"]
    for meeting in meetings:
        if meeting.status == "agreed" and meeting.agreed_at is not None:
            what = "Shadowing" if meeting.kind == "shadowing" else "Buddy meeting"
            lines.append(f"• {what}: {format_slot(meeting.agreed_at, zone)}")
    shadowing = {m.direction for m in meetings if m.kind == "shadowing" and m.status == "held"}
    if shadowing:
        lines.append(f"Shadowing done: {len(shadowing)} of 2 directions")
    return "\n".join(lines)


def _surveys(ctx: FlowContext, participant: Participant, programme: Programme, ran: set[str]) -> str:
    answered = Counter(ctx.session.scalars(
        select(SurveyResponse.survey).where(SurveyResponse.participant_id == participant.id)))
    lines = []
    for step in programme.steps:
        if step.intent not in SURVEY_INTENTS or step.id not in ran:
            continue
        survey = get_survey(step.params.get("survey") or step.intent)
        done = answered.get(survey.id, 0)
        state = "done" if done >= len(survey.items) else f"{done} of {len(survey.items)} answered"
        lines.append(f"• {survey.title}: {state}")
    return "\n".join(lines) or "No surveys yet."

