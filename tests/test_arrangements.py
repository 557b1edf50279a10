"""One arrangement per pair per meeting, held by the database, with slots that never clash."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.events import Clicked
from bot.models import Delivery, Meeting, Pair
from harness import make_harness


@pytest.fixture
def h(database_url):
    return make_harness(database_url)


def _slots(message):
    return [c for c in message.choices if c.action == "meeting:slot"]


def _live(h):
    with h.db.session() as s:
        return list(s.scalars(select(Meeting).where(Meeting.kind == "buddy",
                                                    Meeting.status.in_(("proposed", "agreed", "unscheduled")))))


def test_the_database_refuses_a_second_live_arrangement_for_a_pair(h):
    h.run_step("buddy-meeting-1")
    with pytest.raises(IntegrityError):
        with h.db.session() as s:
            pair = s.scalars(select(Pair)).one()
            s.add(Meeting(cohort_id=pair.cohort_id, pair_id=pair.id, kind="buddy", direction="", step_id="x",
                          status="proposed", slots=[], created_at=h.clock.now()))


def test_suggest_times_from_both_members_reuses_one_proposal_and_books_once(h):
    h.run_step("buddy-meeting-1")
    with h.db.session() as s:
        pair_id = s.scalars(select(Pair.id)).one()
    # Both members tap "Suggest times" (after a nudge), each on their own device.
    ben_offer = h.core.handle(Clicked(h.users["ben"], "meeting:propose", str(pair_id)))[0]
    assert h.core.handle(Clicked(h.users["asha"], "meeting:propose", str(pair_id)))[0].text == \
        "I've sent you some times to choose from."
    h.deliver()
    asha_offer = h.last("asha")
    # One arrangement, the same times to both.
    assert len(_live(h)) == 1 and [c.label for c in _slots(ben_offer)] == [c.label for c in _slots(asha_offer)]
    booked = h.click("asha", _slots(asha_offer)[0].label, asha_offer)
    assert booked[0].text.startswith("Booked:")
    # Ben's older offer is stale: his tap says what is actually booked, and books nothing else.
    when = booked[0].text.split("Booked: ")[1].split(".")[0]
    # Ben's offer from the step is redrawn with the booking.
    redraw = next(m for m in h.inbox("ben") if m.replaces)
    with h.db.session() as s:
        offer_key = s.scalars(select(Delivery.idempotency_key).where(Delivery.intent == "propose_buddy")
                              .order_by(Delivery.id)).first()
    assert redraw.replaces == offer_key
    assert redraw.text == f"✓ Dr Asha Patel booked this buddy meeting for {when}."
    stale = h.click("ben", _slots(ben_offer)[1].label, ben_offer)
    assert when in stale[0].text and stale[0].intent == "already"
    agreed = [m for m in _live(h) if m.status == "agreed"]
    assert len(agreed) == 1 and len(_live(h)) == 1


def test_a_double_tap_on_a_slot_books_once_and_the_second_tap_says_what_was_booked(h):
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")
    first = h.click("ben", _slots(offer)[0].label, offer)
    second = h.click("ben", _slots(offer)[1].label, offer)
    assert first[0].text.startswith(f"Booked: {_slots(offer)[0].label}")
    assert _slots(offer)[0].label in second[0].text and second[0].intent == "already"
    assert [m.status for m in _live(h)] == ["agreed"]


def test_a_new_programme_meeting_replaces_a_proposal_nobody_booked(h):
    h.run_step("buddy-meeting-1")
    stale_offer = h.last("ben")
    h.run_step("buddy-meeting-2")
    live = _live(h)
    assert len(live) == 1 and live[0].step_id == "buddy-meeting-2"
    reply = h.click("ben", _slots(stale_offer)[0].label, stale_offer)
    assert reply[0].intent == "already"
    assert [m.status for m in _live(h)] == ["proposed"]


def test_shadowing_slots_fit_host_and_visitor_and_never_clash_with_a_booking(h):
    h.run_step("buddy-meeting-2")
    offer = h.last("ben")
    booked = h.click("ben", _slots(offer)[0].label, offer)
    assert booked[0].text.startswith("Booked:")
    h.run_step("manager-shadows-clinician")
    with h.db.session() as s:
        buddy = s.scalars(select(Meeting).where(Meeting.kind == "buddy", Meeting.status == "agreed")).one()
        shadowing = s.scalars(select(Meeting).where(Meeting.kind == "shadowing")).one()
    assert shadowing.slots
    london = h.clock.now().tzinfo
    for iso in shadowing.slots:
        start = datetime.fromisoformat(iso)
        # Never within the booked buddy meeting (plus a margin either side).
        assert not (buddy.agreed_at - timedelta(minutes=75) < start < buddy.agreed_at + timedelta(minutes=75))
        local = start.astimezone(timezone.utc)
        # Inside both Ben's and Asha's windows (they share Mon 12:30-14:00, Wed 17:00-18:00, Fri 12:00-13:30).
        assert (local.weekday(), local.hour) in {(0, 12), (0, 13), (2, 17), (4, 12), (4, 13)}, (iso, london)


THURSDAYS = [{"day": 3, "start": "12:00", "end": "16:00"}]


def test_slots_never_take_a_workshops_time_even_before_its_invitations_have_gone(database_url):
    # Group meeting 2 is on Thu 18 Feb 2027, 13:00-15:00; its invitations go on Mon 15 Feb.
    h = make_harness(database_url, people={"asha": ("Dr Asha Patel", "clinician", THURSDAYS),
                                           "ben": ("Ben Okafor", "manager", THURSDAYS)})
    h.clock.set(datetime(2027, 2, 8, 9, 0, tzinfo=timezone.utc))
    with h.db.session() as s:
        pair_id = s.scalars(select(Pair.id)).one()
    h.core.handle(Clicked(h.users["ben"], "meeting:propose", str(pair_id)))
    h.deliver()
    labels = [c.label for c in _slots(h.last("ben"))]
    assert any(label.startswith("Thu 11 Feb") for label in labels), labels
    assert not any(label.startswith("Thu 18 Feb") for label in labels), labels


def test_two_offers_holding_the_same_time_the_first_booked_keeps_it_and_the_other_gets_new_times(h):
    h.run_step("buddy-meeting-2")
    buddy_offer = h.last("ben")
    h.run_step("manager-shadows-clinician")
    shadowing_offer = next(m for m in reversed(h.inbox("asha") + h.inbox("ben"))
                           if any(c.value.startswith(str(_shadowing(h).id) + ":") for c in _slots(m)))
    shared = [c.label for c in _slots(buddy_offer)]
    shared = [label for label in shared if label in [c.label for c in _slots(shadowing_offer)]]
    assert shared, "both offers were drawn before either was booked, so they hold the same times"
    assert h.click("ben", shared[0], buddy_offer)[0].text.startswith("Booked:")
    taker = "asha" if shadowing_offer in h.inbox("asha") else "ben"
    reply = h.click(taker, shared[0], shadowing_offer)[0]
    assert "is no longer free" in reply.text
    assert shared[0] not in [c.label for c in _slots(reply)] and _slots(reply)
    with h.db.session() as s:
        booked = list(s.scalars(select(Meeting).where(Meeting.status == "agreed", Meeting.kind != "group")))
    assert [m.kind for m in booked] == ["buddy"]


def _shadowing(h):
    with h.db.session() as s:
        return s.scalars(select(Meeting).where(Meeting.kind == "shadowing")).one()


def _reply_copy(h):
    """Ben has the step's offer; tapping "Suggest times" again answers with a copy of those times."""
    h.run_step("buddy-meeting-1")
    h.deliver()
    with h.db.session() as s:
        pair_id = s.scalars(select(Pair.id)).one()
    (copy,) = h.core.handle(Clicked(h.users["ben"], "meeting:propose", str(pair_id)))
    assert copy.text.startswith("These are the times I offered:") and copy.reply_key
    (asha_ack,) = h.core.handle(Clicked(h.users["asha"], "meeting:propose", str(pair_id)))
    h.deliver()
    return copy, h.last("asha")


def test_an_offer_given_as_a_reply_and_kept_by_the_platform_is_redrawn_when_the_buddy_books(h):
    copy, asha_offer = _reply_copy(h)
    assert h.core.replied(h.users["ben"], [(copy, "D0BEN:1700000000.000200")]) == 1
    booked = h.click("asha", _slots(asha_offer)[0].label, asha_offer)
    when = booked[0].text.split("Booked: ")[1].split(".")[0]
    redraws = [m for m in h.inbox("ben") if m.replaces]
    assert copy.reply_key in [m.replaces for m in redraws]  # the copy, as well as the step's offer
    assert all(m.text == f"✓ Dr Asha Patel booked this buddy meeting for {when}." for m in redraws)


def test_a_reply_the_platform_did_not_keep_is_not_sent_again_as_a_new_message(h):
    copy, asha_offer = _reply_copy(h)  # the console, or a reply only its author saw in a group chat
    h.click("asha", _slots(asha_offer)[0].label, asha_offer)
    assert copy.reply_key not in [m.replaces for m in h.inbox("ben")]
    assert len([m for m in h.inbox("ben") if m.intent == "offer_closed"]) == 1  # the step's offer only


def test_a_reply_that_went_through_the_outbox_keeps_its_key_and_is_redrawn(h):
    copy, asha_offer = _reply_copy(h)  # the platform was busy: the reply goes out later
    h.core.reply_later(h.users["ben"], [copy], "slack:Ev-busy")
    h.deliver()
    with h.db.session() as s:
        assert s.scalars(select(Delivery.status).where(Delivery.idempotency_key == copy.reply_key)).one() == "sent"
    h.click("asha", _slots(asha_offer)[0].label, asha_offer)
    assert copy.reply_key in [m.replaces for m in h.inbox("ben")]
