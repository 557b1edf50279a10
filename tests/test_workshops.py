"""Coordinators see and move workshops: `workshop list` and `workshop set`."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.models import Meeting
from test_commands import Org, enrol_four


@pytest.fixture
def org(sqlite_url):
    org = Org(sqlite_url)
    enrol_four(org)
    org.ok("rita", "pair manual @asha @ben")
    org.ok("rita", "pair manual @carl @dana")
    return org


def test_workshop_list_shows_each_workshops_time_and_place_from_the_programme(org):
    text = org.ok("fran", "workshop list")
    assert "Launch workshop (launch-workshop): Thu 7 Jan, 13:00-16:00, Education Centre, Seminar Room 2" in text
    assert "invitations not sent yet" in text


def test_moving_a_workshop_before_its_invitations_changes_what_they_announce(org):
    reply = org.ok("rita", 'workshop set launch-workshop 2027-01-08 10:00 place="Boardroom, Main Building"')
    assert "Launch workshop is now on Fri 8 Jan, 10:00, Boardroom, Main Building" in reply
    org.ok("rita", "start")
    org.clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc))
    org.core.run_step(org.cohort().id, "launch-workshop")
    invitation = org.sent_to("asha")[-1]
    assert "Fri 8 Jan, 10:00, Boardroom, Main Building" in invitation.text


def test_moving_a_workshop_after_its_invitations_tells_everyone_and_asks_again(org):
    org.ok("rita", "start")
    org.clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc))
    org.core.run_step(org.cohort().id, "launch-workshop")
    reply = org.ok("rita", "workshop set launch-workshop 2027-01-12 14:00")
    assert "I've told the 4 people invited" in reply
    moved = org.sent_to("ben")[-1]
    assert moved.text.startswith("Launch workshop has moved: it is now on Tue 12 Jan, 14:00")
    assert [c.label for c in moved.choices][:1] == ["Yes, I'll be there"]
    with org.db.session() as s:
        workshop = s.scalars(select(Meeting).where(Meeting.kind == "group")).one()
        assert workshop.agreed_at == datetime(2027, 1, 12, 14, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, problem", [
    ("workshop set launch-workshop 2027-13-01 13:00", "is not a date"),
    ("workshop set launch-workshop 2027-01-08 25:00", "is not a time of day"),
    ("workshop set launch-workshop 2027-01-08 13:00 minutes=5", "is not a length from 15"),
    ("workshop set party 2027-01-08 13:00", "has no workshop 'party'"),
    ("workshop set launch-workshop 2026-01-08 13:00", "has already passed"),
    ("workshop set launch-workshop 2027-01-03 13:00", "the workshop must come after that"),
])
def test_a_workshop_time_that_cannot_be_used_is_refused_with_the_reason(org, text, problem):
    reply = org.command("rita", text)
    assert reply.intent == "error" and problem in reply.text, reply.text


def test_a_workshop_set_on_a_bank_holiday_stands_and_the_coordinator_hears_which_holiday(org):
    reply = org.ok("rita", "workshop set launch-workshop 2027-03-29 13:00")
    assert "Launch workshop is now on Mon 29 Mar, 13:00." in reply
    assert reply.endswith(" Note: Mon 29 Mar is a bank holiday in England (Easter Monday).")
    org.ok("rita", "bank-holidays Scotland")
    assert "Note:" not in org.ok("rita", "workshop set launch-workshop 2027-03-29 13:00")


def test_workshop_list_shows_a_workshop_that_a_bank_holiday_moved(org):
    org.ok("rita", "bank-holidays Scotland")
    # Spring 2027 starts Mon 4 Jan, a Scottish bank holiday: the launch invitations go on Tuesday,
    # the workshop itself stays on Thursday 7 January.
    assert "Launch workshop (launch-workshop): Thu 7 Jan, 13:00-16:00" in org.ok("fran", "workshop list")
    reply = org.ok("rita", "workshop set launch-workshop 2027-01-05 10:00")
    assert "The invitations go out on Tue 5 Jan, 09:00." in reply
