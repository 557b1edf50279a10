"""Each conversation flow, driven through the core with a frozen clock and a recording platform."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.capabilities import FORMS, GROUP_CONVERSATION
from bot.events import Address, Clicked, Said
from bot.models import Contract, Meeting, Pair, Person, Prompt, Reflection, Rsvp, SurveyResponse
from harness import make_harness


@pytest.fixture
def h(sqlite_url):
    return make_harness(sqlite_url)


def test_pair_intro_goes_to_one_group_conversation_with_both_bios(h):
    assert h.run_step("pairs-announced") == 1
    groups = h.group_messages()
    assert len(groups) == 1
    recipient, message = groups[0]
    assert {a.user for a in recipient.members} == {"ben", "asha"}
    assert "Ben Okafor" in message.text and "Dr Asha Patel" in message.text
    assert "usually free" in message.text


def test_pair_intro_without_group_conversations_sends_one_intro_per_member(sqlite_url):
    h = make_harness(sqlite_url, capabilities=frozenset())
    assert h.run_step("pairs-announced") == 2
    assert not h.group_messages()
    assert "Dr Asha Patel" in h.last("ben").text and "Ben Okafor" not in h.last("ben").text.split("\n", 1)[1]
    assert "Ben Okafor" in h.last("asha").text


def _slot_choices(message):
    return [c for c in message.choices if c.action == "meeting:slot"]


def test_meeting_proposal_offers_three_slots_inside_both_members_availability(h):
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")  # the manager proposes the first meeting
    slots = _slot_choices(offer)
    assert len(slots) == 3
    assert any(c.label == "None of these" for c in offer.choices)
    with h.db.session() as s:
        meeting = s.scalars(select(Meeting)).one()
        for iso in meeting.slots:
            local = datetime.fromisoformat(iso).astimezone(timezone.utc)
            # Ben and Asha overlap on Monday 12:30-14:00, Wednesday 17:00-18:00 and Friday 12:00-13:30 (UK time).
            assert (local.weekday(), local.hour) in {(0, 12), (0, 13), (2, 17), (4, 12), (4, 13)}
    assert h.inbox("asha") == []


def test_slot_choice_books_it_tells_the_buddy_and_cannot_be_answered_twice(h):
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")
    first = _slot_choices(offer)[0]
    replies = h.click("ben", first.label)
    assert replies[0].text.startswith(f"Booked: {first.label}")
    assert "Ben Okafor booked your buddy meeting" in h.last("asha").text
    again = h.click("ben", _slot_choices(offer)[1].label, message=offer)
    assert "already settled" in again[0].text
    with h.db.session() as s:
        meeting = s.scalars(select(Meeting)).one()
        assert meeting.status == "agreed" and meeting.agreed_at.isoformat() == meeting.slots[0]


def test_a_did_you_meet_check_run_again_after_a_restart_asks_once(h):
    h.run_step("buddy-meeting-1")
    h.click("ben", _slot_choices(h.last("ben"))[0].label)
    (wakeup,) = h.core.pending_wakeups()
    h.clock.set(wakeup.at)
    assert h.core.run_wakeup("meeting_check", wakeup.ref_id) == 1
    # A new timeline leader re-arms the check, still pending, and runs it again.
    assert h.core.run_wakeup("meeting_check", wakeup.ref_id) == 0
    h.deliver()
    with h.db.session() as s:
        prompts = s.scalars(select(Prompt).where(Prompt.flow == "meeting", Prompt.status == "open")).all()
        assert sorted(p.participant_id for p in prompts if p.state.get("stage") == "outcome") == [1, 2]
    assert len([m for _, m in h.group_messages() if m.intent == "did_you_meet"]) == 1


def test_after_the_slot_did_you_meet_yes_records_it_and_prompts_private_reflections(h):
    h.run_step("buddy-meeting-1")
    h.click("ben", _slot_choices(h.last("ben"))[0].label)
    wakeups = h.core.pending_wakeups()
    assert len(wakeups) == 1
    h.clock.set(wakeups[0].at)
    assert h.core.run_wakeup("meeting_check", wakeups[0].ref_id) == 1
    h.deliver()
    recipient, question = h.group_messages()[-1]
    assert question.text.startswith("Did your buddy meeting on")
    assert [c.label for c in question.choices] == ["Yes, we met", "No", "We rescheduled"]
    reply = h.click("asha", "Yes, we met", message=question)
    assert "happened" in reply[0].text
    assert "Dr Asha Patel told me" in h.last("ben").text or "reflection" in h.last("ben").intent
    # Ben answering the same question afterwards changes nothing.
    assert "Already noted" in h.click("ben", "No", message=question)[0].text
    assert any(m.intent == "reflect" for m in h.inbox("ben"))
    saved = h.say("ben", "Seeing theatre scheduling from the inside was eye-opening.")
    assert "Only you can see" in saved[0].text
    with h.db.session() as s:
        assert s.scalars(select(Meeting)).one().status == "held"
        pair = s.scalars(select(Pair)).one()
        assert pair.last_met_at is not None
        reflection = s.scalars(select(Reflection)).one()
        assert reflection.shared is False and "theatre scheduling" in reflection.text


def test_typed_number_picks_a_slot_and_none_of_these_offers_different_times(h):
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")
    first_round = [c.label for c in _slot_choices(offer)]
    replies = h.say("ben", "4")  # the fourth choice is "None of these"
    fresh = [c.label for c in _slot_choices(replies[0])]
    assert fresh and not set(fresh) & set(first_round)
    booked = h.say("ben", "2")
    assert booked[0].text.startswith(f"Booked: {fresh[1]}")


def test_an_answer_that_fits_nothing_is_reasked_with_what_is_expected(h):
    h.run_step("buddy-meeting-1")
    reply = h.say("ben", "maybe next week?")
    assert reply[0].intent == "reask"
    assert "Please pick one of: 1)" in reply[0].text and "None of these" in reply[0].text


def test_a_slot_that_has_passed_is_not_booked_and_fresh_times_are_offered(h):
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")
    h.clock.advance(days=30)
    reply = h.click("ben", _slot_choices(offer)[0].label)
    assert "has already passed" in reply[0].text
    assert len(_slot_choices(reply[0])) >= 1
    with h.db.session() as s:
        assert s.scalars(select(Meeting)).one().status == "proposed"


def test_did_not_meet_and_rescheduled_answers(h):
    h.run_step("buddy-meeting-1")
    h.click("ben", _slot_choices(h.last("ben"))[0].label)
    wakeup = h.core.pending_wakeups()[0]
    h.clock.set(wakeup.at)
    h.core.run_wakeup("meeting_check", wakeup.ref_id)
    h.deliver()
    question = h.group_messages()[-1][1]
    reply = h.click("asha", "We rescheduled", message=question)
    assert _slot_choices(reply[0]), "a reschedule offers new times to whoever answered"
    booked = h.click("asha", _slot_choices(reply[0])[0].label, message=reply[0])
    assert booked[0].text.startswith("Booked")
    wakeup = h.core.pending_wakeups()[0]
    h.clock.set(wakeup.at)
    h.core.run_wakeup("meeting_check", wakeup.ref_id)
    h.deliver()
    no = h.click("ben", "No", message=h.group_messages()[-1][1])
    assert "shall I find new times" in no[0].text
    with h.db.session() as s:
        assert s.scalars(select(Meeting)).one().status == "not_held"


@pytest.mark.parametrize("step_id,host,visitor", [
    ("manager-shadows-clinician", "asha", "ben"),
    ("clinician-shadows-manager", "ben", "asha"),
])
def test_shadowing_is_proposed_by_the_host_from_their_own_rota(h, step_id, host, visitor):
    h.run_step(step_id)
    offer = h.last(host)
    assert offer.intent == "propose_shadowing" and _slot_choices(offer)
    assert h.inbox(visitor) == []
    h.click(host, _slot_choices(offer)[0].label)
    assert "shadowing visit" in h.last(visitor).text
    with h.db.session() as s:
        meeting = s.scalars(select(Meeting)).one()
        assert meeting.kind == "shadowing" and meeting.direction == step_id.replace("-", "_")


def test_survey_in_chat_reasks_nonsense_and_stores_every_answer(h):
    h.run_step("pre-survey")
    first = h.last("asha")
    assert "question 1 of 16" in first.text
    reply = h.say("asha", "banana")
    assert reply[0].intent == "reask"
    assert "a number from 1 (very limited) to 5 (very good)" in reply[0].text
    assert "question 1 of 16" in reply[0].text
    for n in range(16):
        reply = h.say("asha", str(1 + n % 5))
    assert "survey done" in reply[0].text
    with h.db.session() as s:
        answers = s.scalars(select(SurveyResponse).where(SurveyResponse.survey == "pre_survey")).all()
        assert len(answers) == 16
        assert {a.value for a in answers} == {1, 2, 3, 4, 5}


def test_survey_as_a_form_keeps_valid_answers_and_names_the_bad_ones(sqlite_url):
    h = make_harness(sqlite_url, capabilities=frozenset({GROUP_CONVERSATION, FORMS}))
    h.run_step("fit-check")
    message = h.last("asha")
    assert message.form is not None and [f.id for f in message.form.fields] == ["pair_fit", "wants_repairing"]
    reply = h.submit("asha", message.form.id, {"pair_fit": "7", "wants_repairing": "no"})
    assert "'How well is your pairing working so far?': '7' is not a number from 1" in reply[0].text
    reply = h.submit("asha", message.form.id, {"pair_fit": "2"})
    assert "survey done" in reply[0].text
    # A low fit score reaches the coordinator.
    assert "rated their pairing 2/5" in h.last("rita").text
    with h.db.session() as s:
        assert s.scalar(select(func.count()).select_from(SurveyResponse)) == 2


def test_contract_in_chat_is_completed_by_one_member_and_shared(h):
    h.run_step("pair-contract")
    assert h.last("ben").intent == "contract_question"
    h.say("ben", "Understand each other's pressures")
    h.say("ben", "fortnightly")
    h.say("ben", "A ward round in month two")
    done = h.say("ben", "yes")
    assert "Contract saved" in done[0].text
    assert "recorded your pair contract" in h.last("asha").text
    # Asha's copy of the question was closed when Ben finished, so her text is not taken as an answer:
    # she is told the contract is already recorded, and by whom.
    late = h.say("asha", "weekly")[0]
    assert late.intent == "already" and "already recorded (by Ben Okafor)" in late.text
    with h.db.session() as s:
        contract = s.scalars(select(Contract)).one()
        assert contract.frequency == "fortnightly" and contract.confidentiality is True


def test_contract_rejects_a_frequency_it_does_not_know(h):
    h.run_step("pair-contract")
    h.say("ben", "Goals here")
    reply = h.say("ben", "every blue moon")
    assert "weekly, fortnightly, monthly" in reply[0].text


def test_group_meeting_rsvp_can_be_changed(h):
    h.run_step("launch-workshop")
    invite = h.last("asha")
    assert [c.label for c in invite.choices] == ["Yes, I'll be there", "Can't make it", "Not sure yet"]
    assert "you're down as coming" in h.click("asha", "Yes, I'll be there")[0].text
    h.click("asha", "Not sure yet", message=invite)
    with h.db.session() as s:
        assert s.scalars(select(Rsvp)).one().answer == "maybe"


def test_enrolment_asks_for_availability_and_explains_a_bad_answer(h):
    h.run_step("enrol")
    assert "Which times in a usual week" in h.last("ben").text
    bad = h.say("ben", "Mon 14:00-12:00")
    assert "the end time must be after the start time" in bad[0].text
    good = h.say("ben", "Tue 12:00-13:00, Thu 08:00-09:00")
    assert "Tue 12:00-13:00, Thu 08:00-09:00" in good[0].text


def test_unrecognised_text_gets_short_help_and_strangers_are_told_to_ask_a_coordinator(h):
    assert "availability" in h.say("asha", "what is this?")[0].text
    stranger = h.core.handle(Said(Address("fake", "T1", "nobody"), "hello"))
    assert "ask your programme coordinator" in stranger[0].text


def test_a_retried_event_is_processed_once(h):
    h.run_step("launch-workshop")
    invite = h.last("asha")
    yes = invite.choices[0]
    event = Clicked(h.users["asha"], yes.action, yes.value, event_id="Ev123")
    assert h.core.handle(event)
    assert h.core.handle(event) == []
    with h.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Rsvp)) == 1


def test_a_forged_or_stale_button_value_is_refused_with_a_message(h):
    reply = h.core.handle(Clicked(h.users["asha"], "meeting:slot", "999:1:0"))
    assert reply[0].text.startswith("Sorry, I can't do that")
    reply = h.core.handle(Clicked(h.users["asha"], "nonsense:thing", "1"))
    assert reply[0].intent == "error"


def test_a_quiet_pair_is_nudged_after_the_programmes_spacing_and_escalated_only_if_still_quiet(h):
    # The default programme proposes a meeting at least every four weeks: a pair is quiet after
    # that plus a week's grace, not at three weeks (the old rule nudged pairs that were on plan).
    h.run_step("pairs-announced")
    h.clock.advance(weeks=4)
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 0
    h.clock.advance(weeks=1, days=1)
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 1
    h.deliver()
    assert h.last("ben").intent == "quiet_pair_nudge" and h.last("asha").intent == "quiet_pair_nudge"
    assert h.last("asha").text.startswith("You haven't had your first buddy meeting yet")
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 0  # once per quiet spell
    h.clock.advance(weeks=1)
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 1
    h.deliver()
    assert "no first meeting held or booked" in h.last("rita").text and "still quiet" in h.last("rita").text
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 0
    # The coordinator's status says the same, and why.
    from bot.events import Command
    status = h.core.handle(Command(h.users["rita"], "status"))[0].text
    assert "no first meeting held or booked" in status and "the programme proposes one every 4 weeks" in status
    # The nudge's button starts a proposal.
    reply = h.click("asha", "Suggest times")
    assert "sent you some times" in reply[0].text
    assert _slot_choices(h.last("asha"))


def test_a_pair_with_a_meeting_booked_or_held_recently_is_never_nudged(h):
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")
    h.click("ben", _slot_choices(offer)[0].label, offer)
    for _ in range(7):  # a week's daily sweeps before the booked meeting
        h.clock.advance(days=1)
        assert h.core.sweep_quiet_pairs(h.cohort_id) == 0
    wakeup = h.core.pending_wakeups()[0]
    h.clock.set(wakeup.at)
    h.core.run_wakeup("meeting_check", wakeup.ref_id)
    h.deliver()
    h.click("asha", "Yes, we met")
    h.clock.advance(weeks=4)
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 0
    h.clock.advance(weeks=1, days=2)
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 1
    h.deliver()
    assert h.last("ben").text.startswith("It's been 5 weeks since you last met")


def test_a_meeting_rebooked_after_we_rescheduled_counts_as_the_pairs_meeting_until_they_say_otherwise(h):
    h.run_step("pairs-announced")
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")
    h.click("ben", _slot_choices(offer)[0].label, offer)
    wakeup = h.core.pending_wakeups()[0]
    h.clock.set(wakeup.at)
    h.core.run_wakeup("meeting_check", wakeup.ref_id)
    h.deliver()
    again = h.click("asha", "We rescheduled")[0]
    h.click("asha", _slot_choices(again)[0].label, again)
    # The new time passes and nobody has answered "did you meet?" yet.
    rebooked = [w for w in h.core.pending_wakeups() if w.ref_id == wakeup.ref_id and w.at > wakeup.at][0]
    h.clock.set(rebooked.at)
    h.core.run_wakeup("meeting_check", rebooked.ref_id)
    h.deliver()
    h.clock.advance(weeks=4)  # within the programme's spacing (4 weeks) and its week of grace
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 0
    assert not [m for m in h.inbox("ben") if m.intent == "quiet_pair_nudge"]


def test_no_nudges_after_the_programme_has_ended(h):
    h.run_step("pairs-announced")
    h.run_step("celebration")
    h.clock.advance(days=1)
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 0


def test_conversation_state_survives_a_restart(h, sqlite_url):
    from bot.core import Pairbot
    from bot.db import Database

    h.run_step("pre-survey")
    h.say("asha", "4")
    h.db.dispose()
    # A new process: new engine, new core, same database file.
    h.db = Database(sqlite_url)
    h.core = Pairbot(h.db, h.clock, h.core.capabilities)
    reply = h.say("asha", "5")
    assert "question 3 of 16" in reply[0].text


def test_unreachable_person_is_marked_and_the_coordinator_told(h):
    from bot.sending import Unreachable

    h.sender.failures["asha"] = [Unreachable("user_not_found"), Unreachable("user_not_found")]
    h.run_step("launch-workshop")
    h.deliver()
    # One answer is not enough: the platform is asked again hours later.
    with h.db.session() as s:
        assert s.scalars(select(Person).where(Person.user_id == "asha")).one().reachable is True
    assert not any("can no longer reach" in m.text for m in h.inbox("rita"))
    h.clock.advance(timedelta(hours=6))
    h.deliver()
    with h.db.session() as s:
        asha = s.scalars(select(Person).where(Person.user_id == "asha")).one()
        assert asha.reachable is False
    assert "can no longer reach Dr Asha Patel" in h.last("rita").text
    assert "Their pair carries on: Ben Okafor still gets the pair's steps." in h.last("rita").text
    assert h.last("ben").intent == "group_meeting"  # nothing else stops


def test_a_second_answer_that_reaches_the_person_keeps_them_reachable(h):
    from bot.sending import Unreachable

    h.sender.failures["asha"] = [Unreachable("user_not_found")]
    h.run_step("launch-workshop")
    h.deliver()
    h.clock.advance(timedelta(hours=6))
    h.deliver()
    with h.db.session() as s:
        assert s.scalars(select(Person).where(Person.user_id == "asha")).one().reachable is True
    assert h.last("asha").intent == "group_meeting"  # the held invitation reached her on the second try
    assert not any("can no longer reach" in m.text for m in h.inbox("rita"))


def test_busy_platform_is_retried_and_the_message_sent_once(h):
    from bot.sending import RetryLater

    h.sender.failures["ben"] = [RetryLater("429", after_seconds=0), RetryLater("503", after_seconds=0)]
    h.run_step("launch-workshop")
    for _ in range(2):  # each retry waits out a short backoff (at least a second), not at once
        h.clock.advance(timedelta(seconds=10))
        h.deliver()
    invites = [m for m in h.inbox("ben") if m.intent == "group_meeting"]
    assert len(invites) == 1


def test_coordinator_commands_are_checked_against_roles(h):
    from bot.events import Command

    status = h.core.handle(Command(h.users["rita"], "status"))[0].text
    assert "Spring 2027 (running)" in status and "Pairs: 1" in status
    refused = h.core.handle(Command(h.users["asha"], "status"))[0].text
    assert "is for coordinators" in refused
    assert "Did you mean 'status'" in h.core.handle(Command(h.users["rita"], "statsu"))[0].text
    assert "status" not in h.core.handle(Command(h.users["asha"], "help"))[0].text


def test_prompts_are_closed_once_answered(h):
    h.run_step("launch-workshop")
    h.click("asha", "Yes, I'll be there")
    with h.db.session() as s:
        open_prompts = s.scalars(select(Prompt).where(Prompt.status == "open")).all()
        assert len(open_prompts) == 1  # Ben's invitation is still open


def test_a_nudge_due_at_night_waits_for_the_recipients_morning_and_a_night_worker_sets_their_own(h):
    h.run_step("pairs-announced")
    h.say("asha", "quiet-hours 08:00-16:00")  # Asha works nights and sleeps by day
    # The daily sweep finds the pair quiet at 23:00 London time.
    h.clock.set(datetime(2027, 2, 3, 23, 0, tzinfo=timezone.utc))
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 1
    h.deliver()
    assert h.last("asha").intent == "quiet_pair_nudge"  # 23:00 is her daytime
    assert not any(m.intent == "quiet_pair_nudge" for m in h.inbox("ben"))  # Ben is asleep: it waits
    with h.db.session() as s:
        from bot.models import Delivery
        waiting = s.scalars(select(Delivery).where(Delivery.intent == "quiet_pair_nudge",
                                                   Delivery.status == "pending")).one()
        assert waiting.available_at == datetime(2027, 2, 4, 8, 0, tzinfo=timezone.utc)
    h.clock.set(datetime(2027, 2, 4, 8, 0, tzinfo=timezone.utc))
    h.deliver()
    assert h.last("ben").intent == "quiet_pair_nudge"


def test_a_nudge_held_back_by_quiet_hours_is_not_sent_once_the_pair_has_booked_a_meeting(h):
    h.run_step("pairs-announced")
    h.say("asha", "quiet-hours 08:00-16:00")
    h.clock.set(datetime(2027, 2, 3, 23, 0, tzinfo=timezone.utc))
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 1
    h.deliver()
    nudge = h.last("asha")
    assert nudge.intent == "quiet_pair_nudge"  # Ben's copy waits for his morning
    # Asha taps "Suggest times" at once and books; by Ben's morning the pair is not quiet.
    offer = h.click("asha", "Suggest times", nudge)[0]
    h.deliver()
    offer = next(m for m in reversed(h.inbox("asha")) if _slot_choices(m)) if not _slot_choices(offer) else offer
    assert h.click("asha", _slot_choices(offer)[0].label, offer)[0].text.startswith("Booked:")
    h.clock.set(datetime(2027, 2, 4, 8, 0, tzinfo=timezone.utc))
    h.deliver()
    assert not any(m.intent == "quiet_pair_nudge" for m in h.inbox("ben"))
    with h.db.session() as s:
        from bot.models import Delivery
        held = s.scalars(select(Delivery).where(Delivery.intent == "quiet_pair_nudge",
                                                Delivery.sent_at.is_(None))).one()
        assert held.status == "withdrawn"


def test_quiet_hours_that_cannot_be_read_get_a_clear_message(h):
    reply = h.say("asha", "quiet-hours all day")
    assert "'all day' is not a span of hours" in reply[0].text


def test_a_workshop_is_announced_at_its_programme_time_however_late_the_step_runs(sqlite_url):
    on_time, late = make_harness(sqlite_url), make_harness(sqlite_url.replace(".sqlite", "-late.sqlite"))
    on_time.run_step("launch-workshop")
    step_due = late.clock.now()
    from bot.programme import default_programme
    from harness import START, TZ

    due = default_programme().step("launch-workshop").due_at(START, TZ)
    late.clock.set(due + timedelta(hours=30, minutes=18))  # the step ran a day and a bit late
    late.core.run_step(late.cohort_id, "launch-workshop")
    late.deliver()
    assert on_time.last("asha").text == late.last("asha").text
    with on_time.db.session() as s:
        workshop = s.scalars(select(Meeting).where(Meeting.kind == "group")).one()
    assert workshop.agreed_at > due and step_due is not None


def test_no_invitation_goes_out_after_its_workshop(h):
    from bot.programme import default_programme
    from harness import START, TZ

    due = default_programme().step("launch-workshop").due_at(START, TZ)
    h.clock.set(due + timedelta(days=5))  # the step fell due while the bot was down, past the workshop
    h.core.run_step(h.cohort_id, "launch-workshop")
    h.deliver()
    assert not any(m.intent == "group_meeting" for m in h.inbox("asha"))
