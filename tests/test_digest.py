"""The facilitators' digest: weekly and at milestones, to facilitators and coordinators, with the
week's meetings, shadowing, quiet pairs, survey completion and what comes next; short enough for
a phone, and sent once per week however often the job runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot import enrolment
from bot.events import Address, Command
from bot.models import Person
from harness import PLATFORM, make_harness
from scheduler.timeline import Timeline, digest_job_id


@pytest.fixture
def h(sqlite_url):
    harness = make_harness(sqlite_url)
    with harness.db.session() as s:
        org = s.get(Person, 1).organisation_id
        from bot.models import Organisation

        fran = enrolment.person(s, s.get(Organisation, org), Address(PLATFORM, "T1", "fran"), "Fran Facilitator",
                                harness.clock.now())
        enrolment.grant(s, s.get(Organisation, org), fran, "facilitator", harness.clock.now())
    harness.users["fran"] = Address(PLATFORM, "T1", "fran")
    return harness


def digests(h, user: str):
    return [m for m in h.inbox(user) if m.intent == "digest"]


def hold_first_meeting(h) -> None:
    h.run_step("pairs-announced")
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")
    h.click("ben", next(c for c in offer.choices if c.action == "meeting:slot").label)
    wakeup = h.core.pending_wakeups()[0]
    h.clock.set(wakeup.at)
    h.core.run_wakeup("meeting_check", wakeup.ref_id)
    h.deliver()
    _, question = h.group_messages()[-1]
    h.click("asha", "Yes, we met", message=question)
    h.deliver()


def test_the_weekly_digest_reaches_facilitators_and_coordinators_once_a_week(h):
    hold_first_meeting(h)
    assert h.core.send_weekly_digest(h.cohort_id) == 2
    assert h.core.send_weekly_digest(h.cohort_id) == 2  # asked again the same week...
    h.deliver()
    assert len(digests(h, "fran")) == 1 and len(digests(h, "rita")) == 1  # ...still one each
    text = digests(h, "fran")[0].text
    lines = text.splitlines()
    assert lines[0].startswith("Spring 2027: week ")
    assert "Meetings this week: 1 (all: 1 of 4)" in text
    assert "Shadowing: manager → clinician 0/1, clinician → manager 0/1" in text
    assert "Quiet pairs: none" in text and "Next: " in text
    assert len(lines) <= 8 and all(len(line) <= 120 for line in lines)  # a phone screen
    assert not digests(h, "asha")  # participants do not get it


def test_quiet_pairs_and_survey_completion_show_weeks_later(h):
    hold_first_meeting(h)
    h.run_step("pre-survey")
    h.deliver()
    h.clock.advance(timedelta(weeks=4))
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    text = digests(h, "rita")[-1].text
    assert "Meetings this week: 0 (all: 1 of 4)" in text
    # Four weeks is the programme's own spacing: on plan, not quiet.
    assert "Quiet pairs: none" in text
    h.clock.advance(timedelta(weeks=2))
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    text = digests(h, "rita")[-1].text
    assert "Quiet pairs: Ben Okafor and Dr Asha Patel (6 wk)" in text
    assert "Before we start: 0/2 answered" in text


def test_a_milestone_digest_goes_when_the_workshop_is_over_not_with_its_invitation(h):
    h.run_step("launch-workshop")
    h.deliver()
    assert digests(h, "fran") == []  # the invitation has gone; the workshop has not happened yet
    (wakeup,) = [w for w in h.core.pending_wakeups() if w.job == "workshop_digest"]
    h.clock.set(wakeup.at)
    h.core.run_wakeup(wakeup.job, wakeup.ref_id)
    h.deliver()
    (milestone,) = digests(h, "fran")
    assert milestone.text.splitlines()[0] == "Spring 2027: after Launch workshop (week 0)"


def test_the_digest_after_a_workshop_gives_the_headcount_of_the_workshop_just_held(h):
    h.run_step("launch-workshop")
    h.deliver()
    h.click("asha", "Yes, I'll be there")
    h.click("ben", "Can't make it")
    h.deliver()
    (wakeup,) = [w for w in h.core.pending_wakeups() if w.job == "workshop_digest"]
    h.clock.set(wakeup.at)
    h.core.run_wakeup(wakeup.job, wakeup.ref_id)
    h.deliver()
    (milestone,) = digests(h, "fran")
    assert "Launch workshop Thu 7 Jan, held: 1 yes, 0 maybe, 1 no, 0 not answered" in milestone.text, milestone.text
    status = h.core.handle(Command(h.users["rita"], "status"))[0].text
    assert "Launch workshop on Thu 7 Jan (held): 1 yes, 0 maybe, 1 no, 0 not answered" in status, status
    # A week on it is history: the weekly digest no longer lists it.
    h.clock.advance(timedelta(weeks=1))
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    assert "Launch workshop" not in digests(h, "fran")[-1].text.split("Next:")[0]


def test_the_timeline_arms_a_weekly_digest_job_per_running_cohort(h):
    timeline = Timeline(h.core, BackgroundScheduler(timezone="UTC"))
    timeline.start()
    try:
        assert digest_job_id(h.cohort_id) in timeline.cohort_job_ids(h.cohort_id)
    finally:
        timeline.shutdown()


def test_a_digest_held_back_by_quiet_hours_shows_the_figures_of_when_it_goes_out(h):
    from zoneinfo import ZoneInfo

    h.run_step("pre-survey")
    h.deliver()
    local = h.clock.now().astimezone(ZoneInfo("Europe/London"))
    with h.db.session() as s:  # Fran works nights: the digest waits for her afternoon
        fran = s.get(Person, [p.id for p in s.query(Person).filter_by(user_id="fran")][0])
        fran.timezone = "Europe/London"
        fran.quiet_hours = f"{local - timedelta(hours=1):%H:%M}-{local + timedelta(hours=2):%H:%M}"
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    assert "Before we start: 0/2 answered" in digests(h, "rita")[-1].text
    assert digests(h, "fran") == []  # held back, not dropped
    question = h.last("asha")
    for _ in range(40):  # Asha answers the whole survey in chat, each reply asking the next
        if question.intent != "survey_question":
            break
        answer = (h.click("asha", question.choices[0].label, message=question) if question.choices
                  else h.say("asha", "Nothing to add"))
        question = answer[-1]
    h.clock.advance(timedelta(hours=3))
    h.deliver()
    (held,) = digests(h, "fran")
    assert "Before we start: 1/2 answered" in held.text  # counted when it went out
    assert held.text.splitlines()[0] == digests(h, "rita")[-1].text.splitlines()[0]  # the same week's digest


def test_next_names_a_workshop_step_as_its_invitations_not_as_the_meeting(h):
    """The launch workshop's step sends invitations on Mon 4 Jan; the workshop is on Thu 7 Jan.
    "Next: Mon 4 Jan group meeting" read as if the meeting itself were that day."""
    for step in ("enrol", "pairs-announced", "pre-survey"):
        h.run_step(step)
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    (next_line,) = [line for line in digests(h, "rita")[-1].text.splitlines() if line.startswith("Next: ")]
    assert "invitations to Launch workshop" in next_line and "group meeting" not in next_line, next_line
    status = h.core.handle(Command(h.users["rita"], "status"))[0].text
    assert "invitations to Launch workshop" in status and "group_meeting" not in status, status
