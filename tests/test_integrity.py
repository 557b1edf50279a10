"""bot/integrity.py counts what went wrong from the database: rows written by hand here are counted."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from bot import enrolment, integrity, outbox
from bot.events import Address
from bot.integrity import TypedAnswer
from bot.messages import Choice, Message, Recipient
from bot.models import Delivery, Meeting, Participant, Rsvp
from bot.programme import default_programme

START = date(2025, 3, 3)
NOON = datetime(2025, 3, 12, 12, 0, tzinfo=timezone.utc)
ASHA = Address("console", "trust", "asha")
BEN = Address("console", "trust", "ben")


@pytest.fixture
def cohort(database):
    """A running cohort with one pair, Asha (clinician) and Ben (manager)."""
    now = datetime(2025, 2, 10, 9, 0, tzinfo=timezone.utc)
    with database.session() as session:
        org = enrolment.organisation(session, "console", "trust", "Trust", now)
        made = enrolment.create_cohort(session, org, "Spring", START, default_programme(), "Europe/London", now)
        asha = enrolment.enrol(session, made, org, enrolment.Enrolee(ASHA, "Dr Asha Patel", "clinician"), now)
        ben = enrolment.enrol(session, made, org, enrolment.Enrolee(BEN, "Ben Okafor", "manager"), now)
        pair = enrolment.make_pair(session, made, [asha, ben], now)
        made.status = "running"
        session.flush()
        return {"db": database, "cohort": made.id, "pair": pair.id, "asha": asha.id, "ben": ben.id}


def _meeting(c, at, step="buddy-meeting-1", kind="buddy", status="agreed", **extra) -> int:
    with c["db"].session() as session:
        meeting = Meeting(cohort_id=c["cohort"], pair_id=c["pair"] if kind != "group" else None, kind=kind,
                          step_id=step, agreed_at=at, status=status, slots=[], created_at=at - timedelta(days=2),
                          **extra)
        session.add(meeting)
        session.flush()
        return meeting.id


def _sent(c, key, message: Message, to: Address, created: datetime, sent: datetime) -> None:
    with c["db"].session() as session:
        outbox.record(session, [outbox.Outgoing(key, Recipient.person(to), message, c["cohort"])], created)
        delivery = session.query(Delivery).filter_by(idempotency_key=key).one()
        delivery.status, delivery.sent_at = "sent", sent


def _counts(c, typed=()):
    with c["db"].session() as session:
        return integrity.check(session, c["cohort"], typed)


def test_two_meetings_booked_for_one_step_are_a_double_booking_and_clash(cohort):
    # The database holds one live arrangement per pair (uq_meetings_live_arrangement), so a second
    # booking for a step can only sit beside one already held.
    _meeting(cohort, NOON, status="held")
    _meeting(cohort, NOON + timedelta(minutes=30))  # overlaps the first 45-minute meeting
    _meeting(cohort, NOON + timedelta(days=7), step="buddy-meeting-2", status="held")
    _meeting(cohort, NOON + timedelta(days=9), step="buddy-meeting-2", status="not_held")
    counts = _counts(cohort)
    assert counts.double_bookings == 1
    assert counts.clashing_bookings == 1


def test_back_to_back_meetings_do_not_clash(cohort):
    _meeting(cohort, NOON)
    _meeting(cohort, NOON + timedelta(minutes=45), step="manager-shadows-clinician", kind="shadowing",
             direction="manager_shadows_clinician", proposer_id=cohort["asha"])
    counts = _counts(cohort)
    assert (counts.double_bookings, counts.clashing_bookings) == (0, 0)


def test_a_workshop_clashes_only_for_those_who_said_they_are_coming(cohort):
    workshop = _meeting(cohort, NOON - timedelta(hours=1), step="launch-workshop", kind="group")
    _meeting(cohort, NOON)
    assert _counts(cohort).clashing_bookings == 0
    with cohort["db"].session() as session:
        session.add(Rsvp(meeting_id=workshop, participant_id=cohort["ben"], answer="yes", answered_at=NOON))
    assert _counts(cohort).clashing_bookings == 1


def test_a_workshop_invitation_after_the_workshop_began_and_a_late_message_are_counted(cohort):
    workshop = _meeting(cohort, NOON, step="launch-workshop", kind="group")
    invitation = Message("Launch workshop. Will you come?", choices=(Choice("Yes", "group:rsvp", f"{workshop}:yes"),),
                         intent="group_meeting")
    _sent(cohort, "invite:asha", invitation, ASHA, NOON - timedelta(days=3), NOON - timedelta(days=3))
    _sent(cohort, "invite:ben", invitation, BEN, NOON - timedelta(days=3), NOON + timedelta(minutes=5))
    counts = _counts(cohort)
    assert counts.sent_after_event == 1
    assert counts.sent_long_after_due == 1  # Ben's, three days after it was written


def test_a_booking_notice_after_its_slot_is_counted(cohort):
    meeting = _meeting(cohort, NOON)
    notice = Message("Ben Okafor booked your buddy meeting.", intent="buddy_booked")
    _sent(cohort, f"meeting:{meeting}:booked:1:to:{cohort['asha']}", notice, ASHA, NOON - timedelta(hours=2),
          NOON + timedelta(minutes=1))
    assert _counts(cohort).sent_after_event == 1


def _nudge(cohort, at: datetime, to: Address = ASHA) -> None:
    nudge = Message("It's been 3 weeks since you last met.", choices=(
        Choice("Suggest times", "meeting:propose", str(cohort["pair"])),), intent="quiet_pair_nudge")
    _sent(cohort, f"nudge:{at.isoformat()}:{to.user}", nudge, to, at, at)


def test_a_nudge_is_deserved_only_when_the_pair_really_is_quiet(cohort):
    quiet_since = NOON + timedelta(days=30)
    _nudge(cohort, quiet_since)  # nothing held or booked: deserved
    met = NOON + timedelta(days=60)
    _meeting(cohort, met - timedelta(days=10), step="buddy-meeting-2", status="held")
    _nudge(cohort, met)  # they met ten days before
    booked = NOON + timedelta(days=100)
    _meeting(cohort, booked + timedelta(days=1), step="buddy-meeting-4")  # proposed the day before
    _nudge(cohort, booked)  # a meeting was already in the diary
    _nudge(cohort, datetime(2025, 8, 1, 9, 0, tzinfo=timezone.utc), to=BEN)  # the programme is over
    counts = _counts(cohort)
    assert (counts.nudges_sent, counts.nudges_deserved) == (4, 1)


def test_typed_answers_that_land_on_another_question_or_nowhere_are_counted(cohort):
    """Rows as a wrong core would leave them: a prompt of another question answered at the instant
    of the typing (misrouted), nothing at all (lost), a note kept because the question was done
    (kept), and a "which question?" note taken for the right one (fine)."""
    from bot.models import Prompt, TypedNote

    first, second = (_meeting(cohort, NOON - timedelta(days=d), status="held") for d in (3, 1))
    at = [NOON + timedelta(minutes=7 * n) for n in range(1, 6)]
    with cohort["db"].session() as session:
        asha = session.get(Participant, cohort["asha"])

        def prompt(ref, answered_at, status="answered"):
            row = Prompt(participant_id=asha.id, flow="reflection", ref_id=ref, state={}, status=status,
                         created_at=NOON, asked_at=NOON, answered_at=answered_at)
            session.add(row)
            session.flush()
            return row

        prompt(second, at[0])  # meant for the first reflection, taken for the second
        picked = prompt(first, at[4])  # the one "which question?" was answered with, later
        person = asha.person_id
        session.add_all([TypedNote(person_id=person, text="kept", status="kept", received_at=at[2]),
                         TypedNote(person_id=person, text="asked", status="taken", prompt_id=picked.id,
                                   received_at=at[3])])
    typed = [TypedAnswer(ASHA, at[0], "reflection", first),
             TypedAnswer(ASHA, at[1], "reflection", first),        # nothing happened: lost
             TypedAnswer(ASHA, at[2], "contract", None, "goals"),  # the contract was done: kept
             TypedAnswer(ASHA, at[3], "reflection", first),        # asked which, then taken for it
             TypedAnswer(BEN, at[4], None)]                        # chat, not an answer
    counts = _counts(cohort, typed)
    assert counts.typed_answers == 5
    assert (counts.typed_misrouted, counts.typed_lost, counts.typed_kept) == (1, 1, 1)


def test_the_summary_names_every_figure_on_its_own_line(cohort):
    lines = _counts(cohort).lines()
    assert lines[0].startswith("Integrity")
    for label in ("misrouted", "lost", "Double bookings", "Clashing bookings", "nudges sent", "nudges deserved",
                  "after their event", "over an hour late"):
        assert sum(label in line for line in lines) == 1, label


def test_an_unknown_cohort_is_refused_by_number(database):
    with database.session() as session, pytest.raises(LookupError, match="no cohort 99"):
        integrity.check(session, 99)


def test_a_booking_or_an_offered_slot_in_a_members_shift_is_counted(cohort):
    from bot import rota
    from bot.models import Participant
    from bot.rota import RotaPlan
    from bot.rota_text import applied, parse_rota
    from zoneinfo import ZoneInfo

    local = NOON.astimezone(ZoneInfo("Europe/London"))
    with cohort["db"].session() as session:
        asha = session.get(Participant, cohort["asha"])
        # A long day covering noon, every week, from the week of the booking.
        rota.store(asha, applied(RotaPlan(), parse_rota(f"long days from {local:%d %b %Y}", local.date())))
    _meeting(cohort, NOON)
    assert _counts(cohort).slots_in_rota == 1
