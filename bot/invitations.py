"""Calendar invitations for booked buddy meetings, shadowing visits and workshops: .ics files per
RFC 5545, built with the icalendar library.

Each meeting has one UID (`meeting-<id>@<domain>`) and a SEQUENCE (`meetings.calendar_sequence`)
that every change raises once an invitation has gone out. What one participant's calendar holds is
a `CalendarInvitation` row: a booking (or a workshop they will come to) sends METHOD:REQUEST; a
reschedule, a lapse, a workshop they can no longer make, a pair that ended or leaving the cohort
sends METHOD:CANCEL (STATUS:CANCELLED, same UID, a higher SEQUENCE) to whoever holds a copy.

Messages carry only an `Invitation` (ids). The .ics is made from the row when the message goes out
(`calendar_file`), so it says what is true then and the outbox holds nobody's email.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText
from sqlalchemy import select

from bot.context import FlowContext, active_members, pair_members
from bot.messages import Invitation, Message
from bot.models import (CalendarInvitation, Cohort, Meeting, Organisation, Pair, Participant, Person,
                        RoleGrant)
from bot.slots import format_slot

PRODID = "-//Pairbot//Paired learning programme//EN"
MEDIA_TYPE = "text/calendar"
INVITED = "calendar_invitation"
CANCELLED = "calendar_cancellation"
# Said with an invitation that goes with another message (a booking, a moved workshop).
ADD_LINE = "📅 Add it to your calendar with the invitation here."


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str


@dataclass(frozen=True)
class CalendarEvent:
    """What one person's copy of a meeting says: for the .ics, and for a platform's own links
    (Teams' new-meeting deep link)."""

    uid: str
    sequence: int
    cancelled: bool
    starts_at: datetime  # UTC
    ends_at: datetime
    summary: str
    location: str
    description: str
    organiser: Attendee | None
    attendees: tuple[Attendee, ...]
    timezone: str  # the recipient's, for showing the time


@dataclass(frozen=True)
class CalendarFile:
    name: str
    content: str
    event: CalendarEvent
    media_type: str = MEDIA_TYPE


# --- the .ics itself (pure) ---------------------------------------------------------------------------
def ics_text(event: CalendarEvent, stamp: datetime) -> str:
    """One VEVENT in a VCALENDAR with METHOD:REQUEST, or METHOD:CANCEL for a cancelled copy."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if event.cancelled else "REQUEST")
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", stamp)
    vevent.add("dtstart", event.starts_at)
    vevent.add("dtend", event.ends_at)
    vevent.add("summary", event.summary)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("description", event.description)
    vevent.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    if event.organiser is not None:
        vevent.add("organizer", _address(event.organiser), encode=0)
    for attendee in event.attendees:
        address = _address(attendee)
        address.params["ROLE"] = "REQ-PARTICIPANT"
        # The time was agreed in the chat; answers go to Pairbot, not by email to the organiser.
        address.params["PARTSTAT"] = "DECLINED" if event.cancelled else "ACCEPTED"
        address.params["RSVP"] = "FALSE"
        vevent.add("attendee", address, encode=0)
    calendar.add_component(vevent)
    return calendar.to_ical().decode("utf-8")


def _address(person: Attendee) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = vText(person.name)
    return address


# --- copies people hold ------------------------------------------------------------------------------
def booked(ctx: FlowContext, meeting: Meeting, members: list[Participant]) -> dict[int, Invitation]:
    """A buddy meeting or shadowing visit was booked (or booked again after a reschedule): every
    member gets the new version."""
    members = [m for m in members if m.person.reachable]
    _raise_sequence(ctx, meeting, members)
    return {m.id: _hold(ctx, meeting, m, cancelled=False) for m in members}


def accepted(ctx: FlowContext, meeting: Meeting, who: Participant) -> Invitation | None:
    """Someone says they are coming to a workshop: their copy, unless they hold it already."""
    if meeting.agreed_at is None or meeting.agreed_at <= ctx.now or not who.person.reachable:
        return None
    held = ctx.session.get(CalendarInvitation, (meeting.id, who.id))
    if held is not None and not held.cancelled and held.starts_at == meeting.agreed_at:
        return None
    _raise_sequence(ctx, meeting, [who])
    return _hold(ctx, meeting, who, cancelled=False)


def moved(ctx: FlowContext, meeting: Meeting, told: list[Participant]) -> dict[int, Invitation]:
    """A workshop's time or place changed: those of `told` (the people told of the move) who hold
    a copy get the new version with the news."""
    told_ids = {p.id for p in told if p.person.reachable}
    holders = [p for p in _holders(ctx, meeting) if p.id in told_ids]
    _raise_sequence(ctx, meeting, holders)
    return {p.id: _hold(ctx, meeting, p, cancelled=False) for p in holders}


def cancel(ctx: FlowContext, meeting: Meeting, members: list[Participant] | None = None) -> dict[int, Invitation]:
    """Cancellations for those of `members` (everyone, when None) who hold a live copy."""
    wanted = None if members is None else {m.id for m in members}
    holders = [p for p in _holders(ctx, meeting) if wanted is None or p.id in wanted]
    _raise_sequence(ctx, meeting, holders)
    return {p.id: _hold(ctx, meeting, p, cancelled=True) for p in holders}


def _holders(ctx: FlowContext, meeting: Meeting) -> list[Participant]:
    """Participants whose calendar holds a live (not cancelled) copy of the meeting."""
    return list(ctx.session.scalars(
        select(Participant).join(CalendarInvitation, CalendarInvitation.participant_id == Participant.id)
        .where(CalendarInvitation.meeting_id == meeting.id, CalendarInvitation.cancelled.is_(False))
        .order_by(Participant.id)).unique())


def _raise_sequence(ctx: FlowContext, meeting: Meeting, recipients: list[Participant]) -> None:
    """The version about to go to `recipients` outranks every copy they hold (RFC 5545: a calendar
    keeps the copy with the highest SEQUENCE), and never goes below the meeting's newest. One
    change sent to several people in one unit of work is one version."""
    held = ctx.session.scalars(select(CalendarInvitation.sequence).where(
        CalendarInvitation.meeting_id == meeting.id,
        CalendarInvitation.participant_id.in_([p.id for p in recipients]))).all() if recipients else []
    meeting.calendar_sequence = max([meeting.calendar_sequence, *(s + 1 for s in held)])


def _hold(ctx: FlowContext, meeting: Meeting, who: Participant, cancelled: bool) -> Invitation:
    held = ctx.session.get(CalendarInvitation, (meeting.id, who.id))
    if held is None:
        held = CalendarInvitation(meeting_id=meeting.id, participant_id=who.id)
        ctx.session.add(held)
    held.sequence, held.cancelled, held.sent_at = meeting.calendar_sequence, cancelled, ctx.now
    if not cancelled:  # a cancellation names the time it takes out of the calendar
        held.starts_at = meeting.agreed_at
        held.ends_at = meeting.agreed_at + timedelta(minutes=_minutes(ctx, meeting))
    ctx.session.flush()
    return Invitation(meeting.id, who.id, held.sequence, cancelled)


def _minutes(ctx: FlowContext, meeting: Meeting) -> int:
    if meeting.kind == "group":
        from bot.flows.group_meeting import DEFAULT_MINUTES  # the flows import this module

        return meeting.minutes or DEFAULT_MINUTES
    return meeting.minutes or ctx.options.meeting_minutes


# --- messages that carry only an invitation ----------------------------------------------------------
def send_invitation(ctx: FlowContext, meeting: Meeting, who: Participant, invitation: Invitation | None) -> None:
    """The invitation on its own (to whoever booked, or said they are coming)."""
    if invitation is None:
        return
    held = ctx.session.get(CalendarInvitation, (meeting.id, who.id))
    when = format_slot(held.starts_at, ZoneInfo(who.person.timezone))
    place = f", {meeting.location}" if meeting.kind == "group" and meeting.location else ""
    _send(ctx, meeting, who, invitation,
          f"📅 Here is the calendar invitation for {_what(meeting)} on {when}{place}: add it to your calendar "
          f"with one tap.", INVITED)


def send_cancellations(ctx: FlowContext, meeting: Meeting, held: dict[int, Invitation], because: str) -> None:
    """`because` is a sentence saying why ("Your pairing has ended."); the cancellation follows."""
    for participant_id, invitation in held.items():
        who = ctx.session.get(Participant, participant_id)
        copy = ctx.session.get(CalendarInvitation, (meeting.id, participant_id))
        when = format_slot(copy.starts_at, ZoneInfo(who.person.timezone))
        _send(ctx, meeting, who, invitation,
              f"📅 {because} Here is a cancellation that takes {_what(meeting)} on {when} out of your calendar.",
              CANCELLED)


def _send(ctx: FlowContext, meeting: Meeting, who: Participant, invitation: Invitation, text: str,
          intent: str) -> None:
    ctx.send_to(who, Message(text, intent=intent, invitation=invitation),
                f"calendar:{meeting.id}:{invitation.sequence}:to:{who.id}", meeting.cohort_id)


def _what(meeting: Meeting) -> str:
    if meeting.kind == "group":
        return meeting.title
    return "your shadowing visit" if meeting.kind == "shadowing" else "your buddy meeting"


# --- when people and pairs change -------------------------------------------------------------------
def pair_ended(ctx: FlowContext, pair: Pair, because: str) -> None:
    """A pair broke up (re-paired, or a member left): its meetings still to come will not happen,
    so they lapse and every calendar that holds them gets a cancellation."""
    for meeting in ctx.session.scalars(select(Meeting).where(
            Meeting.pair_id == pair.id, Meeting.status == "agreed", Meeting.agreed_at > ctx.now)):
        meeting.status = "lapsed"
        send_cancellations(ctx, meeting, cancel(ctx, meeting), because)
    ctx.session.flush()


def left(ctx: FlowContext, leaving: Participant, cohort: Cohort) -> None:
    """Someone left the cohort: their copies of meetings still to come are cancelled (their pair's,
    and the workshops they said they would come to)."""
    copies = ctx.session.scalars(select(Meeting).join(CalendarInvitation, CalendarInvitation.meeting_id == Meeting.id)
                                 .where(CalendarInvitation.participant_id == leaving.id,
                                        CalendarInvitation.cancelled.is_(False),
                                        CalendarInvitation.starts_at > ctx.now).order_by(Meeting.id))
    for meeting in list(copies):
        send_cancellations(ctx, meeting, cancel(ctx, meeting, [leaving]), f"You have left {cohort.name}.")


# --- the file, as it is now --------------------------------------------------------------------------
def calendar_file(ctx: FlowContext, meeting_id: int, participant_id: int) -> CalendarFile | None:
    """The .ics of one participant's copy of a meeting as it is now; None when they hold none (or
    the meeting or the person is gone)."""
    held = ctx.session.get(CalendarInvitation, (meeting_id, participant_id))
    meeting = ctx.session.get(Meeting, meeting_id)
    who = ctx.session.get(Participant, participant_id)
    if held is None or meeting is None or who is None or who.status == "erased":
        return None
    cohort = ctx.session.get(Cohort, meeting.cohort_id)
    event = CalendarEvent(
        uid=uid_for(ctx, meeting, cohort), sequence=held.sequence, cancelled=held.cancelled,
        starts_at=held.starts_at, ends_at=held.ends_at, summary=_summary(ctx, meeting, cohort),
        location=_location(ctx, meeting), description=_description(meeting, cohort, held.cancelled),
        organiser=_organiser(ctx, meeting, cohort), attendees=_attendees(ctx, meeting, who),
        timezone=who.person.timezone)
    day = held.starts_at.astimezone(ZoneInfo(who.person.timezone)).date().isoformat()
    name = ("cancelled-" if held.cancelled else "") + f"{_slug(_what(meeting).removeprefix('your '))}-{day}.ics"
    return CalendarFile(name=name, content=ics_text(event, ctx.now), event=event)


def uid_for(ctx: FlowContext, meeting: Meeting, cohort: Cohort) -> str:
    """Stable for the meeting's life: "meeting-12@trust.example" (a configured domain), else the
    organisation's workspace or tenant id."""
    domain = ctx.options.calendar_domain
    if not domain:
        organisation = ctx.session.get(Organisation, cohort.organisation_id)
        domain = _slug(organisation.workspace if organisation else "pairbot") or "pairbot"
    return f"meeting-{meeting.id}@{domain}"


def _members(ctx: FlowContext, meeting: Meeting) -> list[Participant]:
    pair = ctx.session.get(Pair, meeting.pair_id) if meeting.pair_id else None
    if pair is None:
        return []
    taking_part = active_members(pair)
    return taking_part if len(taking_part) >= 2 else [m for m in pair_members(pair) if m.status != "erased"]


def _first_names(people: list[Participant]) -> str:
    first = [p.person.first_name for p in people]
    return first[0] if len(first) == 1 else ", ".join(first[:-1]) + " and " + first[-1]


def _summary(ctx: FlowContext, meeting: Meeting, cohort: Cohort) -> str:
    if meeting.kind == "group":
        return f"{meeting.title} ({cohort.name})"
    if meeting.kind == "shadowing":
        return f"Shadowing: {meeting.title}" if meeting.title else "Shadowing visit"
    members = _members(ctx, meeting)
    return f"Buddy meeting: {_first_names(members)}" if members else "Buddy meeting"


def _location(ctx: FlowContext, meeting: Meeting) -> str:
    if meeting.kind == "group":
        return meeting.location
    if meeting.kind != "shadowing":
        return ""
    from bot.flows.shadowing import DIRECTIONS  # the flows import this module

    host_role = DIRECTIONS.get(meeting.direction, ("clinician", "manager"))[0]
    host = next((m for m in _members(ctx, meeting) if m.role == host_role), None)
    if host is None:
        return ""
    where = ", ".join(part for part in (host.department, host.site) if part)
    return f"{host.person.name}'s work" + (f" ({where})" if where else "")


def _description(meeting: Meeting, cohort: Cohort, cancelled: bool) -> str:
    what = {"group": "A workshop", "shadowing": "A shadowing visit"}.get(meeting.kind, "A buddy meeting")
    text = f"{what} of the {cohort.name} paired learning programme, arranged with Pairbot."
    return f"Cancelled. {text}" if cancelled else text + " If it changes, Pairbot sends an updated invitation."


def _organiser(ctx: FlowContext, meeting: Meeting, cohort: Cohort) -> Attendee | None:
    """Who arranged it: a buddy meeting's proposer; for workshops (or a proposer without an email)
    the configured organiser, else the cohort's first coordinator with an email."""
    if meeting.kind != "group" and meeting.proposer_id:
        proposer = ctx.session.get(Participant, meeting.proposer_id)
        if proposer is not None and proposer.person.email:
            return Attendee(proposer.person.name, proposer.person.email)
    if ctx.options.calendar_organiser_email:
        return Attendee(ctx.options.calendar_organiser_name, ctx.options.calendar_organiser_email)
    coordinator = ctx.session.scalars(
        select(Person).join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.organisation_id == cohort.organisation_id, RoleGrant.role == "coordinator",
               Person.email.is_not(None)).order_by(Person.id)).first()
    return Attendee(coordinator.name, coordinator.email) if coordinator is not None else None


def _attendees(ctx: FlowContext, meeting: Meeting, who: Participant) -> tuple[Attendee, ...]:
    """A pair's meeting lists its members; a workshop copy lists only its recipient (the cohort's
    emails are not shared). People without an email are left out."""
    people = [who] if meeting.kind == "group" else _members(ctx, meeting)
    if who.id not in {p.id for p in people}:
        people.append(who)
    return tuple(Attendee(p.person.name, p.person.email) for p in people if p.person.email)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")

