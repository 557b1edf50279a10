"""Surveys over time: one reminder three days on to those who have not finished, answers that
can be seen and changed until the survey closes, and none taken after it closes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.events import Command
from bot.models import SurveyResponse
from harness import make_harness


@pytest.fixture
def h(sqlite_url):
    return make_harness(sqlite_url)


def answer_all(h, user: str, value: str = "3") -> None:
    """Answer every question in chat (each answer's reply is the next question)."""
    message = h.last(user)
    for _ in range(40):
        if message.intent == "survey_done" or not message.choices:
            return
        label = value if any(c.label == value for c in message.choices) else message.choices[0].label
        message = h.click(user, label, message=message)[0]
    raise AssertionError("the survey did not finish")


def command(h, user: str, text: str):
    return h.core.handle(Command(h.users[user], text))[0]


def test_one_reminder_after_three_days_only_to_those_not_finished(h):
    h.run_step("pre-survey")
    h.deliver()
    answer_all(h, "asha")
    h.clock.advance(timedelta(days=2, hours=23))
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 0  # the daily sweep: not yet
    h.clock.advance(timedelta(hours=1))
    assert h.core.sweep_quiet_pairs(h.cohort_id) == 1
    h.deliver()
    assert h.last("ben").intent == "survey_reminder" and "open until" in h.last("ben").text
    assert not any(m.intent == "survey_reminder" for m in h.inbox("asha"))
    # The next day's sweep (or a retried one): still one reminder.
    h.clock.advance(timedelta(days=1))
    h.core.sweep_quiet_pairs(h.cohort_id)
    h.deliver()
    assert sum(m.intent == "survey_reminder" for m in h.inbox("ben")) == 1


def test_answers_can_be_seen_and_changed_until_the_survey_closes(h):
    h.run_step("pre-survey")
    h.deliver()
    answer_all(h, "asha", "3")
    shown = command(h, "asha", "my-answers")
    assert "Before we start (pre, open until" in shown.text
    assert "1. My ability to engage with the other group (clinicians or managers): 3" in shown.text
    changed = command(h, "asha", "answer pre 1 5")
    assert changed.intent == "answer_changed"
    with h.db.session() as s:
        values = s.scalars(select(SurveyResponse.value).where(SurveyResponse.item == "engage_other_group")).all()
    assert values == [5]  # changed in place, not a second answer
    assert "'9' is not an answer" in command(h, "asha", "answer pre 1 9").text
    assert "questions 1 to 16" in command(h, "asha", "answer pre 40 2").text
    assert "no survey called 'lunch'" in command(h, "asha", "answer lunch 1 2").text
    # Fourteen days on, the survey is closed: no changes, no late answers.
    h.clock.advance(timedelta(days=14, hours=1))
    closed = command(h, "asha", "answer pre 1 2")
    assert closed.intent == "error" and "closed on" in closed.text
    assert "closed on" in command(h, "asha", "my-answers").text
    late = h.click("ben", "4", message=h.last("ben"))
    assert late[0].intent == "survey_closed"  # Ben never finished; too late now
    with h.db.session() as s:
        assert s.scalars(select(SurveyResponse.value).where(SurveyResponse.item == "engage_other_group")).all() == [5]


def test_someone_outside_a_programme_has_no_answers(h):
    reply = command(h, "rita", "my-answers")
    assert reply.intent == "error" and "not in a programme" in reply.text
