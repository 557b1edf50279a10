"""Rotas: patterns as people type them (nights, long days, weekends, 1 in N weeks), an .ics rota
import, leave, rest after nights and the clock changes; asked in enrolment, changed with 'rota ...'
(through the core, and with a file through the Slack and Teams adapters), and given by
coordinators with enrol and the CSV import."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import icalendar
import pytest
from sqlalchemy import select

from bot import rota
from bot.events import Address, Command, Upload
from bot.models import Participant, Person, Prompt, SurveyResponse
from bot.rota import Busy, RotaPlan, busy_spans, rotates_on
from bot.rota_file import RotaFileError, read_calendar
from bot.rota_text import RotaError, applied, parse_rota
from harness import make_harness
from loopback_bot import scenario_runner
from test_commands import Org, csv_text
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
TODAY = date(2027, 1, 4)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def someone(text: str, today: date = TODAY, tz: str = "Europe/London") -> Participant:
    """A participant (not stored) whose rota is what they typed."""
    plan = applied(RotaPlan(), parse_rota(text, today))
    return Participant(rota_plan=plan.to_dict(), person=Person(name="Dr Asha Patel", timezone=tz))


def spans(who: Participant, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
    return [(b.start, b.end, b.reason) for b in busy_spans(who, start, end)]


# --- patterns ----------------------------------------------------------------------------------------
def test_nights_one_in_four_are_mon_to_thu_in_that_week_then_every_fourth_week_with_rest_after():
    asha = someone("nights 1 in 4 from 11 Jan")
    week = spans(asha, utc(2027, 1, 11), utc(2027, 1, 18))
    nights = [(utc(2027, 1, d, 20, 0), utc(2027, 1, d + 1, 8, 30), "is on nights") for d in (11, 12, 13, 14)]
    # The days between the nights are for sleep; the rest follows the last night.
    between = [(utc(2027, 1, d, 8, 30), utc(2027, 1, d, 20, 0), "is on nights") for d in (12, 13, 14)]
    assert week == sorted(nights + between) + [(utc(2027, 1, 15, 8, 30), utc(2027, 1, 17, 6, 30),
                                                "is resting after nights")]
    assert spans(asha, utc(2027, 1, 18), utc(2027, 2, 8)) == []  # weeks 2, 3 and 4 of the cycle
    fifth = [s[0] for s in spans(asha, utc(2027, 2, 8), utc(2027, 2, 12)) if s[2] == "is on nights" and s[0].hour == 20]
    assert fifth == [utc(2027, 2, d, 20) for d in (8, 9, 10, 11)]
    assert rota.plan_of(asha).describe() == "nights Mon-Thu 20:00-08:30 every 4th week from Mon 11 Jan 2027"


def test_the_same_pattern_reads_from_other_ways_of_typing_it():
    typed = ["1 in 4 nights from 11 Jan", "Nights Mon-Thu 8pm-8.30am every 4th week from 11/1/2027",
             "night shifts 1 in 4 starting Mon 11 January 2027", "nights mon to thursday 1 in 4 from 2027-01-13"]
    first = parse_rota("nights 1 in 4 from 11 Jan", TODAY).patterns
    for text in typed:
        assert parse_rota(text, TODAY).patterns == first, text


def test_long_days_weekends_and_own_hours():
    asha = someone("long days Tue, Thu")
    assert spans(asha, utc(2027, 1, 11), utc(2027, 1, 18)) == [
        (utc(2027, 1, 12, 8), utc(2027, 1, 12, 20, 30), "is on a long day"),
        (utc(2027, 1, 14, 8), utc(2027, 1, 14, 20, 30), "is on a long day")]
    ben = someone("weekends 1 in 3 from 16 Jan")
    worked = {s[0].date() for s in spans(ben, utc(2027, 1, 11), utc(2027, 2, 15))}
    assert worked == {date(2027, 1, 16), date(2027, 1, 17), date(2027, 2, 6), date(2027, 2, 7)}
    assert busy_spans(ben, utc(2027, 1, 16), utc(2027, 1, 17))[0].reason == "is working the weekend"
    carl = someone("nights Fri-Sun 21:00-09:00 1 in 2 from 15 Jan, long days Mon 07:30-20:00 1 in 2 from 18 Jan")
    found = spans(carl, utc(2027, 1, 11), utc(2027, 1, 25))
    assert (utc(2027, 1, 15, 21), utc(2027, 1, 16, 9), "is on nights") in found
    assert (utc(2027, 1, 18, 9), utc(2027, 1, 20, 7), "is resting after nights") in found
    assert (utc(2027, 1, 18, 7, 30), utc(2027, 1, 18, 20), "is on a long day") in found
    assert spans(carl, utc(2027, 1, 25, 6), utc(2027, 1, 25, 21)) == []  # neither, in the week between
    assert (utc(2027, 2, 1, 7, 30), utc(2027, 2, 1, 20), "is on a long day") in spans(
        carl, utc(2027, 2, 1), utc(2027, 2, 2))


@pytest.mark.parametrize("typed, problem", [
    ("nights 1 in 0", "'nights 1 in 0': the repeat must be 1 in 2 to 1 in 12"),
    ("nights 1 in 13 from 11 Jan", "the repeat must be 1 in 2 to 1 in 12"),
    ("nights 1 in 4", "'nights 1 in 4': say which week they start, like 'nights 1 in 4 from 11 Jan'"),
    ("nights", "'nights': say how often"),
    ("long days Funday", "I can't read 'funday'"),
    ("nights Mon-Thu 25:00-08:00", "25:00 is not a time of day"),
    ("leave 5-1 Mar", "'leave 5-1 mar': the leave ends before it starts"),
    ("leave 31 Feb", "'31 feb' is not a date"),
    ("rotate soon", "'soon' is not a date"),
    ("rotate 7 Apr 2026", "that date has passed"),
    ("banana", "'banana': start with nights, long days, days, weekends, leave or rotate"),
])
def test_what_cannot_be_read_is_refused_naming_the_part(typed, problem):
    with pytest.raises(RotaError) as refused:
        parse_rota(typed, TODAY)
    assert problem in str(refused.value)


def test_leave_is_whole_days_in_their_own_zone():
    asha = someone("leave 1-5 Mar, study leave 1 Apr")
    assert spans(asha, utc(2027, 2, 1), utc(2027, 5, 1)) == [
        (utc(2027, 3, 1), utc(2027, 3, 6), "is on leave"),
        (utc(2027, 3, 31, 23), utc(2027, 4, 1, 23), "is on study leave")]  # BST by April
    assert "leave 1-5 Mar 2027" in rota.plan_of(asha).describe()


def test_the_rotation_date_is_known_and_ends_the_old_posts_pattern():
    asha = someone("nights 1 in 2 from 11 Jan, rotate 7 Apr")
    assert rotates_on(asha) == date(2027, 4, 7)
    assert spans(asha, utc(2027, 3, 22), utc(2027, 3, 26))  # still in the old post
    assert spans(asha, utc(2027, 4, 10), utc(2027, 6, 1)) == []  # the new post's rota is not known
    assert rotates_on(Participant(rota_plan=None, person=Person(timezone="Europe/London"))) is None


def test_rest_follows_the_last_night_of_each_run_only():
    asha = someone("nights Mon-Thu 1 in 2 from 11 Jan")
    rests = [b for b in busy_spans(asha, utc(2027, 1, 11), utc(2027, 1, 25)) if b.reason == "is resting after nights"]
    assert rests == [Busy(utc(2027, 1, 15, 8, 30), utc(2027, 1, 15, 8, 30) + rota.REST_AFTER_NIGHTS,
                          "is resting after nights")]
    assert rota.REST_AFTER_NIGHTS == timedelta(hours=46)
    # A window that opens inside the rest still sees it.
    assert busy_spans(asha, utc(2027, 1, 16, 12), utc(2027, 1, 16, 13))[0].reason == "is resting after nights"


@pytest.mark.parametrize("typed, start, end", [
    # Sat 27 Mar 2027 20:00 GMT to Sun 28 Mar 08:30 BST: 11 h 30 m of work.
    ("nights Sat 20:00-08:30 1 in 2 from 27 Mar 2027", utc(2027, 3, 27, 20), utc(2027, 3, 28, 7, 30)),
    # Sat 30 Oct 2027 20:00 BST to Sun 31 Oct 08:30 GMT: 13 h 30 m.
    ("nights Sat 20:00-08:30 1 in 2 from 30 Oct 2027", utc(2027, 10, 30, 19), utc(2027, 10, 31, 8, 30)),
])
def test_a_night_across_the_clock_change_is_right_in_utc(typed, start, end):
    asha = someone(typed)
    found = busy_spans(asha, start - timedelta(hours=1), end + timedelta(hours=1))
    assert (found[0].start, found[0].end, found[0].reason) == (start, end, "is on nights")
    assert (found[1].start, found[1].end) == (end, end + timedelta(hours=46))
    # The next one, a fortnight on, is at 20:00 local again.
    later = busy_spans(asha, start + timedelta(days=14), end + timedelta(days=14, hours=1))[0]
    assert later.start.astimezone(LONDON).hour == 20 and later.end.astimezone(LONDON).strftime("%H:%M") == "08:30"


# --- an .ics rota ------------------------------------------------------------------------------------
def calendar_file() -> str:
    """What an e-rostering system exports, made with icalendar."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Test rostering//EN")
    cal.add("version", "2.0")

    def event(uid, summary, start, end=None, **extra):
        e = icalendar.Event()
        e.add("uid", uid)
        e.add("summary", summary)
        e.add("dtstart", start)
        if end is not None:
            e.add("dtend", end)
        for key, value in extra.items():
            e.add(key, value)
        cal.add_component(e)

    event("n1", "Night", datetime(2027, 3, 27, 20, tzinfo=LONDON), datetime(2027, 3, 28, 8, 30, tzinfo=LONDON))
    event("ld1", "Long Day", utc(2027, 4, 1, 7), utc(2027, 4, 1, 19, 30))
    event("d1", "Early", datetime(2027, 4, 2, 9), datetime(2027, 4, 2, 17))  # floating: their own zone
    event("n2", "Night", datetime(2027, 10, 30, 20, tzinfo=LONDON), datetime(2027, 10, 31, 8, 30, tzinfo=LONDON),
          rrule={"freq": "weekly", "count": 3}, exdate=datetime(2027, 11, 6, 20, tzinfo=LONDON))
    event("al", "Annual Leave", date(2027, 3, 1), date(2027, 3, 6))
    event("sl", "Study leave", date(2027, 5, 10))
    event("post", "Ward 3 - General Surgery", date(2027, 2, 1), date(2027, 2, 2))
    event("off", "OFF", datetime(2027, 4, 3, 9), datetime(2027, 4, 3, 17))
    event("gone", "Night", datetime(2027, 4, 10, 20), datetime(2027, 4, 11, 8, 30), status="CANCELLED")
    return cal.to_ical().decode()


def test_an_ics_rota_gives_shifts_by_their_hours_leave_and_expanded_repeats():
    imported = read_calendar("rota.ics", calendar_file(), LONDON, TODAY)
    shifts = [(s.kind, s.start, s.end) for s in imported.shifts]
    assert shifts == [
        ("nights", utc(2027, 3, 27, 20), utc(2027, 3, 28, 7, 30)),
        ("long_days", utc(2027, 4, 1, 7), utc(2027, 4, 1, 19, 30)),
        ("days", utc(2027, 4, 2, 8), utc(2027, 4, 2, 16)),
        ("nights", utc(2027, 10, 30, 19), utc(2027, 10, 31, 8, 30)),
        ("nights", utc(2027, 11, 13, 20), utc(2027, 11, 14, 8, 30)),  # 6 Nov is an exception
    ]
    assert [(v.first, v.last, v.kind) for v in imported.leave] == [
        (date(2027, 3, 1), date(2027, 3, 5), "leave"), (date(2027, 5, 10), date(2027, 5, 10), "study leave")]
    assert imported.left_out == 3  # the post's all-day note, the day off, the cancelled night
    plan = RotaPlan().with_file(imported.shifts, imported.leave, "rota.ics", TODAY)
    asha = Participant(rota_plan=plan.to_dict(), person=Person(timezone="Europe/London"))
    reasons = [b.reason for b in busy_spans(asha, utc(2027, 3, 27), utc(2027, 4, 3))]
    assert reasons == ["is on nights", "is resting after nights", "is on a long day", "is on a day shift"]


@pytest.mark.parametrize("text, problem", [
    ("email,role\nasha@trust.example,clinician\n", "people.ics is not a calendar file I can read"),
    ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n", "people.ics has no events in it"),
])
def test_a_file_that_is_no_rota_is_refused_by_name(text, problem):
    with pytest.raises(RotaFileError) as refused:
        read_calendar("people.ics", text, LONDON, TODAY)
    assert problem in str(refused.value) and "with the message 'rota'" in str(refused.value)


# --- asked in enrolment ------------------------------------------------------------------------------
@pytest.fixture
def h(sqlite_url):
    return make_harness(sqlite_url)


def stored(h, user: str) -> Participant:
    with h.db.session() as s:
        participant = s.scalars(select(Participant).join(Person).where(Person.user_id == user)).one()
        s.expunge(participant)
        return participant


def test_enrolment_asks_about_shifts_after_the_free_times_then_the_pattern_then_leave(h):
    h.run_step("enrol")
    asked = h.say("asha", "Mon 12:00-14:00")[0]
    assert "Mon 12:00-14:00" in asked.text and "Do you work shifts?" in asked.text
    assert [c.label for c in asked.choices] == ["No, regular days", "Nights sometimes", "Long days", "Weekends",
                                                "I'll send my rota file"]
    which = h.click("asha", "Nights sometimes", asked)[0]
    assert "Which nights? Reply like 'nights 1 in 4 from 11 Jan'" in which.text
    wrong = h.say("asha", "nights 1 in 0")[0]
    assert "'nights 1 in 0': the repeat must be 1 in 2 to 1 in 12" in wrong.text and wrong.intent == "reask"
    leave = h.say("asha", "nights 1 in 4 from 11 Jan")[0]
    assert "Got it: nights Mon-Thu 20:00-08:30 every 4th week from Mon 11 Jan 2027" in leave.text
    assert "Reply like 'leave 1-5 Mar, rotate 7 Apr', or 'none'" in leave.text
    done = h.say("asha", "leave 1-5 Mar, rotate 7 Apr")[0]
    assert "leave 1-5 Mar 2027; rotates Wed 7 Apr 2027" in done.text and "46 hours after a run of nights" in done.text
    asha = stored(h, "asha")
    assert rotates_on(asha) == date(2027, 4, 7)
    assert busy_spans(asha, utc(2027, 1, 11), utc(2027, 1, 12))[0].reason == "is on nights"
    assert asha.rota.startswith("nights Mon-Thu")  # the old free-text column says it in words
    with h.db.session() as s:
        assert not s.scalars(select(Prompt).where(Prompt.flow == "rota", Prompt.status == "open")).all()
    # Giving the free times again later does not ask again.
    assert h.say("asha", "availability Tue 12:00-13:00")[0].choices == ()


def test_regular_days_then_none_and_a_typed_answer_to_the_shift_question(h):
    h.run_step("enrol")
    asked = h.say("ben", "Mon 12:00-15:00")[0]
    leave = h.click("ben", "No, regular days", asked)[0]
    assert "regular days" in leave.text and "Any leave booked" in leave.text
    assert "Your rota: regular days" in h.say("ben", "none")[0].text
    assert busy_spans(stored(h, "ben"), utc(2027, 1, 1), utc(2027, 6, 1)) == []
    h.say("asha", "Mon 12:30-14:00")
    typed = h.say("asha", "weekends 1 in 3 from 16 Jan")[0]  # typed instead of a button
    assert "weekends Sat-Sun 08:00-20:30 every 3rd week from Sat 16 Jan 2027" in typed.text
    assert "Any leave booked" in typed.text


def test_a_bare_no_is_not_taken_and_an_ignored_question_is_put_aside_after_a_week(h):
    h.run_step("enrol")
    asked = h.say("asha", "Mon 12:30-14:00")[0]
    assert "Tap 'No, regular days'" in h.say("asha", "no")[0].text
    assert stored(h, "asha").rota_plan is None
    h.clock.advance(days=8)
    h.core.sweep_quiet_pairs(h.cohort_id)
    assert "not waiting for an answer" in h.say("asha", "none")[0].text  # not taken for the old question
    assert "Which long days?" in h.click("asha", "Long days", asked)[0].text  # the button still works


def test_the_file_button_says_how_to_send_it(h):
    h.run_step("enrol")
    asked = h.say("asha", "Mon 12:30-14:00")[0]
    reply = h.click("asha", "I'll send my rota file", asked)[0]
    assert "with the message 'rota'" in reply.text and ".ics" in reply.text and "Any leave booked" in reply.text


def test_a_typed_follow_up_holds_the_next_chat_question_until_answered(sqlite_url):
    chat = make_harness(sqlite_url, capabilities=frozenset())
    chat.run_step("enrol")
    asked = chat.say("asha", "Mon 12:30-14:00")[0]
    chat.click("asha", "Nights sometimes", asked)
    chat.clock.advance(hours=1)
    chat.core.run_step(chat.cohort_id, "pre-survey")  # run early: the follow-up was asked an hour ago
    chat.deliver()
    surveys = lambda: [m for m in chat.inbox("asha") if m.intent == "survey_question"]  # noqa: E731
    assert surveys() == []  # the survey waits its turn
    assert "Any leave booked" in chat.say("asha", "nights 1 in 4 from 11 Jan")[0].text
    assert surveys() == []  # and waits for the leave question too
    chat.say("asha", "none")
    assert chat.last("asha").intent == "survey_question"
    chat.say("asha", "4")
    with chat.db.session() as s:
        assert [r.value for r in s.scalars(select(SurveyResponse))] == [4]


# --- 'rota' at any time ------------------------------------------------------------------------------
def rota_command(h, user: str, text: str, *files: Upload) -> str:
    replies = h.core.handle(Command(h.users[user], text, uploads=files))
    h.deliver()
    return replies[0].text


def test_the_rota_command_shows_changes_and_clears(h):
    h.clock.set(utc(2027, 1, 4, 9))
    assert "I have no rota for you yet" in rota_command(h, "asha", "rota")
    wrong = rota_command(h, "asha", "rota nights 1 in 0")
    assert "'nights 1 in 0': the repeat must be 1 in 2 to 1 in 12" in wrong
    changed = rota_command(h, "asha", "rota nights 1 in 4 from 11 Jan, leave 1-5 Mar, rotate 7 Apr")
    assert "Your rota is now: nights Mon-Thu 20:00-08:30 every 4th week from Mon 11 Jan 2027; leave 1-5 Mar 2027; " \
           "rotates Wed 7 Apr 2027." in changed
    again = rota_command(h, "asha", "rota nights Fri-Sun 1 in 4 from 15 Jan")  # replaces the nights
    assert "nights Fri-Sun 20:00-08:30 every 4th week from Fri 15 Jan 2027; leave" in again
    assert "Your rota: nights Fri-Sun" in rota_command(h, "asha", "rota")
    assert "Your rota: nights Fri-Sun" in h.say("asha", "rota")[0].text  # typed as chat on a console
    assert "cleared your rota" in rota_command(h, "asha", "rota clear")
    assert busy_spans(stored(h, "asha"), utc(2027, 1, 1), utc(2027, 6, 1)) == []
    stranger = h.core.handle(Command(Address("fake", "T1", "nobody"), "rota"))[0]
    assert "enrol you" in stranger.text


def test_an_ics_attached_to_rota_is_imported_and_a_new_one_replaces_it(h):
    h.clock.set(utc(2027, 1, 4, 9))
    rota_command(h, "asha", "rota leave 10-12 Feb")
    reply = rota_command(h, "asha", "rota", Upload("rota.ics", calendar_file()))
    assert "I read 5 shifts (27 Mar to 14 Nov 2027) and 2 spells of leave from rota.ics." in reply
    assert "3 other entries" in reply
    asha = stored(h, "asha")
    assert busy_spans(asha, utc(2027, 3, 27, 21), utc(2027, 3, 27, 22))[0].reason == "is on nights"
    assert busy_spans(asha, utc(2027, 2, 11), utc(2027, 2, 12))[0].reason == "is on leave"  # typed leave stays
    single = icalendar.Calendar()
    single.add("prodid", "-//x//EN")
    single.add("version", "2.0")
    night = icalendar.Event()
    night.add("uid", "x")
    night.add("summary", "N")
    night.add("dtstart", datetime(2027, 2, 1, 20, tzinfo=LONDON))
    night.add("dtend", datetime(2027, 2, 2, 8, tzinfo=LONDON))
    single.add_component(night)
    assert "I read 1 shift " in rota_command(h, "asha", "rota", Upload("new.ics", single.to_ical().decode()))
    asha = stored(h, "asha")
    assert busy_spans(asha, utc(2027, 3, 27, 21), utc(2027, 3, 27, 22)) == []
    assert [v.first for v in rota.plan_of(asha).leave] == [date(2027, 2, 10)]
    refused = rota_command(h, "asha", "rota", Upload("people.csv", "email,role\n"))
    assert "people.csv is not a calendar file I can read" in refused
    assert len(rota.plan_of(stored(h, "asha")).shifts) == 1  # nothing lost


def test_rota_in_a_group_conversation_is_answered_in_private(h):
    h.clock.set(utc(2027, 1, 4, 9))
    replies = h.core.handle(Command(h.users["asha"], "rota leave 1-5 Mar", in_group=True))
    h.deliver()
    assert "private chat" in replies[0].text
    assert "leave 1-5 Mar 2027" in h.last("asha").text


def test_status_my_data_and_forget_me_cover_the_rota(h):
    h.clock.set(utc(2027, 1, 4, 9))
    rota_command(h, "asha", "rota nights 1 in 4 from 11 Jan, rotate 7 Apr")
    status = rota_command(h, "rita", "status #1")
    assert "rota: nights 1 in 4, rotates 7 Apr 2027" in status
    copy = h.core.handle(Command(h.users["asha"], "my-data"))[0]
    programme = json.loads(copy.document.content)["programmes"][0]
    assert programme["rota_plan"]["rotates"] == "2027-04-07" and programme["rota"].startswith("nights")
    rota_command(h, "asha", "forget-me confirm")
    with h.db.session() as s:
        erased = s.scalars(select(Participant).where(Participant.status == "erased")).one()
        assert erased.rota_plan is None and erased.rota == ""


# --- through the platforms ---------------------------------------------------------------------------
def test_an_ics_sent_with_rota_in_slack_is_imported(tmp_path):
    from bot import enrolment
    from slack_harness import TEAM, start_bot, stop_bot
    from test_slack_files import send_file

    @scenario_runner(start_bot, stop_bot)
    async def scenario(bot):
        cohort_id = bot.make_cohort()
        with bot.db.session() as s:
            from bot.models import Cohort, Organisation
            org = s.scalars(select(Organisation)).one()
            enrolment.enrol(s, s.get(Cohort, cohort_id), org, enrolment.Enrolee(
                address=Address("slack", TEAM, "U0ASHA"), name="Dr Asha Patel", role="clinician"), bot.clock.now())
        await send_file(bot, "U0ASHA", "rota", "rota.ics", calendar_file().encode(), "Ev-r1")
        await bot.until(lambda: any("I read 5 shifts" in m["text"] for m in bot.inbox("U0ASHA")))
        await send_file(bot, "U0ASHA", "", "rota.ics", calendar_file().encode(), "Ev-r2")
        await bot.until(lambda: any("use it as your rota, send it again with the message 'rota'" in m["text"]
                                    for m in bot.inbox("U0ASHA")))

    scenario(tmp_path)


def test_an_ics_sent_with_rota_in_teams_is_imported(tmp_path):
    from teams_harness import personal, start_bot, stop_bot

    @scenario_runner(start_bot, stop_bot)
    async def scenario(bot):
        bot.enrol_pair()
        await bot.install("29:asha")
        shared = bot.connector.share_file("rota.ics", calendar_file().encode(), "ics")
        activity = bot._activity("message", "29:asha", {"id": personal("29:asha"), "conversationType": "personal"},
                                 text="rota", attachments=[shared])
        assert await bot.post(activity) == 201
        assert "I read 5 shifts" in bot.last_card("29:asha")[1]["body"][0]["text"]

    scenario(tmp_path)


# --- coordinators ------------------------------------------------------------------------------------
def test_enrol_takes_a_rota_leave_and_rotation_date_and_refuses_bad_ones(database_url):
    org = Org(database_url)
    org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04")
    refused = org.command("rita", "enrol @asha clinician rota=\"nights 1 in 0\"")
    assert refused.intent == "error"
    assert "Not enrolled: rota 'nights 1 in 0': the repeat must be 1 in 2 to 1 in 12" in refused.text
    refused = org.command("rita", "enrol @asha clinician leave=2027-03-05..2027-03-01")
    assert "leave '2027-03-05..2027-03-01': the leave ends before it starts" in refused.text
    refused = org.command("rita", "enrol @asha clinician rotates=someday")
    assert "rotates 'someday': 'someday' is not a date" in refused.text
    done = org.ok("rita", "enrol @asha clinician rota=\"nights 1 in 4 from 2027-01-11\" "
                          "leave=\"2027-03-01..2027-03-05\" rotates=2027-04-07")
    assert "Rota: nights Mon-Thu 20:00-08:30 every 4th week from Mon 11 Jan 2027; leave 1-5 Mar 2027; " \
           "rotates Wed 7 Apr 2027." in done
    with org.db.session() as s:
        asha = s.scalars(select(Participant)).one()
        assert rotates_on(asha) == date(2027, 4, 7)
        reasons = {b.reason for b in busy_spans(asha, utc(2027, 1, 11), utc(2027, 3, 8))}
        assert reasons == {"is on nights", "is resting after nights", "is on leave"}


def test_the_csv_import_takes_rota_leave_and_rotates_columns(sqlite_url):
    org = Org(sqlite_url)
    org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04")
    rows = [
        {"email": "asha@trust.example", "role": "clinician", "rota": "nights 1 in 4 from 2027-01-11",
         "leave": "2027-03-01..2027-03-05", "rotates": "2027-04-07"},
        {"email": "ben@trust.example", "role": "manager", "rota": "regular days", "leave": "", "rotates": ""},
        {"email": "carl@trust.example", "role": "clinician", "rota": "nights 1 in 0", "leave": "", "rotates": ""},
        {"email": "dana@trust.example", "role": "manager", "rota": "", "leave": "1-5 Mar", "rotates": "2027-02-30"},
    ]
    preview = org.command("rita", "import", (Upload("people.csv", csv_text(rows)),))
    assert "4 people, 2 ready to enrol" in preview.text
    assert "row 4 (carl@trust.example): rota 'nights 1 in 0': the repeat must be 1 in 2 to 1 in 12" in preview.text
    assert "row 5 (dana@trust.example): rotates '2027-02-30': '2027-02-30' is not a date" in preview.text
    number = preview.text.split("import confirm ")[1].split("'")[0]
    org.ok("rita", f"import confirm {number}")
    with org.db.session() as s:
        asha, ben = s.scalars(select(Participant).order_by(Participant.id)).all()
        assert rotates_on(asha) == date(2027, 4, 7)
        assert busy_spans(asha, utc(2027, 3, 2), utc(2027, 3, 3))[0].reason == "is on leave"
        assert ben.rota == "regular days" and busy_spans(ben, utc(2027, 1, 1), utc(2027, 6, 1)) == []


def test_a_night_in_the_middle_of_a_run_owes_no_rest_and_the_day_between_nights_is_for_sleep():
    # Nights Mon-Thu in the week of 7 Apr 2025: Tuesday morning, between two nights, is no time for a
    # meeting but not rest after nights, whether the question covers the week or only 10:00-10:45.
    from bot.rota import RotaPlan
    from bot.rota_text import applied, parse_rota

    plan = applied(RotaPlan(), parse_rota("nights 1 in 4 from 10 Mar", date(2025, 3, 3)))
    london = ZoneInfo("Europe/London")
    tuesday = datetime(2025, 4, 8, 9, 0, tzinfo=timezone.utc)
    narrow = plan.busy(london, tuesday, tuesday + timedelta(minutes=45))
    assert [b.reason for b in narrow] == ["is on nights"]  # asleep between two nights, not resting after them
    wide = plan.busy(london, tuesday - timedelta(days=2), tuesday + timedelta(days=3))
    assert [b.reason for b in wide].count("is resting after nights") == 1
