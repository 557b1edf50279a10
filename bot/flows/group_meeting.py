"""Group meeting reminders with an RSVP (yes / no / not sure), which anyone may change later."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import invitations
from bot.context import FlowContext
from bot.flows.base import StepInfo, buddy_names, choice, choices_state, fill
from bot.messages import Message
from bot.models import Cohort, Meeting, Participant, Rsvp
from bot.programme import group_meeting_start
from bot.slots import format_day, format_slot

FLOW = "group"
ANSWERS = {"yes": "Yes, I'll be there", "no": "Can't make it", "maybe": "Not sure yet"}
REPLIES = {
    "yes": "Thanks, you're down as coming to {title} on {when}.",
    "no": "Thanks for letting me know. The slides and notes will be shared afterwards.",
    "maybe": "Noted as not sure; I'll keep you posted about {title}.",
}


DEFAULT_MINUTES = 120


def workshop_time(cohort: Cohort, step: StepInfo, nation: str | None) -> datetime:
    """When a workshop is held: from the programme file (bot/programme.py works out held_week,
    held_day and held_time, and moves it off `nation`'s bank holidays), never from when its step
    happened to run; a coordinator's override in the cohort's settings wins."""
    override = (cohort.settings or {}).get("workshops", {}).get(step.step_id, {})
    if override.get("at"):
        return datetime.fromisoformat(override["at"])
    return group_meeting_start(step.params, cohort.start_date, cohort.timezone, nation).astimezone(timezone.utc)


def workshop_place(cohort: Cohort, step: StepInfo) -> str:
    override = (cohort.settings or {}).get("workshops", {}).get(step.step_id, {})
    return str(override.get("location") or step.params.get("location") or "")


def meeting_for_step(ctx: FlowContext, cohort: Cohort, step: StepInfo) -> Meeting:
    meeting = ctx.session.scalars(
        select(Meeting).where(Meeting.cohort_id == cohort.id, Meeting.kind == "group",
                              Meeting.step_id == step.step_id)
    ).first()
    if meeting is None:
        meeting = Meeting(cohort_id=cohort.id, kind="group", step_id=step.step_id,
                          title=str(step.params.get("title", "Group meeting")),
                          agreed_at=workshop_time(cohort, step, ctx.nation(cohort.organisation_id)),
                          location=workshop_place(cohort, step),
                          minutes=int(step.params.get("duration_minutes", DEFAULT_MINUTES)),
                          status="agreed", slots=[], created_at=ctx.now)
        ctx.session.add(meeting)
        ctx.session.flush()
        # The "after the workshop" digest goes when it is over, not with its invitations.
        ctx.wake("workshop_digest", meeting.id, ends_at(meeting))
    return meeting


def planned_workshops(ctx: FlowContext, cohort: Cohort) -> list[tuple[datetime, datetime]]:
    """When the cohort's workshops are held, start and end (UTC), including those whose
    invitations have not gone yet: a buddy meeting booked weeks ahead must not take their time."""
    from bot.programme import Programme

    spans = []
    held = {m.step_id: m for m in ctx.session.scalars(select(Meeting).where(Meeting.cohort_id == cohort.id,
                                                                            Meeting.kind == "group"))}
    for step in Programme.from_dict(cohort.programme).steps:
        if step.intent != "group_meeting":
            continue
        meeting = held.get(step.id)
        if meeting is not None:
            if meeting.status == "agreed" and meeting.agreed_at is not None:
                spans.append((meeting.agreed_at, ends_at(meeting)))
            continue
        info = StepInfo(cohort.id, step.id, step.intent, step.text, step.params, step.week)
        override = (cohort.settings or {}).get("workshops", {}).get(step.id, {})
        minutes = int(override.get("minutes") or step.params.get("duration_minutes", DEFAULT_MINUTES))
        start = workshop_time(cohort, info, ctx.nation(cohort.organisation_id))
        spans.append((start, start + timedelta(minutes=minutes)))
    return spans


def ends_at(meeting: Meeting) -> datetime:
    return meeting.agreed_at + timedelta(minutes=meeting.minutes or DEFAULT_MINUTES)


def invite(ctx: FlowContext, cohort: Cohort, meeting: Meeting, participant: Participant, step: StepInfo) -> int:
    if meeting.agreed_at <= ctx.now:
        return 0  # an invitation after the event helps nobody (a step run late, or the workshop moved)
    when = format_slot(meeting.agreed_at, ZoneInfo(participant.person.timezone))
    location = meeting.location
    text = fill(step.text, first_name=participant.person.first_name, buddy_names=buddy_names(ctx, participant),
                cohort=cohort.name, week=step.week, title=meeting.title, held_at=when, location=location)
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
    when = format_slot(meeting.agreed_at, ZoneInfo(who.person.timezone))
    if ends_at(meeting) <= ctx.now:
        # A reply to an old invitation: the workshop is over, so there is nothing to count it for.
        ctx.close_prompts(FLOW, meeting.id, [who.id])
        return Message(f"{meeting.title} was on {when}, so I haven't changed anything.", intent="already")
    rsvp = ctx.session.get(Rsvp, (meeting.id, who.id))
    if rsvp is None:
        ctx.session.add(Rsvp(meeting_id=meeting.id, participant_id=who.id, answer=answer, answered_at=ctx.now))
    else:
        rsvp.answer, rsvp.answered_at = answer, ctx.now
    ctx.close_prompts(FLOW, meeting.id, [who.id], status="answered")
    # Coming: the workshop goes into their calendar; can't make it: it comes out again.
    if answer == "yes":
        invitations.send_invitation(ctx, meeting, who, invitations.accepted(ctx, meeting, who))
    elif answer == "no" and meeting.agreed_at > ctx.now:
        invitations.send_cancellations(ctx, meeting, invitations.cancel(ctx, meeting, [who]),
                                       "Thanks for letting me know.")
    return Message(REPLIES[answer].format(title=meeting.title, when=when), intent="ack")


def still_open(ctx: FlowContext, prompt) -> bool:
    """An invitation is a question only until its workshop is over."""
    meeting = ctx.session.get(Meeting, prompt.ref_id)
    return meeting is not None and meeting.agreed_at is not None and ends_at(meeting) > ctx.now


def about(ctx: FlowContext, prompt) -> str:
    meeting = ctx.session.get(Meeting, prompt.ref_id)
    if meeting is None:
        return "a workshop invitation"
    who = ctx.session.get(Participant, prompt.participant_id)
    day = format_day(meeting.agreed_at, ZoneInfo(who.person.timezone)) if meeting.agreed_at and who else ""
    # With its day: two workshop invitations otherwise read alike.
    return f"your reply about {meeting.title} on {day}" if day else f"your reply about {meeting.title}"


def on_text(ctx: FlowContext, who: Participant, prompt, text: str) -> Message:
    from bot.messages import Choice

    options = tuple(Choice(**c) for c in prompt.state.get("choices", []))
    return Message("Please answer yes, no or not sure (1, 2 or 3).", choices=options, intent="reask")
