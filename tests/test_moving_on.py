"""Someone rotating to another post or starting long leave: the coordinator hears N weeks ahead what
is left for the pair, once; the pair is offered an extra meeting or to carry on across sites."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.events import Command
from bot.models import Meeting, Pair, Participant, Person
from harness import make_harness


@pytest.fixture
def h(database_url):
    return make_harness(database_url)


def at(*parts: int) -> datetime:
    return datetime(*parts, 9, 0, tzinfo=timezone.utc)


def rota(h, user: str, text: str) -> str:
    replies = h.core.handle(Command(h.users[user], text))
    h.deliver()
    return replies[0].text


def sweep_daily(h, days: int) -> None:
    for _ in range(days):
        h.core.sweep_quiet_pairs(h.cohort_id)
        h.deliver()
        h.clock.advance(days=1)


def of(h, user: str, intent: str):
    return [m for m in h.inbox(user) if m.intent == intent]


def with_meetings(h) -> None:
    """One buddy meeting held, one booked for Tue 23 Mar 12:30."""
    with h.db.session() as s:
        pair = s.scalars(select(Pair)).one()
        s.add(Meeting(cohort_id=h.cohort_id, pair_id=pair.id, kind="buddy", status="held",
                      agreed_at=datetime(2027, 1, 20, 12, 30, tzinfo=timezone.utc), created_at=h.clock.now()))
        s.add(Meeting(cohort_id=h.cohort_id, pair_id=pair.id, kind="buddy", status="agreed",
                      agreed_at=datetime(2027, 3, 23, 12, 30, tzinfo=timezone.utc), created_at=h.clock.now()))


def test_the_coordinator_hears_three_weeks_before_a_rotation_once_with_what_is_left(h):
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 3, 10))
    assert "rotates Wed 7 Apr 2027" in rota(h, "asha", "rota rotate 7 Apr")
    with_meetings(h)
    sweep_daily(h, 7)  # 10-16 Mar: more than three weeks ahead
    assert of(h, "rita", "rotation_warning") == []
    sweep_daily(h, 10)  # from Wed 17 Mar, daily
    warnings = of(h, "rita", "rotation_warning")
    assert [w.text for w in warnings] == [
        "Dr Asha Patel rotates to another post on Wed 7 Apr (in 3 weeks). Their pair with Ben Okafor has held "
        "1 of 4 buddy meetings; shadowing: not yet both ways; next: Tue 23 Mar, 12:30."]


def test_the_warning_comes_as_many_weeks_ahead_as_the_config_says(sqlite_url):
    from dataclasses import replace
    h = make_harness(sqlite_url)
    h.core.options = replace(h.core.options, rotation_warning_weeks=1)
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 3, 10))
    rota(h, "asha", "rota rotate 7 Apr")
    sweep_daily(h, 21)  # to 30 Mar
    assert of(h, "rita", "rotation_warning") == []
    sweep_daily(h, 1)  # Wed 31 Mar
    assert "(in 1 week)" in of(h, "rita", "rotation_warning")[0].text


def test_the_pair_is_offered_an_extra_meeting_or_to_carry_on_and_suggest_times_works(h):
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 3, 17))
    rota(h, "asha", "rota rotate 7 Apr")
    sweep_daily(h, 3)
    [to_asha], [to_ben] = of(h, "asha", "moving_on_offer"), of(h, "ben", "moving_on_offer")
    assert to_asha.text == "You rotate to another post on Wed 7 Apr. Would you like an extra meeting with Ben " \
                           "Okafor before then, or will you carry on across sites?"
    assert to_ben.text == "Dr Asha Patel rotates to another post on Wed 7 Apr. Would you like an extra meeting " \
                          "before then, or will you carry on across sites?"
    assert [c.label for c in to_ben.choices] == ["Suggest times", "We'll carry on across sites"]
    reply = h.click("ben", "Suggest times", to_ben)
    assert "sent you some times" in reply[0].text
    offered = h.last("ben")
    assert offered.intent == "propose_buddy" and any(c.action == "meeting:slot" for c in offered.choices)


def test_carrying_on_across_sites_tells_the_coordinator_once(h):
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 3, 17))
    rota(h, "asha", "rota rotate 7 Apr")
    sweep_daily(h, 1)
    reply = h.click("asha", "We'll carry on across sites")
    assert reply[0].text.startswith("Good: I've told the coordinator you'll carry on across sites.")
    h.deliver()
    told = of(h, "rita", "moving_on_carry_on")
    assert [m.text for m in told] == ["Ben Okafor and Dr Asha Patel will carry on across sites after Dr Asha "
                                      "Patel moves post on Wed 7 Apr (Dr Asha Patel said so)."]
    again = h.click("ben", "We'll carry on across sites")
    assert again[0].text.startswith("Already noted")
    assert len(of(h, "rita", "moving_on_carry_on")) == 1


def test_long_leave_is_warned_about_and_a_short_break_is_not(h):
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 2, 1))
    rota(h, "ben", "rota leave 1-5 Mar, leave 15-28 Mar")
    sweep_daily(h, 35)  # to 7 Mar
    [warning] = of(h, "rita", "rotation_warning")
    assert warning.text.startswith("Ben Okafor is on leave from Mon 15 Mar to Sun 28 Mar (in 3 weeks). Their pair "
                                   "with Dr Asha Patel has held 0 of 4 buddy meetings")
    [to_ben] = of(h, "ben", "moving_on_offer")
    assert to_ben.text == "You are on leave from Mon 15 Mar to Sun 28 Mar. Would you like an extra meeting with " \
                          "Dr Asha Patel before then?"
    assert [c.label for c in to_ben.choices] == ["Suggest times"]  # leave ends: no change of site


def test_nothing_after_the_programmes_end_nor_for_a_move_after_it(h):
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 4, 12))
    rota(h, "asha", "rota rotate 10 May")  # the programme's last step is on Mon 26 Apr
    sweep_daily(h, 28)  # to 9 May
    assert of(h, "rita", "rotation_warning") == [] and of(h, "asha", "moving_on_offer") == []


def test_nothing_for_someone_paused_nor_for_the_pair_of_someone_paused(h):
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 3, 17))
    rota(h, "asha", "rota rotate 7 Apr")
    rota(h, "ben", "rota rotate 8 Apr")
    with h.db.session() as s:
        ben = s.scalars(select(Participant).join(Person).where(Person.user_id == "ben")).one()
        ben.status = "paused"
    sweep_daily(h, 3)
    assert of(h, "rita", "rotation_warning") == []
    assert of(h, "asha", "moving_on_offer") == [] and of(h, "ben", "moving_on_offer") == []


def test_a_rotation_set_late_is_warned_about_with_the_days_left(h):
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 3, 30))
    rota(h, "asha", "rota rotate 7 Apr")
    sweep_daily(h, 1)
    assert "on Wed 7 Apr (in 8 days)" in of(h, "rita", "rotation_warning")[0].text


def test_the_warning_and_the_offer_wait_for_morning(h):
    h.run_step("pairs-announced")
    h.clock.set(at(2027, 3, 10))
    rota(h, "asha", "rota rotate 7 Apr")
    h.clock.set(datetime(2027, 3, 17, 3, 0, tzinfo=timezone.utc))
    h.core.sweep_quiet_pairs(h.cohort_id)
    h.deliver()
    assert of(h, "rita", "rotation_warning") == [] and of(h, "asha", "moving_on_offer") == []
    h.clock.set(datetime(2027, 3, 17, 8, 0, tzinfo=timezone.utc))
    h.core.sweep_quiet_pairs(h.cohort_id)  # the same day's sweep again: still one of each
    h.deliver()
    assert len(of(h, "rita", "rotation_warning")) == 1 and len(of(h, "asha", "moving_on_offer")) == 1
