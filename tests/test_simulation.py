"""A whole cohort on programme time: the real timeline's jobs fire at their programme times, people
answer later like people do, and the run is repeatable from its seed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.console.simulation import DEFAULT_START, Habits, SimulatedPerson, simulate, validate
from bot.clock import VirtualClock
from bot.db import Database
from bot.models import Delivery, StepRun
from bot.programme import default_programme

FUSSY = Habits(types=0.4, double_taps=0.3, stale_buttons=0.2, ignores=0.1, chats_in_group=0.3)
PEOPLE = [
    SimulatedPerson("Dr Asha Patel", "clinician", "Mon 12:00-14:00, Wed 17:00-19:00", habits=FUSSY),
    SimulatedPerson("Ben Okafor", "manager", "Mon 12:30-15:00, Wed 16:00-18:00"),
    SimulatedPerson("Nurse Carys Jones", "clinician", "Tue 14:00-16:00, Thu 14:00-16:00", habits=Habits(late=True)),
    SimulatedPerson("Dan Murphy", "manager", "Tue 13:00-17:00, Thu 13:00-17:00", habits=FUSSY),
    SimulatedPerson("Kemi Adeyemi", "clinician", "Tue 13:00-16:00, Thu 12:00-15:00"),
]
GROUPS = [(0, 1), (2, 3, 4)]


def in_time_order(lines: list[str]) -> list[datetime]:
    """The programme time of every timed line, read from the day headings and HH:MM stamps."""
    stamps, day = [], None
    for line in lines:
        for part in line.split("\n"):
            if heading := re.fullmatch(r"── (\w{3} \d{1,2} \w{3} \d{4}) ──", part):
                day = datetime.strptime(heading[1], "%a %d %b %Y")
            elif stamp := re.match(r"(\d\d):(\d\d) ", part):
                assert day is not None, f"a timed line before any day heading: {part!r}"
                stamps.append(day.replace(hour=int(stamp[1]), minute=int(stamp[2])))
    return stamps


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("simulation") / "cohort.sqlite"
    return path, simulate(f"sqlite:///{path}", PEOPLE, GROUPS, seed=3)


def test_every_programme_step_fires_at_its_own_programme_time(run):
    path, result = run
    db = Database(f"sqlite:///{path}")
    with db.session() as session:
        ran = dict(session.execute(select(StepRun.step_id, StepRun.ran_at)).all())
        late = [d.idempotency_key for d in session.scalars(select(Delivery).where(Delivery.sent_at.is_not(None)))
                if d.sent_at != d.created_at]
    db.dispose()
    # Off England's bank holidays: buddy meeting 4 (Mon 26 May 2025, the spring bank holiday) goes on the Tuesday.
    due = {step.id: at.astimezone(timezone.utc) for at, step in default_programme().timeline(
        DEFAULT_START, ZoneInfo("Europe/London"), "England")}
    assert ran == due
    assert ran["buddy-meeting-4"] == datetime(2025, 5, 27, 8, 30, tzinfo=timezone.utc)
    assert late == []  # every message went out at the programme time it was written
    assert result.job_errors == []


def test_the_transcript_reads_in_time_order_and_people_take_their_time(run):
    _path, result = run
    stamps = in_time_order(result.transcript)
    assert len(stamps) > 300
    assert stamps == sorted(stamps)
    text = "\n".join(result.transcript)
    first_question = text.index("Before we start (question 1 of")
    answer = re.compile(r"^(\d\d:\d\d) Ben Okafor: clicks", re.MULTILINE).search(text, first_question)
    assert answer is not None and answer[1] != "12:30"  # not at the minute the survey arrived


def test_fussy_habits_show_in_the_transcript_and_typed_answers_are_checked(run):
    _path, result = run
    text = "\n".join(result.transcript)
    assert "again" in text  # double taps
    assert "types “" in text  # typing instead of clicking
    assert "clicks an old" in text  # stale buttons
    assert re.search(r"Dan Murphy: .*(Thanks both|running late|Great to meet|coffee)", text)  # group chat
    assert result.integrity.typed_answers == len(result.typed) > 20
    assert result.integrity.sent_long_after_due == 0


def test_the_same_seed_gives_the_same_transcript_in_a_database_in_memory(run):
    _path, result = run
    again = simulate("sqlite://", PEOPLE, GROUPS, seed=3)
    assert again.transcript == result.transcript
    assert again.integrity == result.integrity


def test_a_cohort_that_cannot_be_simulated_is_refused_with_the_reasons():
    with pytest.raises(ValueError) as refused:
        validate(PEOPLE, [(0, 1, 2, 3, 4), (1,)])
    message = str(refused.value)
    assert "group 1 has 5 members" in message and "group 2 has 1 members" in message
    assert "person 1 (Ben Okafor) is in groups 1 and 2" in message
    with pytest.raises(ValueError, match=r"person 4 \(Kemi Adeyemi\) is in no group"):
        validate(PEOPLE, [(0, 1), (2, 3)])
    with pytest.raises(ValueError, match="group 1 names person 7, but there are 5 people"):
        validate(PEOPLE, [(0, 7)])


def test_programme_time_never_goes_back():
    start = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
    clock = VirtualClock(start)
    assert clock.advance_to(start + timedelta(hours=2)) == start + timedelta(hours=2)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(start)
    assert clock.wall_time_for(start) == start  # the virtual scheduler reads programme time
