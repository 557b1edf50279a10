"""Workshops (group meetings): when and where each is, and moving one.

The programme file gives each workshop its date, time and place; `workshop set` changes one for a
cohort. If the invitations have gone, everyone invited is told the new time and asked again."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import invitations
from bot.commands.common import Call, CommandSpec, Refusal, done, find_cohort, need, options, parse_date
from bot.flows import group_meeting
from bot.flows.base import StepInfo, choice, choices_state
from bot.messages import Message
from bot.models import Cohort, Meeting, Participant, Rsvp
from bot.programme import Programme, Step
from bot.bank_holidays import holiday_name
from bot.slots import format_day, format_slot

_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
MAX_MINUTES = 600


def _workshops(cohort: Cohort) -> list[Step]:
    return [s for s in Programme.from_dict(cohort.programme).steps if s.intent == "group_meeting"]


def _info(cohort: Cohort, step: Step) -> StepInfo:
    return StepInfo(cohort.id, step.id, step.intent, step.text, step.params, step.week)


def _find_step(cohort: Cohort, token: str) -> Step:
    steps = _workshops(cohort)
    wanted = token.strip().lower()
    for step in steps:
        if wanted in (step.id.lower(), str(step.params.get("title", "")).lower()):
            return step
    known = ", ".join(s.id for s in steps) or "none"
    raise Refusal(f"{cohort.name} has no workshop '{token}'. Its workshops: {known}.")


def _when(call: Call, cohort: Cohort, step: Step, meeting: Meeting | None) -> tuple[datetime, str, int]:
    if meeting is not None:
        return meeting.agreed_at, meeting.location, meeting.minutes or group_meeting.DEFAULT_MINUTES
    info = _info(cohort, step)
    override = (cohort.settings or {}).get("workshops", {}).get(step.id, {})
    minutes = int(override.get("minutes") or step.params.get("duration_minutes", group_meeting.DEFAULT_MINUTES))
    at = group_meeting.workshop_time(cohort, info, call.ctx.nation(cohort.organisation_id))
    return at, group_meeting.workshop_place(cohort, info), minutes


def _held(call: Call, cohort: Cohort, step: Step) -> Meeting | None:
    return call.session.scalars(select(Meeting).where(Meeting.cohort_id == cohort.id, Meeting.kind == "group",
                                                      Meeting.step_id == step.id)).first()


def _list(call: Call) -> Message:
    words, opts = options(call.args, ("cohort",))
    cohort = find_cohort(call, " ".join(words) or opts.get("cohort"))
    tz = ZoneInfo(cohort.timezone)
    lines = [f"Workshops of {cohort.name}:"]
    for step in _workshops(cohort):
        meeting = _held(call, cohort, step)
        at, place, minutes = _when(call, cohort, step, meeting)
        local = at.astimezone(tz)
        end = local + timedelta(minutes=minutes)
        state = "invitations sent" if meeting is not None else "invitations not sent yet"
        if meeting is not None:
            answers = [a for (a,) in call.session.execute(select(Rsvp.answer).where(Rsvp.meeting_id == meeting.id))]
            state += f"; coming {answers.count('yes')}, not sure {answers.count('maybe')}, " \
                     f"can't {answers.count('no')}"
        lines.append(f"• {step.params.get('title', step.id)} ({step.id}): {format_slot(at, tz)}-{end:%H:%M}, "
                     f"{place or 'place not set'} ({state})")
    return Message("\n".join(lines), intent="status")


def _set(call: Call) -> Message:
    words, opts = options(call.args, ("cohort", "place", "minutes"))
    for word in list(words):  # place="..." and minutes=N, as enrol takes site=...
        name, sep, value = word.partition("=")
        if sep and name.lower() in ("place", "minutes"):
            opts[name.lower()] = value
            words.remove(word)
    need(words, 3, "workshop set WORKSHOP DATE TIME [place=\"...\"] [minutes=N] (e.g. workshop set "
                   "launch-workshop 2027-01-14 13:00 place=\"Education Centre\")")
    cohort = find_cohort(call, opts.get("cohort"))
    step = _find_step(cohort, words[0])
    day = parse_date(words[1], "date")
    match = _TIME.match(words[2])
    if not match:
        raise Refusal(f"'{words[2]}' is not a time of day: write it as HH:MM, e.g. 13:00.")
    minutes = None
    if "minutes" in opts:
        if not re.fullmatch(r"[0-9]{1,3}", opts["minutes"]) or not 15 <= int(opts["minutes"]) <= MAX_MINUTES:
            raise Refusal(f"minutes={opts['minutes']} is not a length from 15 to {MAX_MINUTES} minutes.")
        minutes = int(opts["minutes"])
    tz = ZoneInfo(cohort.timezone)
    at = datetime.combine(day, time(int(match[1]), int(match[2])), tzinfo=tz).astimezone(timezone.utc)
    if at <= call.ctx.now:
        raise Refusal(f"{format_slot(at, tz)} has already passed; give a time still to come.")
    meeting = _held(call, cohort, step)
    invitations = next(d.due for d in call.ctx.timeline(cohort) if d.step.id == step.id)
    if meeting is None and at <= invitations:
        raise Refusal(f"The invitations for {step.params.get('title', step.id)} go out on "
                      f"{format_slot(invitations, tz)}; the workshop must come after that (or move the "
                      f"timeline first with 'timeline shift').")
    place = opts.get("place")
    settings = dict(cohort.settings or {})
    workshops = dict(settings.get("workshops", {}))
    entry = {**workshops.get(step.id, {}), "at": at.isoformat()}
    if place is not None:
        entry["location"] = place[:200]
    if minutes is not None:
        entry["minutes"] = minutes
    workshops[step.id] = entry
    settings["workshops"] = workshops
    cohort.settings = settings
    title = step.params.get("title", step.id)
    nation = call.ctx.nation(cohort.organisation_id)
    holiday = holiday_name(at.astimezone(tz).date(), nation)
    # The coordinator's date stands (they may mean it), but they hear it is a bank holiday.
    note = f" Note: {format_day(at, tz)} is a bank holiday in {nation} ({holiday})." if holiday else ""
    call.audit("workshop set", f"{title} in {cohort.name}: {at.isoformat()}" + (f", {place}" if place else ""))
    if meeting is None:
        return done(f"{title} is now on {format_slot(at, tz)}"
                    f"{', ' + place if place else ''}. The invitations go out on {format_slot(invitations, tz)}."
                    f"{note}")
    meeting.agreed_at = at
    if place is not None:
        meeting.location = place[:200]
    if minutes is not None:
        meeting.minutes = minutes
    call.ctx.wake("workshop_digest", meeting.id, group_meeting.ends_at(meeting))
    told = _tell_invited(call, cohort, meeting)
    return done(f"{title} is now on {format_slot(at, tz)}{', ' + meeting.location if meeting.location else ''}. "
                f"I've told the {told} people invited and asked them again whether they can come.{note}")


def _tell_invited(call: Call, cohort: Cohort, meeting: Meeting) -> int:
    invited = list(call.session.scalars(select(Participant).where(
        Participant.cohort_id == cohort.id, Participant.status == "active").order_by(Participant.id)).unique())
    answers = dict(call.session.execute(select(Rsvp.participant_id, Rsvp.answer)
                                        .where(Rsvp.meeting_id == meeting.id)).all())
    options_ = tuple(choice(label, group_meeting.FLOW, "rsvp", meeting.id, answer)
                     for answer, label in group_meeting.ANSWERS.items())
    stamp = meeting.agreed_at.strftime("%Y%m%d%H%M")
    held = invitations.moved(call.ctx, meeting, invited)  # calendars that hold it get the new version
    told = 0
    for member in invited:
        if not member.person.reachable:
            continue
        when = format_slot(meeting.agreed_at, ZoneInfo(member.person.timezone))
        before = answers.get(member.id)
        was = f" You had said: {group_meeting.ANSWERS[before].lower()}." if before else ""
        invitation = held.get(member.id)
        text = (f"{meeting.title} has moved: it is now on {when}"
                f"{', ' + meeting.location if meeting.location else ''}.{was} Can you come?"
                + ("\n📅 The calendar invitation here has the new time." if invitation else ""))
        call.ctx.close_prompts(group_meeting.FLOW, meeting.id, [member.id])
        call.ctx.open_prompt(member, group_meeting.FLOW, meeting.id, choices=choices_state(options_))
        call.ctx.send_to(member, Message(text, choices=options_, intent="group_meeting", invitation=invitation),
                         f"workshop:{meeting.id}:moved:{stamp}:to:{member.id}", cohort.id)
        told += 1
    return told


COMMANDS = (
    CommandSpec("workshop list", ("coordinator", "facilitator"), "each workshop's date, time, place and replies",
                "workshop list", _list),
    CommandSpec("workshop set", ("coordinator",), "move a workshop, or set its place",
                "workshop set launch-workshop 2027-01-14 13:00 place=\"Education Centre\"", _set),
)
