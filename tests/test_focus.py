"""One conversation at a time per person: typed text answers the question it was meant for."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.capabilities import FORMS
from bot.models import Contract, Prompt, Reflection, Rsvp, SurveyResponse, TypedNote
from harness import make_harness


@pytest.fixture
def chat(sqlite_url):
    """A platform with neither forms nor group conversations: every question is asked in chat."""
    return make_harness(sqlite_url, capabilities=frozenset())


def _survey_answers(h, survey):
    with h.db.session() as s:
        return {r.item: r.value for r in s.scalars(select(SurveyResponse).where(SurveyResponse.survey == survey))}


def test_a_second_chat_question_waits_until_the_first_is_answered(chat):
    chat.run_step("pair-contract")
    assert chat.last("ben").intent == "contract_question"
    _run_now(chat, "fit-check")  # an hour later, say: Ben is still on the contract
    # The fit check is not sent while Ben is in the middle of the contract.
    assert chat.last("ben").intent == "contract_question"
    chat.say("ben", "Understand each other's pressures and fix one discharge delay.")
    chat.say("ben", "fortnightly")
    chat.say("ben", "A ward round in March.")
    done = chat.say("ben", "yes")
    assert done[0].intent == "contract_done"
    with chat.db.session() as s:
        contract = s.scalars(select(Contract)).one()
    assert contract.goals.startswith("Understand each other's pressures")
    assert contract.frequency == "fortnightly" and contract.shadowing_plan == "A ward round in March."
    # Now the fit check goes out, and a typed "4" answers it.
    assert chat.last("ben").intent == "survey_question"
    chat.say("ben", "4")
    assert _survey_answers(chat, "fit_check") == {"pair_fit": 4}


def test_a_reflection_typed_after_a_newer_button_question_is_saved_as_the_reflection(chat):
    chat.run_step("reflection")
    chat.run_step("buddy-meeting-1")  # Ben now also has slot buttons, asked after the reflection
    reply = chat.say("ben", "Seeing the bed meeting made the pressure on the wards make sense.")
    assert "I took that as your week 12 reflection" in reply[0].text
    with chat.db.session() as s:
        assert [r.text for r in s.scalars(select(Reflection))] == [
            "Seeing the bed meeting made the pressure on the wards make sense."]
        slot_prompt = s.scalars(select(Prompt).where(Prompt.flow == "meeting")).one()
        assert slot_prompt.status == "open"


def test_a_typed_number_that_could_answer_two_questions_asks_which(sqlite_url):
    h = make_harness(sqlite_url, capabilities=frozenset({FORMS}))
    h.run_step("pre-survey")            # a form: its first question is on a 1-5 scale
    h.run_step("launch-workshop")       # buttons: 1 yes, 2 no, 3 not sure
    reply = h.say("ben", "2")
    assert reply[0].intent == "which_question"
    labels = [c.label for c in reply[0].choices]
    assert any("survey" in label for label in labels) and any("Launch workshop" in label for label in labels)
    survey_choice = next(c for c in reply[0].choices if "survey" in c.label)
    answered = h.click("ben", survey_choice.label, reply[0])
    assert "I took that as question 1 of the 'Before we start' survey" in answered[0].text
    with h.db.session() as s:
        assert s.scalars(select(Rsvp)).all() == []
        assert [(r.item, r.value) for r in s.scalars(select(SurveyResponse))][0][1] == 2
        assert s.scalars(select(TypedNote)).one().status == "taken"
    # Tapping the same "which?" button again changes nothing.
    again = h.click("ben", survey_choice.label, reply[0])
    assert again[0].text.startswith("Already done")
    assert len(_survey_answers(h, "pre_survey")) == 1


def test_availability_typed_while_a_survey_form_is_open_is_taken_as_availability(sqlite_url):
    h = make_harness(sqlite_url, capabilities=frozenset({FORMS}))
    h.run_step("enrol")
    h.run_step("pre-survey")
    reply = h.say("asha", "Mon 12:00-14:00, Thu 17:00-18:30")
    assert "I'll suggest meeting times within: Mon 12:00-14:00, Thu 17:00-18:30" in reply[0].text
    assert _survey_answers(h, "pre_survey") == {}


def test_text_that_answers_nothing_is_kept_and_the_person_told(chat):
    reply = chat.say("asha", "Running late today, sorry!")
    assert "I'm not waiting for an answer from you just now" in reply[0].text
    assert "kept" in reply[0].text
    with chat.db.session() as s:
        assert [n.text for n in s.scalars(select(TypedNote))] == ["Running late today, sorry!"]


def test_a_yes_out_of_focus_never_answers_an_older_button_question(chat):
    chat.run_step("launch-workshop")    # RSVP buttons
    chat.run_step("reflection")         # then a reflection, asked in chat: now in focus
    reply = chat.say("asha", "yes")
    with chat.db.session() as s:
        assert s.scalars(select(Rsvp)).all() == []
        # Nor is a bare "yes" a reflection: Asha is asked what she meant.
        assert s.scalars(select(Reflection)).all() == []
    assert reply[0].text.startswith("Was “yes” meant as your reflection?")
    assert chat.say("asha", "I learnt how the rota is made.")[0].text.startswith("Saved.")


def _run_now(h, step_id):
    h.clock.advance(hours=1)
    h.core.run_step(h.cohort_id, step_id)
    h.deliver()


def test_a_contract_answer_typed_days_later_still_goes_to_the_contract_not_the_newer_fit_check(chat):
    chat.run_step("pair-contract")
    chat.run_step("fit-check")  # two days on, the contract unanswered: the fit check is asked too
    assert chat.last("ben").intent == "survey_question"
    reply = chat.say("ben", "Understand each other's pressures and fix one discharge delay.")
    assert "I took that as the contract question" in reply[0].text
    with chat.db.session() as s:
        assert s.scalars(select(Contract)).one().goals.startswith("Understand each other's pressures")
    assert _survey_answers(chat, "fit_check") == {}


def test_an_ignored_question_holds_the_next_one_back_for_a_day_at_most(chat):
    chat.run_step("enrol")                  # availability, never answered
    _run_now(chat, "pre-survey")
    assert chat.last("asha").intent == "enrol"  # the survey waits its turn
    chat.clock.advance(days=1, minutes=1)
    chat.core.sweep_quiet_pairs(chat.cohort_id)
    chat.deliver()
    assert chat.last("asha").intent == "survey_question"
    chat.say("asha", "4")
    assert list(_survey_answers(chat, "pre_survey").values()) == [4]


def test_a_bare_number_beside_only_a_form_asks_before_it_is_taken_as_a_form_answer(sqlite_url):
    # Ben's "did you meet?" was settled by his buddy a minute ago; he types "1" for it. The only
    # open question is the fit-check form, which is filled in, not typed: a "1/5" there would
    # alarm the coordinator.
    h = make_harness(sqlite_url, capabilities=frozenset({FORMS}))
    h.run_step("fit-check")
    reply = h.say("ben", "1")
    assert reply[0].intent == "which_question"
    assert [c.label for c in reply[0].choices][-1] == "Neither"
    neither = h.click("ben", "Neither", reply[0])
    assert "taken it for nothing" in neither[0].text
    assert _survey_answers(h, "fit_check") == {}
    assert not [m for m in h.inbox("rita") if "Fit check" in m.text]


def test_an_invitation_to_a_workshop_that_is_over_answers_no_bare_number_and_a_late_reply_changes_nothing(chat):
    chat.run_step("launch-workshop")   # held Thu 7 Jan 2027, 13:00-16:00
    invitation = chat.last("ben")
    chat.clock.advance(days=4)         # the workshop is over
    _run_now(chat, "reflection")       # and a reflection is the question just asked
    # A bare number goes to the reflection in focus only if it fits it; never to the old invitation.
    chat.say("ben", "1")
    assert _rsvps(chat) == []
    # Typed in full, the reply could be either: Pairbot asks, and the invitation says what it is now.
    late = chat.say("ben", "Yes, I'll be there")
    assert late[0].intent == "which_question"
    pick = next(c.label for c in late[0].choices if "Launch workshop" in c.label)
    taken = chat.click("ben", pick, late[0])
    assert "Launch workshop was on Thu 7 Jan, 13:00, so I haven't changed anything" in taken[0].text
    with chat.db.session() as s:
        assert s.scalars(select(Rsvp)).all() == [] and s.scalars(select(Reflection)).all() == []
    tapped = chat.click("ben", "Yes, I'll be there", invitation)
    assert "haven't changed anything" in tapped[0].text


def _rsvps(h):
    with h.db.session() as s:
        return s.scalars(select(Rsvp)).all()


def test_two_shadowing_visits_awaiting_did_it_happen_are_told_apart_in_the_question_and_in_which(chat):
    """A pair has one shadowing visit each way. Both asked "did it happen?" at once, a typed "1"
    asks which, and each option says who shadowed whom, as the questions themselves did."""
    from bot.flows import meeting as meeting_flow
    from bot.models import Meeting

    h = chat
    for step in ("manager-shadows-clinician", "clinician-shadows-manager"):
        h.run_step(step)
    with h.db.session() as s:
        visits = list(s.scalars(select(Meeting).where(Meeting.kind == "shadowing").order_by(Meeting.id)))
        for visit in visits:
            visit.status = "unscheduled"  # arranged directly: no time tells them apart
        ids = [v.id for v in visits]
    with h.core.unit() as ctx:
        for meeting_id in ids:
            meeting_flow.ask_outcome(ctx, meeting_id)
    h.deliver()
    asked = [m.text for m in h.inbox("ben") if m.intent == "did_you_meet"]
    assert "Did your shadowing visit (the manager shadowing the clinician) happen?" in asked
    assert "Did your shadowing visit (the clinician shadowing the manager) happen?" in asked
    reply = h.say("ben", "1")
    assert reply[0].intent == "which_question", reply[0].text
    labels = [c.label for c in reply[0].choices]
    assert "Whether your shadowing visit (the manager shadowing the clinician) happened" in labels
    assert "Whether your shadowing visit (the clinician shadowing the manager) happened" in labels
