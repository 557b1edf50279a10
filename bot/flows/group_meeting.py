"""Group meeting reminders with an RSVP (yes / no / not sure), which anyone may change later."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.context import FlowContext
from bot.flows.base import StepInfo, buddy_names, choice, choices_state, fill
from bot.messages import Message
from bot.models import Cohort, Meeting, Participant, Rsvp
from bot.slots import format_slot

FLOW = "group"
ANSWERS = {"yes": "Yes, I'll be there", "no": "Can't make it", "maybe": "Not sure yet"}
REPLIES = {
    "yes": "Thanks, you're down as coming to {title} on {when}.",
    "no": "Thanks for letting me know. The slides and notes will be shared afterwards.",
    "maybe": "Noted as not sure; I'll keep you posted about {title}.",
}


def meeting_for_step(ctx: FlowContext, cohort: Cohort, step: StepInfo) -> Meeting:
    meeting = ctx.session.scalars(
        select(Meeting).where(Meeting.cohort_id == cohort.id, Meeting.kind == "group",
                              Meeting.step_id == step.step_id)
    ).first()
    if meeting is None:
        held_at = ctx.now + timedelta(days=int(step.params.get("held_days_after", 7)))
        meeting = Meeting(cohort_id=cohort.id, kind="group", step_id=step.step_id,
                          title=str(step.params.get("title", "Group meeting")), agreed_at=held_at,
                          status="agreed", slots=[], created_at=ctx.now)
        ctx.session.add(meeting)
        ctx.session.flush()
    return meeting


def invite(ctx: FlowContext, cohort: Cohort, meeting: Meeting, participant: Participant, step: StepInfo) -> int:
    when = format_slot(meeting.agreed_at, ZoneInfo(participant.person.timezone))
    text = fill(step.text, first_name=participant.person.first_name, buddy_names=buddy_names(ctx, participant),
                cohort=cohort.name, week=step.week, title=meeting.title, held_at=when)
    location = step.params.get("location")
    details = f"{meeting.title}: {when}" + (f", {location}" if location else "") + "."
    # The step's own text usually asks already; the buttons are the answer.
    text = "\n".join(part for part in (text, details if text.rstrip().endswith("?") else f"{details} Will you come?")
                      if part)
    options = tuple(choice(label, FLOW, "rsvp", meeting.id, answer) for answer, label in ANSWERS.items())
    ctx.open_prompt(participant, FLOW, meeting.id, choices=choices_state(options))
    ctx.send_to(participant, Message(text, choices=options, intent="group_meeting"),
                f"step:{cohort.id}:{step.step_id}:participant:{participant.id}")
    return 1


def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    meeting_id, answer = value.split(":", 1)
    meeting = ctx.session.get(Meeting, int(meeting_id))
    if verb != "rsvp" or meeting is None or meeting.kind != "group" or answer not in ANSWERS:
        raise LookupError("That invitation is no longer valid.")
    if meeting.cohort_id != who.cohort_id:
        raise LookupError("That invitation is for another cohort.")
    rsvp = ctx.session.get(Rsvp, (meeting.id, who.id))
    if rsvp is None:
        ctx.session.add(Rsvp(meeting_id=meeting.id, participant_id=who.id, answer=answer, answered_at=ctx.now))
    else:
        rsvp.answer, rsvp.answered_at = answer, ctx.now
    ctx.close_prompts(FLOW, meeting.id, [who.id], status="answered")
    when = format_slot(meeting.agreed_at, ZoneInfo(who.person.timezone))
    return Message(REPLIES[answer].format(title=meeting.title, when=when), intent="ack")


def on_text(ctx: FlowContext, who: Participant, prompt, text: str) -> Message:
    from bot.messages import Choice

    options = tuple(Choice(**c) for c in prompt.state.get("choices", []))
    return Message("Please answer yes, no or not sure (1, 2 or 3).", choices=options, intent="reask")
