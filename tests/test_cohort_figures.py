"""What a coordinator reads in `status` and a facilitator in the digest: contracts agreed and which
pairs have not, who has not answered an open survey, offers nobody has booked, workshop headcounts,
project stages, and meetings counted in the week they were held. Driven through the core with a
frozen clock, as people would answer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot import enrolment
from bot.events import Address, Command
from bot.models import Meeting, Organisation, Pair, PairMember, Participant, Person
from bot.surveys import get_survey
from harness import PEOPLE, PLATFORM, make_harness

OTHERS = {
    # user: (name, role, pair with)
    "dana": ("Dana Smith", "manager", "carl"),
    "carl": ("Dr Carl Jones", "clinician", "dana"),
    "finn": ("Finn Green", "manager", "eve"),
    "eve": ("Eve Brown", "clinician", "finn"),
}
BEN_AVAILABILITY = PEOPLE["ben"][2]


def add_pairs(h, people: dict[str, tuple[str, str, str]]) -> None:
    """Enrol more people into the harness's cohort and pair them as given (both free when Ben is)."""
    with h.db.session() as s:
        org = s.get(Organisation, s.get(Person, 1).organisation_id)
        from bot.models import Cohort

        cohort = s.get(Cohort, h.cohort_id)
        now = h.clock.now()
        enrolled = {}
        for user, (name, role, _) in people.items():
            address = Address(PLATFORM, "T1", user)
            h.users[user] = address
            enrolled[user] = enrolment.enrol(s, cohort, org, enrolment.Enrolee(
                address=address, name=name, role=role, availability=BEN_AVAILABILITY, profession=role.title()), now)
        done = set()
        for user, (_, _, buddy) in people.items():
            if user not in done:
                enrolment.make_pair(s, cohort, [enrolled[user], enrolled[buddy]], now)
                done |= {user, buddy}


def add_facilitator(h) -> None:
    with h.db.session() as s:
        org = s.get(Organisation, s.get(Person, 1).organisation_id)
        fran = enrolment.person(s, org, Address(PLATFORM, "T1", "fran"), "Fran Facilitator", h.clock.now())
        enrolment.grant(s, org, fran, "facilitator", h.clock.now())
    h.users["fran"] = Address(PLATFORM, "T1", "fran")


def pair_of(h, user: str) -> int:
    with h.db.session() as s:
        return s.scalars(select(PairMember.pair_id).join(Participant, Participant.id == PairMember.participant_id)
                         .join(Person, Person.id == Participant.person_id).where(Person.user_id == user)).one()


def answer_whole_survey(h, user: str, survey_id: str = "pre_survey") -> None:
    answers = {item.id: ("4" if item.kind == "scale" else item.options[0] if item.kind == "choice" else "Rotas")
               for item in get_survey(survey_id).items}
    assert h.submit(user, f"survey:{survey_id}", answers)[0].intent == "survey_done"


def run_early(h, step_id: str) -> None:
    """Run a step now rather than at its week, so one moment holds every kind of figure."""
    assert h.core.run_step(h.cohort_id, step_id)
    h.deliver()


def booked_meeting(h, user: str) -> tuple[datetime, int]:
    """When the pair of `user` booked their meeting for, and its id."""
    with h.db.session() as s:
        meeting = s.scalars(select(Meeting).where(Meeting.pair_id == pair_of(h, user), Meeting.status == "agreed")).one()
        return meeting.agreed_at, meeting.id


def status(h, text: str = "status") -> str:
    reply = h.core.handle(Command(h.users["rita"], text))[0]
    assert reply.intent == "status", reply.text
    return reply.text


def digests(h, user: str = "fran"):
    return [m for m in h.inbox(user) if m.intent == "digest"]


@pytest.fixture
def cohort(sqlite_url):
    """Three pairs in week 0: four of six have answered the open pre survey (Carl only its first
    question, Eve nothing); the launch workshop has an RSVP of each kind and one not answered;
    two pairs booked their first meeting, agreed a contract and named a project stage; Finn and
    Eve have done none of it."""
    h = make_harness(sqlite_url)
    add_pairs(h, OTHERS)
    add_facilitator(h)
    h.run_step("pairs-announced")
    h.run_step("pre-survey")
    for user in ("ben", "asha", "dana", "finn"):
        answer_whole_survey(h, user)
    h.click("carl", "3")  # the first of sixteen questions: started, not answered
    h.run_step("launch-workshop")  # Mon 4 Jan 09:00; the workshop is on Thu 7 Jan
    for user, label in (("ben", "Yes, I'll be there"), ("asha", "Yes, I'll be there"), ("finn", "Yes, I'll be there"),
                        ("carl", "Not sure yet"), ("dana", "Can't make it")):
        h.click(user, label)
    h.clock.set(datetime(2027, 1, 5, 10, 0, tzinfo=timezone.utc))
    run_early(h, "buddy-meeting-1")
    for manager in ("ben", "dana"):
        offer = next(m for m in reversed(h.inbox(manager)) if m.intent == "propose_buddy")
        h.click(manager, next(c for c in offer.choices if c.action == "meeting:slot").label, message=offer)
    run_early(h, "pair-contract")
    for user in ("ben", "dana"):
        reply = h.submit(user, f"contract:{pair_of(h, user)}", {
            "goals": "Understand each other's pressures", "frequency": "fortnightly",
            "shadowing_plan": "A ward round in March", "confidentiality": "yes"})
        assert reply[0].intent == "contract_done"
    run_early(h, "improvement-idea")
    h.click("ben", "Spotted one")
    h.click("dana", "Planned")
    return h


def test_the_digest_says_what_the_coordinator_needs_to_chase(cohort):
    h = cohort
    assert h.core.send_weekly_digest(h.cohort_id) == 2
    h.deliver()
    text = digests(h)[-1].text
    lines = text.splitlines()
    assert "Contracts: 2/3 agreed; not yet: Finn Green and Eve Brown" in lines
    assert "Before we start: 4/6 answered; not yet: Dr Carl Jones, Eve Brown" in lines
    assert "Offered, not booked: 1: Finn Green and Eve Brown buddy meeting since 5 Jan" in lines
    assert "Launch workshop Thu 7 Jan: 3 yes, 1 maybe, 1 no, 1 not answered" in lines
    assert "Projects: none 1, identified 1, planned 1, tested 0, presented 0" in lines
    assert "Quiet pairs: none" in lines
    assert len(lines) <= 12 and all(len(line) <= 120 for line in lines), text  # still a phone screen


def test_status_shows_the_cohort_and_one_pair(cohort):
    h = cohort
    finn_and_eve = pair_of(h, "finn")
    text = status(h)
    lines = text.splitlines()
    assert f"Contracts agreed: 2 of 3; not yet: #{finn_and_eve} Finn Green & Eve Brown" in lines
    assert "Before we start (open until Wed 13 Jan): 4 of 6 answered; not yet: Dr Carl Jones, Eve Brown" in lines
    assert f"Offered, not booked: 1: #{finn_and_eve} Finn Green & Eve Brown: buddy meeting since 5 Jan" in lines
    assert "Launch workshop on Thu 7 Jan: 3 yes, 1 maybe, 1 no, 1 not answered" in lines
    assert "Projects: none 1, identified 1, planned 1, tested 0, presented 0" in lines
    one = status(h, f"status #{finn_and_eve}").splitlines()
    for line in ("Contract: not agreed yet", "Before we start (open until Wed 13 Jan): not yet answered by Eve Brown",
                 "Offered, not booked: buddy meeting since 5 Jan",
                 "Launch workshop on Thu 7 Jan: Finn Green yes, Eve Brown not answered", "Project: none"):
        assert line in one, (line, one)
    ben_and_asha = status(h, f"status #{pair_of(h, 'ben')}").splitlines()
    assert "Contract agreed 5 Jan 2027" in ben_and_asha and "Project: identified" in ben_and_asha
    assert "Before we start (open until Wed 13 Jan): answered by all" in ben_and_asha
    assert not any(line.startswith("Offered, not booked") for line in ben_and_asha)


def test_each_digest_counts_afresh_when_it_is_recorded(cohort):
    h = cohort
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    assert "Before we start: 4/6 answered; not yet: Dr Carl Jones, Eve Brown" in digests(h)[-1].text
    answer_whole_survey(h, "carl")  # finishes what he started
    h.clock.set(datetime(2027, 1, 11, 8, 0, tzinfo=timezone.utc))  # next Monday's digest
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    week_1 = digests(h)[-1].text
    assert week_1.startswith("Spring 2027: week 1")
    assert "Before we start: 5/6 answered; not yet: Eve Brown" in week_1
    assert "Launch workshop" not in week_1  # it has been held: no longer a coming workshop
    h.clock.set(datetime(2027, 1, 18, 8, 0, tzinfo=timezone.utc))  # the survey closed on the 13th
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    week_2 = digests(h)[-1].text
    assert "Closed: Before we start: 5/6 answered" in week_2 and "answered; not yet" not in week_2


def test_a_meeting_counts_in_the_week_it_was_held_not_the_week_it_was_confirmed(cohort):
    h = cohort
    held_at, meeting_id = booked_meeting(h, "ben")
    # Nobody answers "did you meet?" until eight days after the meeting.
    h.clock.set(held_at + timedelta(days=8))
    h.core.run_wakeup("meeting_check", meeting_id)
    h.deliver()
    _, question = h.group_messages()[-1]
    h.click("asha", "Yes, we met", message=question)
    h.clock.advance(timedelta(hours=1))
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    text = digests(h)[-1].text
    assert "Meetings this week: 0 (all: 1 of 12)" in text  # held last week, though confirmed this week
    assert "Meetings held in the last 7 days: 0" in status(h)
    assert "Buddy meetings held: 1 of 12" in status(h)


def test_a_meeting_held_and_confirmed_in_the_week_counts_in_it(cohort):
    h = cohort
    held_at, meeting_id = booked_meeting(h, "dana")
    h.clock.set(held_at + timedelta(hours=1))
    h.core.run_wakeup("meeting_check", meeting_id)
    h.deliver()
    _, question = h.group_messages()[-1]
    h.click("carl", "Yes, we met", message=question)
    assert "Meetings held in the last 7 days: 1" in status(h)


def test_long_lists_of_names_are_cut_to_fit_the_digest_and_listed_in_full_in_status(sqlite_url):
    h = make_harness(sqlite_url)
    many = {}
    for n in range(10):
        many[f"m{n}"] = (f"Manager Number{n:02d}", "manager", f"c{n}")
        many[f"c{n}"] = (f"Clinician Number{n:02d}", "clinician", f"m{n}")
    add_pairs(h, many)
    h.run_step("pairs-announced")
    h.run_step("pre-survey")
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    line = next(line for line in digests(h, "rita")[-1].text.splitlines() if line.startswith("Before we start"))
    assert line.startswith("Before we start: 0/22 answered; not yet: Ben Okafor, Clinician Number00, ")
    shown = line.split("; not yet: ")[1].split(" +")[0].split(", ")
    assert len(line) <= 120 and line.endswith(f" +{22 - len(shown)} more"), line
    full = next(line for line in status(h).splitlines() if line.startswith("Before we start"))
    assert all(f"Number{n:02d}" in full for n in range(10)) and "Dr Asha Patel" in full


def test_a_broken_pair_is_neither_chased_for_a_contract_nor_counted(cohort):
    h = cohort
    ended = h.core.handle(Command(h.users["rita"], f"pair break #{pair_of(h, 'finn')}"))[0]
    assert ended.text.startswith("Ended #"), ended.text
    text = status(h)
    assert "Contracts agreed: 2 of 2" in text.splitlines() and "Offered, not booked: 0" in text


def test_shadowing_counts_only_pairs_still_counted_so_it_never_reads_more_than_all(cohort):
    """A pair that shadowed and then broke up leaves the count with its pair: "2 of 2", not "3 of 2"."""
    h = cohort
    pair_ids = [pair_of(h, user) for user in ("ben", "dana", "finn")]
    with h.db.session() as s:
        for pair_id in pair_ids:
            pair = s.get(Pair, pair_id)
            s.add(Meeting(cohort_id=pair.cohort_id, pair_id=pair_id, kind="shadowing",
                          direction="manager_shadows_clinician", step_id="shadowing-1", status="held",
                          slots=[], agreed_at=h.clock.now() - timedelta(days=1), created_at=h.clock.now()))
    ended = h.core.handle(Command(h.users["rita"], f"pair break #{pair_of(h, 'finn')}"))[0]
    assert ended.text.startswith("Ended #"), ended.text
    assert "Shadowing: manager → clinician 2 of 2" in status(h)
    h.core.send_weekly_digest(h.cohort_id)
    h.deliver()
    assert "manager → clinician 2/2" in digests(h)[-1].text


def test_the_day_a_quiet_pair_was_nudged_is_the_cohorts_day_not_utcs():
    from zoneinfo import ZoneInfo

    from bot.figures import quiet_note

    # 23:30 UTC on Mon 4 Jan is already Tue 5 Jan in Auckland (UTC+13 in summer).
    pair = Pair(nudged_at=datetime(2027, 1, 4, 23, 30, tzinfo=timezone.utc))
    assert quiet_note(pair, 6, ZoneInfo("Pacific/Auckland")) == "6 wk, nudged 5 Jan"
    assert quiet_note(pair, 6, ZoneInfo("Europe/London")) == "6 wk, nudged 4 Jan"
