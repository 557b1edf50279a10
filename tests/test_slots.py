"""Slots that fit: inside everyone's availability, outside their rota's busy spans, their quiet hours
and the organisation's bank holidays; and when nothing fits, why, with the nearest times that do.

The slot function is tested with Busy lists built here; the flow tests stand in for the rota (filled
in by the rota work, bot/rota.py) by monkeypatching `bot.rota.busy_spans`, the one mock allowed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import rota
from bot.events import Command
from bot.models import Meeting
from bot.rota import Busy
from bot.slots import MIN_NOTICE, SlotMember, candidate_slots, find_slots
from harness import make_harness

LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(minutes=45)
WEEKDAYS = range(5)


def windows(start: str, end: str, days=WEEKDAYS) -> list[dict]:
    return [{"day": d, "start": start, "end": end} for d in days]


def member(key: str, when: list[dict], busy=(), quiet_hours: str = "21:00-08:00", tz=LONDON) -> SlotMember:
    return SlotMember(key=key, name=key.title(), windows=when, tz=tz, quiet_hours=quiet_hours, busy=tuple(busy))


def local(moment: datetime) -> datetime:
    return moment.astimezone(LONDON).replace(tzinfo=None)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)


def nights(first: datetime, count: int, start: str = "19:00", end: str = "07:30") -> list[Busy]:
    """A run of nights from `first` (a date at midnight): each from `start` to `end` the next morning."""
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, end.split(":"))
    return [Busy((first + timedelta(days=i)).replace(hour=h1, minute=m1).astimezone(timezone.utc),
                 (first + timedelta(days=i + 1)).replace(hour=h2, minute=m2).astimezone(timezone.utc), "is on nights")
            for i in range(count)]


# --- the slot function ----------------------------------------------------------------------------
def test_no_slot_is_offered_on_a_bank_holiday_of_the_organisations_nation():
    both = [member("ben", windows("12:00", "14:00")), member("asha", windows("12:30", "14:00"))]
    earliest = at(2027, 3, 25, 9, 0)  # Thursday before Easter
    england = [local(s) for s in candidate_slots(both, earliest, HOUR, nation="England")]
    assert england == [datetime(2027, 3, 25, 12, 30), datetime(2027, 3, 30, 12, 30), datetime(2027, 3, 31, 12, 30)]
    # Scotland has no Easter Monday; without a nation the holidays are not looked at.
    scotland = [local(s) for s in candidate_slots(both, earliest, HOUR, nation="Scotland")]
    assert scotland == [datetime(2027, 3, 25, 12, 30), datetime(2027, 3, 29, 12, 30), datetime(2027, 3, 30, 12, 30)]
    assert datetime(2027, 3, 26, 12, 30) in [local(s) for s in candidate_slots(both, earliest, HOUR)]


def test_no_slot_falls_inside_a_busy_span_of_any_member():
    ben = member("ben", windows("07:00", "10:00"))
    # Asha works nights Mon-Wed 11-13 Jan 2027 and is resting until 13:00 after the last one.
    busy = nights(at(2027, 1, 11, 0, 0), 3, "20:00", "08:00") + [
        Busy(at(2027, 1, 14, 8, 0).astimezone(timezone.utc), at(2027, 1, 14, 13, 0).astimezone(timezone.utc),
             "is resting after nights")]
    asha = member("asha", windows("07:00", "10:00"), busy)
    slots = [local(s) for s in candidate_slots([ben, asha], at(2027, 1, 10, 12, 0), HOUR, count=5)]
    # Mornings after a night start when it ends; Thursday is taken by her rest.
    assert slots == [datetime(2027, 1, 11, 8, 0), datetime(2027, 1, 12, 8, 0), datetime(2027, 1, 13, 8, 0),
                     datetime(2027, 1, 15, 8, 0), datetime(2027, 1, 18, 8, 0)]
    for slot in candidate_slots([ben, asha], at(2027, 1, 10, 12, 0), HOUR, count=5):
        assert not any(b.start < slot + HOUR and slot < b.end for b in busy)


def test_slots_keep_to_each_persons_daytime_in_their_own_zone():
    # A night worker sleeps 08:00-16:00; the default quiet hours end at 08:00.
    sam = member("sam", windows("06:00", "18:00"), quiet_hours="08:00-16:00")
    lee = member("lee", windows("06:00", "18:00"))
    slots = candidate_slots([sam, lee], at(2027, 2, 1, 0, 0), HOUR)
    assert [local(s).time().isoformat() for s in slots] == ["16:00:00"] * 3
    # Someone in New York: their 08:00 is 13:00 in London.
    ny = member("ny", windows("06:00", "18:00"), tz=ZoneInfo("America/New_York"))
    slots = candidate_slots([lee, ny], at(2027, 2, 1, 0, 0), HOUR)
    assert [local(s).time().isoformat() for s in slots] == ["13:00:00"] * 3


def test_slots_give_enough_notice_and_go_on_different_days():
    both = [member("ben", windows("08:00", "18:00", range(7))), member("asha", windows("08:00", "18:00", range(7)))]
    now = at(2027, 2, 1, 9, 0)
    slots = candidate_slots(both, now + MIN_NOTICE, HOUR, nation="England")
    assert all(s >= now + MIN_NOTICE for s in slots)
    assert len({local(s).date() for s in slots}) == 3


def test_when_nothing_fits_the_search_says_who_is_busy_until_when_and_finds_the_nearest_times():
    ben = member("ben", windows("19:00", "20:30"))
    asha = member("asha", windows("19:00", "20:30"), nights(at(2026, 12, 28, 0, 0), 17))  # to Thu 14 Jan 07:30
    search = find_slots([ben, asha], at(2026, 12, 29, 21, 0), HOUR, nation="England")
    assert search.further
    assert [local(s) for s in search.slots] == [datetime(2027, 1, 14, 19, 0), datetime(2027, 1, 15, 19, 0),
                                                datetime(2027, 1, 18, 19, 0)]
    assert search.why() == "Asha is on nights until Thu 14 Jan; Fri 1 Jan is a bank holiday (New Year's Day)"
    assert search.why(reader="asha") == \
        "you are on nights until Thu 14 Jan; Fri 1 Jan is a bank holiday (New Year's Day)"


def test_a_bank_holiday_in_the_way_is_named_and_the_next_times_offered():
    both = [member("ben", windows("12:00", "13:00", [0])), member("asha", windows("12:00", "13:00", [0]))]
    search = find_slots(both, at(2027, 4, 30, 9, 0), HOUR, search_days=5, nation="England")
    assert search.why() == "Mon 3 May is a bank holiday (Early May bank holiday)"
    assert [local(s).date().isoformat() for s in search.slots] == ["2027-05-10", "2027-05-17", "2027-05-24"]


def test_leave_until_midnight_is_told_by_its_last_day_and_nothing_found_at_all_is_said():
    leave = Busy(at(2027, 1, 1, 0, 0).astimezone(timezone.utc), at(2027, 6, 1, 0, 0).astimezone(timezone.utc),
                 "is on leave")
    both = [member("ben", windows("12:00", "14:00")), member("asha", windows("12:00", "14:00"), [leave])]
    search = find_slots(both, at(2027, 1, 4, 9, 0), HOUR)
    assert search.slots == [] and not search.further
    assert search.why() == "Asha is on leave until Mon 31 May"


def test_times_that_never_overlap_give_no_reason_to_name():
    search = find_slots([member("ben", windows("08:00", "09:00")), member("asha", windows("12:00", "13:00"))],
                        at(2027, 1, 4, 9, 0), HOUR)
    assert search.slots == [] and search.obstacles == () and search.why() == ""


# --- through the meeting flow --------------------------------------------------------------------
EVENINGS = [{"day": d, "start": "19:00", "end": "20:30"} for d in WEEKDAYS]


def _rota(monkeypatch, spans_by_user: dict[str, list[Busy]]) -> None:
    """Stand-in for the rota work: bot/rota.py's busy spans, by user id."""
    def busy_spans(participant, start, end):
        return [b for b in spans_by_user.get(participant.person.user_id, []) if b.start < end and start < b.end]
    monkeypatch.setattr(rota, "busy_spans", busy_spans)


def _slot_labels(message) -> list[str]:
    return [c.label for c in message.choices if c.action == "meeting:slot"]


def test_the_offer_leaves_out_good_friday_and_easter_monday(sqlite_url):
    h = make_harness(sqlite_url, start_at=datetime(2027, 3, 24, 9, 0, tzinfo=timezone.utc))
    h.run_step("buddy-meeting-3")  # due 1 March: run late, on the Wednesday before Easter
    # Ben and Asha share Mon 12:30-14:00, Wed 17:00-18:00 and Fri 12:00-13:30.
    assert _slot_labels(h.last("ben")) == ["Wed 31 Mar, 17:00", "Fri 2 Apr, 12:00", "Mon 5 Apr, 12:30"]


def test_the_offer_follows_the_nation_the_coordinator_set(sqlite_url):
    h = make_harness(sqlite_url, start_at=datetime(2027, 3, 24, 9, 0, tzinfo=timezone.utc))
    reply = h.core.handle(Command(h.users["rita"], "bank-holidays Scotland"))
    assert "now follows Scotland's bank holidays" in reply[0].text
    h.run_step("buddy-meeting-3")
    assert _slot_labels(h.last("ben")) == ["Mon 29 Mar, 12:30", "Wed 31 Mar, 17:00", "Fri 2 Apr, 12:00"]


def test_nothing_fitting_tells_the_proposer_why_and_offers_the_nearest_times(sqlite_url, monkeypatch):
    people = {"ben": ("Ben Okafor", "manager", EVENINGS), "asha": ("Dr Asha Patel", "clinician", EVENINGS)}
    # Asha works nights from Sun 10 Jan to the morning of Thu 28 Jan 2027.
    _rota(monkeypatch, {"asha": nights(at(2027, 1, 10, 0, 0), 18)})
    h = make_harness(sqlite_url, people=people)
    h.run_step("buddy-meeting-1")  # Mon 11 Jan 09:30: the search covers the two weeks to 25 Jan
    offer = h.last("ben")
    assert "Nothing fits in the next 2 weeks: Asha is on nights until Thu 28 Jan. These are the nearest " \
           "times that do." in offer.text
    assert _slot_labels(offer) == ["Thu 28 Jan, 19:00", "Fri 29 Jan, 19:00", "Mon 1 Feb, 19:00"]
    with h.db.session() as s:
        meeting = s.scalars(select(Meeting)).one()
        assert meeting.status == "proposed" and len(meeting.slots) == 3
    # Ben books the first; Asha hears of it as usual.
    h.click("ben", "Thu 28 Jan, 19:00")
    assert "Ben Okafor booked your buddy meeting for Thu 28 Jan, 19:00" in h.last("asha").text


def test_the_busy_member_reads_you_in_the_reason(sqlite_url, monkeypatch):
    people = {"ben": ("Ben Okafor", "manager", EVENINGS), "asha": ("Dr Asha Patel", "clinician", EVENINGS)}
    _rota(monkeypatch, {"ben": nights(at(2027, 1, 10, 0, 0), 18)})
    h = make_harness(sqlite_url, people=people)
    h.run_step("buddy-meeting-1")
    assert "Nothing fits in the next 2 weeks: you are on nights until Thu 28 Jan." in h.last("ben").text


def test_nothing_fitting_at_all_names_the_reason_and_leaves_it_to_the_pair(sqlite_url, monkeypatch):
    people = {"ben": ("Ben Okafor", "manager", EVENINGS), "asha": ("Dr Asha Patel", "clinician", EVENINGS)}
    leave = Busy(at(2027, 1, 1, 0, 0).astimezone(timezone.utc), at(2027, 6, 1, 0, 0).astimezone(timezone.utc),
                 "is on leave")
    _rota(monkeypatch, {"asha": [leave]})
    h = make_harness(sqlite_url, people=people)
    h.run_step("buddy-meeting-1")
    text = h.last("ben").text
    assert "I couldn't find a time that fits: Asha is on leave until Mon 31 May, and nothing later in the next " \
           "10 weeks fits either. Please arrange one directly" in text
    with h.db.session() as s:
        assert s.scalars(select(Meeting)).one().status == "unscheduled"


def test_shadowing_slots_keep_clear_of_the_rota_too(sqlite_url, monkeypatch):
    people = {"ben": ("Ben Okafor", "manager", EVENINGS), "asha": ("Dr Asha Patel", "clinician", EVENINGS)}
    _rota(monkeypatch, {"asha": nights(at(2027, 2, 3, 0, 0), 23)})  # Wed 3 Feb to Fri 26 Feb 07:30
    h = make_harness(sqlite_url, people=people)
    h.run_step("manager-shadows-clinician")  # Wed 3 Feb 12:30: Asha hosts
    offer = h.last("asha")
    assert "Nothing fits in the next 2 weeks: you are on nights until Fri 26 Feb." in offer.text
    assert _slot_labels(offer)[0] == "Fri 26 Feb, 19:00"


def test_several_runs_of_one_kind_are_told_once_by_the_last_of_them():
    # Nights Mon 4-Thu 7 Jan and Tue 12-Fri 15 Jan 2027, long days on the weekdays between.
    spans = nights(at(2027, 1, 4, 0, 0), 4) + nights(at(2027, 1, 12, 0, 0), 4) + [
        Busy(at(2027, 1, d, 7, 0).astimezone(timezone.utc), at(2027, 1, d, 21, 0).astimezone(timezone.utc),
             "is on a long day") for d in (8, 11, 18)]
    asha = member("asha", windows("19:00", "20:30"), spans)
    search = find_slots([member("ben", windows("19:00", "20:30")), asha], at(2027, 1, 4, 9, 0), HOUR)
    assert search.why() == "Asha is on nights until Sat 16 Jan; Asha is on a long day until Mon 18 Jan"
    assert [local(s) for s in search.slots] == [datetime(2027, 1, 19, 19, 0), datetime(2027, 1, 20, 19, 0),
                                                datetime(2027, 1, 21, 19, 0)]


def test_slots_keep_each_persons_local_time_across_the_march_and_october_clock_changes():
    # Mondays 12:00-13:00 in London, and a colleague in New York free 07:00-08:00 there: the UK
    # and the US change their clocks on different Sundays, so the shared hour moves in UTC.
    asha = member("asha", windows("12:00", "13:00", days=[0]))
    for earliest, expected in (
            (at(2027, 3, 15, 9), [(2027, 3, 15, 12), (2027, 3, 22, 12), (2027, 3, 29, 11)]),    # 28 Mar: BST
            (at(2027, 10, 18, 9), [(2027, 10, 18, 11), (2027, 10, 25, 11), (2027, 11, 1, 12)])):  # 31 Oct: GMT
        found = find_slots([asha], earliest, HOUR, search_days=20).slots
        assert [(s.year, s.month, s.day, s.hour) for s in found] == expected  # UTC
        assert {local(s).hour for s in found} == {12}  # always noon for Asha
    ny = ZoneInfo("America/New_York")
    ben = member("ben", [{"day": 0, "start": "07:00", "end": "08:00"}], quiet_hours="22:00-06:00", tz=ny)
    # Mon 22 Mar 2027: New York is on summer time (from 14 Mar), London not yet: 07:00 there is
    # 11:00 UTC, outside Asha's noon; from 29 Mar both are on summer time and 07:00 there is 12:00 here.
    shared = find_slots([asha, ben], at(2027, 3, 15, 9), HOUR, search_days=20).slots
    assert [(s.month, s.day) for s in shared] == [(3, 29)]
    assert local(shared[0]).hour == 12 and shared[0].astimezone(ny).hour == 7
