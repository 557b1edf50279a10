"""Enrolment step: ask each member for the weekly times they could usually meet, which is what
meeting slots are drawn from, then whether they work shifts (bot/flows/rota_questions.py). Anyone
can update theirs at any time with 'availability ...'."""

from __future__ import annotations

from sqlalchemy import select

from bot.context import FlowContext
from bot.flows import rota_questions
from bot.flows.base import StepInfo, buddy_names, fill
from bot.messages import Message
from bot.models import Cohort, Participant, Prompt
from bot.slots import AvailabilityError, describe_availability, parse_availability

FLOW = "profile"
EXAMPLE = "Mon 12:00-14:00, Thu 17:00-18:30"


def start(ctx: FlowContext, cohort: Cohort, participant: Participant, step: StepInfo) -> int:
    lead = fill(step.text, first_name=participant.person.first_name, buddy_names=buddy_names(ctx, participant),
                cohort=cohort.name, week=step.week)
    current = describe_availability(participant.availability or [])
    prompt = ctx.open_prompt(participant, FLOW, participant.id, field="availability")
    ctx.send_to(
        participant,
        Message(f"{lead}\nWhich times in a usual week could you meet for {ctx.options.meeting_minutes} minutes? "
                f"Reply like '{EXAMPLE}'. (Now: {current}.)", intent="enrol"),
        f"step:{cohort.id}:{step.step_id}:participant:{participant.id}", asks=prompt,
    )
    return 1


def set_availability(ctx: FlowContext, who: Participant, text: str) -> Message:
    try:
        windows = parse_availability(text)
    except AvailabilityError as problem:
        return Message(f"Sorry, I couldn't read that: {problem}. For example: '{EXAMPLE}'.", intent="reask")
    who.availability = windows
    enrolling = ctx.session.scalars(select(Prompt.id).where(Prompt.participant_id == who.id, Prompt.flow == FLOW,
                                                            Prompt.status == "open")).first() is not None
    ctx.close_prompts(FLOW, who.id, [who.id], status="answered")
    thanks = f"Thanks, I'll suggest meeting times within: {describe_availability(windows)}."
    shifts = rota_questions.ask_after_availability(ctx, who) if enrolling else None
    if shifts is None:
        return Message(thanks, intent="ack")
    return Message(f"{thanks}\n{shifts.text}", choices=shifts.choices, intent=shifts.intent)


def on_text(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> Message:
    return set_availability(ctx, who, text)


def accepts(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> bool:
    try:
        parse_availability(text)
    except AvailabilityError:
        return False
    return True


def about(ctx: FlowContext, prompt: Prompt) -> str:
    return "your usual free times"
