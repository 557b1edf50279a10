"""What went wrong in a cohort's run, counted from the database: answers that landed on the wrong
question, meetings booked twice or on top of each other, nudges to pairs that were not quiet, and
messages that arrived after their event or long after they were due.

The demo prints these after its transcript and whole-cohort tests assert on them. Only typed
answers need something the database cannot know, which question the person meant; the caller
(a simulation) passes that in as `TypedAnswer`s and the outcome is read from the prompts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import rota
from bot.clock import as_utc
from bot.events import Address
from bot.messages import Message, Recipient
from bot.models import Cohort, Delivery, Meeting, PairMember, Participant, Person, Prompt, Rsvp, TypedNote
from bot.programme import Programme

BOOKED = ("agreed", "held")
RECENT_MEETING = timedelta(days=14)
LONG_AFTER_DUE = timedelta(hours=1)
WORKSHOP_MINUTES = 120  # programmes give no length for a workshop; two hours is typical
MEETING_KEY = re.compile(r"^meeting:(\d+):")
# Buttons whose value starts with a meeting id ("meeting:propose" carries a pair id instead).
MEETING_BUTTONS = ("group:rsvp", "meeting:slot", "meeting:others", "meeting:outcome")


@dataclass(frozen=True)
class TypedAnswer:
    """Something a person typed, and what it was meant to answer.

    flow None means it answered nothing (chat in the pair's conversation); ref_id None matches any
    reference; subject is what the prompt asks within its flow ("<survey>:<item>" for a survey, the
    field of a contract or profile, the stage of a meeting), None for any.
    """

    who: Address
    at: datetime
    flow: str | None
    ref_id: int | None = None
    subject: str | None = None


@dataclass(frozen=True)
class Integrity:
    typed_answers: int = 0
    typed_misrouted: int = 0  # taken as the answer to another question
    typed_lost: int = 0  # meant as an answer, taken as none and not kept
    typed_kept: int = 0  # its question had been settled (e.g. a buddy recorded the contract): kept, and said so
    double_bookings: int = 0  # booked meetings beyond one per pair per programme meeting step
    clashing_bookings: int = 0  # two of a person's bookings overlapping in time
    slots_in_rota: int = 0  # a slot offered or booked in a member's shift, leave or rest after nights
    nudges_sent: int = 0
    nudges_deserved: int = 0
    sent_after_event: int = 0  # a workshop invitation after the workshop began, a booking after its slot
    # Over an hour between when it was due (due_at: now, or the end of the recipient's quiet hours)
    # and when it was sent.
    sent_long_after_due: int = 0

    def lines(self) -> list[str]:
        return [
            "Integrity, counted from the database:",
            f"  Typed answers checked:              {self.typed_answers}",
            f"  Typed answers misrouted:            {self.typed_misrouted}",
            f"  Typed answers lost:                 {self.typed_lost}",
            f"  Typed answers kept (question done): {self.typed_kept}",
            f"  Double bookings:                    {self.double_bookings}",
            f"  Clashing bookings:                  {self.clashing_bookings}",
            f"  Slots in a shift, leave or rest:    {self.slots_in_rota}",
            f"  Quiet-pair nudges sent:             {self.nudges_sent}",
            f"  Quiet-pair nudges deserved:         {self.nudges_deserved}",
            f"  Messages sent after their event:    {self.sent_after_event}",
            f"  Messages sent over an hour late:    {self.sent_long_after_due}",
        ]

    def render(self) -> str:
        return "\n".join(self.lines())


def check(session: Session, cohort_id: int, typed: Iterable[TypedAnswer] = (), meeting_minutes: int = 45,
          workshop_minutes: int = WORKSHOP_MINUTES) -> Integrity:
    cohort = session.get(Cohort, cohort_id)
    if cohort is None:
        raise LookupError(f"there is no cohort {cohort_id}")
    typed = list(typed)
    misrouted, lost, kept = _typed_outcomes(session, cohort_id, typed)
    meetings = list(session.scalars(select(Meeting).where(Meeting.cohort_id == cohort_id).order_by(Meeting.id)))
    deliveries = list(session.scalars(select(Delivery).where(Delivery.cohort_id == cohort_id,
                                                             Delivery.sent_at.is_not(None))
                                      .order_by(Delivery.id)))
    nudges, deserved = _nudges(session, cohort, meetings, deliveries)
    return Integrity(
        typed_answers=len(typed), typed_misrouted=misrouted, typed_lost=lost, typed_kept=kept,
        double_bookings=_double_bookings(cohort, meetings),
        clashing_bookings=_clashes(session, meetings, meeting_minutes, workshop_minutes),
        slots_in_rota=_slots_in_rota(session, meetings, meeting_minutes),
        nudges_sent=nudges, nudges_deserved=deserved,
        sent_after_event=_after_event(meetings, deliveries),
        sent_long_after_due=sum(1 for d in deliveries if d.sent_at - (d.due_at or d.created_at) > LONG_AFTER_DUE),
    )


# --- typed answers -----------------------------------------------------------------------------------
def subject_of(prompt: Prompt) -> str:
    """What a prompt asks within its flow, in the form TypedAnswer.subject uses."""
    state = prompt.state or {}
    if prompt.flow == "survey":
        return f"{state.get('survey', '')}:{state.get('item', '')}"
    return str(state.get("field") or state.get("stage") or "")


def _typed_outcomes(session: Session, cohort_id: int, typed: list[TypedAnswer]) -> tuple[int, int, int]:
    outcomes = [outcome for _answer, outcome, _where in typed_outcomes(session, cohort_id, typed)]
    return outcomes.count("misrouted"), outcomes.count("lost"), outcomes.count("kept")


def typed_outcomes(session: Session, cohort_id: int, typed: list[TypedAnswer]):
    """Each typed answer with what became of it: "fine", "misrouted", "lost" or "kept", and the
    questions it touched (what a test prints when an answer went astray)."""
    """Each typed answer is handled in one unit of work at its own instant, so the prompts of that
    person closed at that instant are the ones it answered (or re-asked). Text the bot kept (a
    `TypedNote`: it asked "which question?", or the question had been settled) is followed to the
    question it was finally taken for."""
    if not typed:
        return []
    participants = _participants_by_address(session, cohort_id)
    touched: dict[tuple[int, datetime], list[Prompt]] = defaultdict(list)
    prompts: dict[int, Prompt] = {}
    for prompt in session.scalars(select(Prompt).where(Prompt.participant_id.in_(list(participants.values())),
                                                       Prompt.answered_at.is_not(None))):
        touched[(prompt.participant_id, prompt.answered_at)].append(prompt)
        prompts[prompt.id] = prompt
    person_of = dict(session.execute(select(Participant.id, Participant.person_id)
                                     .where(Participant.cohort_id == cohort_id)).all())
    notes = {(n.person_id, n.received_at): n for n in session.scalars(
        select(TypedNote).where(TypedNote.person_id.in_(list(person_of.values()))))}
    found = []
    for answer in typed:
        participant = participants.get(answer.who)
        closed = touched.get((participant, as_utc(answer.at)), []) if participant else []
        note = notes.get((person_of.get(participant), as_utc(answer.at)))
        where = [f"{p.flow}:{p.ref_id}:{subject_of(p)}" for p in closed]
        if answer.flow is None:
            outcome = "misrouted" if closed else "fine"
        elif any(_meant(answer, prompt) for prompt in closed):
            outcome = "fine"
        elif note is not None and note.status == "taken" and note.prompt_id in prompts:
            taken = prompts[note.prompt_id]
            where = [f"{taken.flow}:{taken.ref_id}:{subject_of(taken)} (asked which)"]
            outcome = "fine" if _meant(answer, taken) else "misrouted"
        elif closed:
            outcome = "misrouted"
        elif note is not None and note.status == "kept":
            outcome = "kept"
        else:
            outcome = "lost" if note is None or note.status != "asked" else "lost (asked which, never answered)"
        found.append((answer, outcome, where))
    return found


def _meant(answer: TypedAnswer, prompt: Prompt) -> bool:
    return (prompt.flow == answer.flow and (answer.ref_id is None or prompt.ref_id == answer.ref_id)
            and (answer.subject is None or subject_of(prompt) == answer.subject))


def _participants_by_address(session: Session, cohort_id: int) -> dict[Address, int]:
    rows = session.execute(select(Person.platform, Person.workspace, Person.user_id, Participant.id)
                           .join(Participant, Participant.person_id == Person.id)
                           .where(Participant.cohort_id == cohort_id))
    return {Address(platform, workspace, user): pid for platform, workspace, user, pid in rows}


# --- bookings ------------------------------------------------------------------------------------------
def _double_bookings(cohort: Cohort, meetings: list[Meeting]) -> int:
    steps = {step.id for step in Programme.from_dict(cohort.programme).steps}
    booked: dict[tuple[int, str], int] = defaultdict(int)
    for meeting in meetings:
        if meeting.kind != "group" and meeting.pair_id and meeting.step_id in steps and meeting.status in BOOKED:
            booked[(meeting.pair_id, meeting.step_id)] += 1
    return sum(count - 1 for count in booked.values() if count > 1)


def _clashes(session: Session, meetings: list[Meeting], meeting_minutes: int, workshop_minutes: int) -> int:
    members = _pair_members(session, {m.pair_id for m in meetings if m.pair_id})
    roles = dict(session.execute(select(Participant.id, Participant.role)
                                 .where(Participant.id.in_({p for ids in members.values() for p in ids}))).all())
    going = defaultdict(set)
    group_ids = [m.id for m in meetings if m.kind == "group"]
    for meeting_id, participant_id in session.execute(select(Rsvp.meeting_id, Rsvp.participant_id).where(
            Rsvp.meeting_id.in_(group_ids), Rsvp.answer == "yes")):
        going[meeting_id].add(participant_id)
    booked_by_person: dict[int, list[tuple[datetime, datetime, int]]] = defaultdict(list)
    for meeting in meetings:
        if meeting.agreed_at is None or meeting.status not in BOOKED:
            continue
        if meeting.kind == "group":
            people, minutes = going[meeting.id], workshop_minutes
        elif meeting.kind == "shadowing":
            visitor = "manager" if meeting.direction == "manager_shadows_clinician" else "clinician"
            people = {p for p in members.get(meeting.pair_id, ()) if roles.get(p) == visitor}
            people |= {meeting.proposer_id} if meeting.proposer_id else set()
            minutes = meeting_minutes
        else:
            people, minutes = set(members.get(meeting.pair_id, ())), meeting_minutes
        for person in people:
            booked_by_person[person].append((meeting.agreed_at, meeting.agreed_at + timedelta(minutes=minutes),
                                             meeting.id))
    clashing = set()
    for bookings in booked_by_person.values():
        bookings.sort()
        for index, (_start, end, meeting_id) in enumerate(bookings):
            for later_start, _end, other_id in bookings[index + 1:]:
                if later_start >= end:
                    break
                clashing.add(frozenset((meeting_id, other_id)))
    return len(clashing)


def _slots_in_rota(session: Session, meetings: list[Meeting], meeting_minutes: int) -> int:
    """Slots on offer (each meeting's last offer) and bookings that fall in a member's shift, leave
    or rest after nights, as bot/rota.py knows them now. Only members still taking part count: one
    removed or paused is left out of the slots offered after they went."""
    members = _pair_members(session, {m.pair_id for m in meetings if m.pair_id})
    people = {p.id: p for p in session.scalars(select(Participant).where(
        Participant.id.in_({p for ids in members.values() for p in ids}), Participant.status == "active"))}
    length = timedelta(minutes=meeting_minutes)
    found = 0
    for meeting in meetings:
        if meeting.kind == "group" or meeting.pair_id is None:
            continue
        times = {as_utc(datetime.fromisoformat(s)) for s in meeting.slots or []}
        if meeting.agreed_at is not None and meeting.status in BOOKED:
            times.add(as_utc(meeting.agreed_at))
        for start in times:
            found += any(rota.busy_spans(people[p], start, start + length)
                         for p in members.get(meeting.pair_id, ()) if p in people)
    return found


def _pair_members(session: Session, pair_ids: set[int]) -> dict[int, list[int]]:
    members = defaultdict(list)
    for pair_id, participant_id in session.execute(select(PairMember.pair_id, PairMember.participant_id)
                                                   .where(PairMember.pair_id.in_(pair_ids))):
        members[pair_id].append(participant_id)
    return members


# --- nudges --------------------------------------------------------------------------------------------
def _nudges(session: Session, cohort: Cohort, meetings: list[Meeting], deliveries: list[Delivery]) -> tuple[int, int]:
    """A nudge is deserved unless, when it was sent, the pair had held a meeting in the 14 days
    before, had one booked for later, or the programme's last step before the follow-up had passed."""
    nudges = [d for d in deliveries if d.intent == "quiet_pair_nudge"]
    if not nudges:
        return 0, 0
    programme = Programme.from_dict(cohort.programme)
    ends = [due for due, step in programme.timeline(cohort.start_date, ZoneInfo(cohort.timezone))
            if step.intent != "follow_up"]
    active_until = max(ends) if ends else None
    participants = _participants_by_address(session, cohort.id)
    pairs_of = defaultdict(set)
    for pair_id, participant_id in session.execute(select(PairMember.pair_id, PairMember.participant_id)
                                                   .where(PairMember.participant_id.in_(list(participants.values())))):
        pairs_of[participant_id].add(pair_id)
    booked_at = _booking_times(deliveries)
    deserved = 0
    for nudge in nudges:
        at = nudge.sent_at
        if active_until is not None and at > active_until:
            continue
        pairs = set()
        for address in Recipient.from_dict(nudge.recipient).members:
            pairs |= pairs_of.get(participants.get(address), set())
        theirs = [m for m in meetings if m.pair_id in pairs and m.kind != "group"]
        met_lately = any(m.status == "held" and (held := m.agreed_at or m.outcome_at) is not None
                         and at - RECENT_MEETING <= held <= at for m in theirs)
        booked_ahead = any(m.status in BOOKED and m.agreed_at is not None and m.agreed_at > at
                           and booked_at.get(m.id, m.created_at) <= at for m in theirs)
        deserved += not (met_lately or booked_ahead)
    return len(nudges), deserved


def _booking_times(deliveries: list[Delivery]) -> dict[int, datetime]:
    """When each meeting was booked: the booking notice to the buddy is written in the same unit
    of work."""
    times: dict[int, datetime] = {}
    for delivery in deliveries:
        if delivery.intent.endswith("_booked") and (meeting_id := _meeting_of(delivery)) is not None:
            times[meeting_id] = min(times.get(meeting_id, delivery.created_at), delivery.created_at)
    return times


# --- late messages -------------------------------------------------------------------------------------
def _meeting_of(delivery: Delivery) -> int | None:
    """The meeting a message is about: named by its buttons (an RSVP, a slot, an outcome) or by its
    outbox key (a booking notice has no buttons)."""
    message = Message.from_dict(delivery.message)
    for option in message.choices:
        if option.action in MEETING_BUTTONS and option.value.split(":", 1)[0].isdigit():
            return int(option.value.split(":", 1)[0])
    found = MEETING_KEY.match(delivery.idempotency_key)
    return int(found.group(1)) if found else None


def _after_event(meetings: list[Meeting], deliveries: list[Delivery]) -> int:
    by_id = {m.id: m for m in meetings}
    late = 0
    for delivery in deliveries:
        is_invitation = delivery.intent.startswith("group_meeting")
        is_booking = delivery.intent.endswith("_booked")
        if not (is_invitation or is_booking):
            continue
        meeting = by_id.get(_meeting_of(delivery))
        if meeting is None or meeting.agreed_at is None:
            continue
        if (is_invitation and meeting.kind == "group") or (is_booking and meeting.kind != "group"):
            late += delivery.sent_at > meeting.agreed_at
    return late
