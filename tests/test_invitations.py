"""Calendar invitations: every booked buddy meeting, shadowing visit and workshop comes with an .ics
(RFC 5545) that people add with one tap; a change sends a new version (same UID, higher SEQUENCE)
and a reschedule or cancellation a METHOD:CANCEL. Every file is parsed back with icalendar, through
the core and through the real Slack and Teams adapters."""

from __future__ import annotations

import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar
from sqlalchemy import select, update

from bot import privacy
from bot.events import Command
from bot.messages import Invitation, Message
from bot.models import CalendarInvitation, Meeting, Person
from harness import make_harness
from loopback_bot import scenario_runner

EMAILS = {"ben": "ben@trust.example", "asha": "asha@trust.example", "rita": "rita@trust.example"}


@pytest.fixture
def h(database_url):
    harness = make_harness(database_url)
    with harness.db.session() as s:
        for user, email in EMAILS.items():
            s.execute(update(Person).where(Person.user_id == user).values(email=email))
    return harness


def parse(content: str | bytes):
    """The one VEVENT of an .ics, and its calendar's METHOD."""
    calendar = Calendar.from_ical(content)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return str(calendar["METHOD"]), events[0]


def attendees(event) -> dict[str, str]:
    found = event.get("attendee")
    found = found if isinstance(found, list) else [found] if found else []
    return {str(a).removeprefix("mailto:"): str(a.params["CN"]) for a in found}


def invitations_to(h, user: str) -> list[tuple[Message, str, object]]:
    """(message, METHOD, VEVENT) of every message with a calendar file that `user` received."""
    found = []
    for message in h.inbox(user):
        if message.invitation is not None:
            ics = h.core.calendar(message.invitation)
            assert ics is not None and ics.name.endswith(".ics")
            found.append((message, *parse(ics.content)))
    return found


def book_first_slot(h, user: str = "ben", offer: Message | None = None) -> datetime:
    offer = offer or next(m for m in reversed(h.inbox(user)) if any(c.action == "meeting:slot" for c in m.choices))
    slot = next(c for c in offer.choices if c.action == "meeting:slot")
    h.click(user, slot.label, offer)
    with h.db.session() as s:
        return s.scalars(select(Meeting.agreed_at).where(Meeting.kind == "buddy", Meeting.status == "agreed")).one()


def test_a_booking_brings_both_members_an_invitation_naming_them(h):
    h.run_step("buddy-meeting-1")
    slot = book_first_slot(h)
    # The buddy's booking notice carries it; the booker gets it on its own.
    [(notice, method, event)] = invitations_to(h, "asha")
    assert "booked your buddy meeting" in notice.text and "Add it to your calendar" in notice.text
    [(own, ben_method, ben_event)] = invitations_to(h, "ben")
    assert own.intent == "calendar_invitation" and "calendar invitation for your buddy meeting" in own.text
    assert method == ben_method == "REQUEST"
    assert event["UID"] == ben_event["UID"] and str(event["UID"]).startswith("meeting-")
    assert event["SEQUENCE"] == 0 and event["STATUS"] == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Buddy meeting: Ben and Asha"
    assert event.decoded("DTSTART") == slot and event.decoded("DTEND") == slot + timedelta(minutes=45)
    assert attendees(event) == {"ben@trust.example": "Ben Okafor", "asha@trust.example": "Dr Asha Patel"}
    assert str(event["ORGANIZER"]) == "mailto:ben@trust.example"  # who proposed the times
    # The outbox holds only the invitation's ids, never the file (nor anyone's email).
    assert Message.from_dict(notice.to_dict()).invitation == notice.invitation
    assert "asha@trust.example" not in str(notice.to_dict())


def test_we_rescheduled_cancels_the_old_time_and_the_new_booking_raises_the_sequence(h):
    h.run_step("buddy-meeting-1")
    first = book_first_slot(h)
    with h.db.session() as s:
        meeting_id = s.scalars(select(Meeting.id).where(Meeting.kind == "buddy")).one()
    h.clock.set(first + timedelta(minutes=45))
    h.core.run_wakeup("meeting_check", meeting_id)
    h.deliver()
    [new_times] = h.click("ben", "We rescheduled")
    # Both calendars lose the old time: same UID, higher SEQUENCE, METHOD:CANCEL.
    for user in ("ben", "asha"):
        booked, cancelled = invitations_to(h, user)
        assert cancelled[1] == "CANCEL" and cancelled[2]["STATUS"] == "CANCELLED"
        assert cancelled[2]["UID"] == booked[2]["UID"] and cancelled[2]["SEQUENCE"] == 1
        assert cancelled[2].decoded("DTSTART") == first
        assert "being rescheduled" in cancelled[0].text
    second = book_first_slot(h, offer=new_times)
    assert second != first
    for user in ("ben", "asha"):
        *_, (_, method, event) = invitations_to(h, user)
        assert method == "REQUEST" and event["SEQUENCE"] == 2 and event.decoded("DTSTART") == second
        assert event["UID"] == invitations_to(h, user)[0][2]["UID"]


def test_a_workshop_invitation_follows_yes_moves_with_the_workshop_and_is_cancelled_by_no(h):
    h.run_step("launch-workshop")
    h.click("asha", "Yes, I'll be there")
    [(message, method, event)] = invitations_to(h, "asha")
    assert method == "REQUEST" and event["SEQUENCE"] == 0
    assert str(event["SUMMARY"]) == "Launch workshop (Spring 2027)"
    assert str(event["LOCATION"]) == "Education Centre, Seminar Room 2"
    assert attendees(event) == {"asha@trust.example": "Dr Asha Patel"}  # only hers: nobody else's email
    assert str(event["ORGANIZER"]) == "mailto:rita@trust.example"  # the coordinator
    h.click("asha", "Yes, I'll be there")  # a second yes adds no second copy
    assert len(invitations_to(h, "asha")) == 1
    assert invitations_to(h, "ben") == []  # Ben has not said he is coming

    reply = h.core.handle(Command(h.users["rita"], "workshop set launch-workshop 2027-01-12 14:00"))[0]
    h.deliver()
    assert "I've told the 2 people invited" in reply.text
    moved, method, event = invitations_to(h, "asha")[-1]
    assert moved.text.startswith("Launch workshop has moved") and moved.choices
    assert method == "REQUEST" and event["SEQUENCE"] == 1 and event["UID"] == invitations_to(h, "asha")[0][2]["UID"]
    assert event.decoded("DTSTART") == datetime(2027, 1, 12, 14, 0, tzinfo=timezone.utc)
    assert invitations_to(h, "ben") == []

    h.click("asha", "Can't make it")
    cancelled, method, event = invitations_to(h, "asha")[-1]
    assert method == "CANCEL" and event["SEQUENCE"] == 2 and event["STATUS"] == "CANCELLED"
    assert event.decoded("DTSTART") == datetime(2027, 1, 12, 14, 0, tzinfo=timezone.utc)


def test_removing_a_member_cancels_the_pairs_booked_meeting_in_both_calendars(h):
    h.run_step("buddy-meeting-1")
    book_first_slot(h)
    reply = h.core.handle(Command(h.users["rita"], "remove asha@trust.example"))[0]
    h.deliver()
    assert "Removed Dr Asha Patel" in reply.text
    for user, why in (("asha", "You have left Spring 2027."), ("ben", "Dr Asha Patel has left the programme.")):
        message, method, event = invitations_to(h, user)[-1]
        assert method == "CANCEL" and event["SEQUENCE"] == 1 and why in message.text
    with h.db.session() as s:
        assert s.scalars(select(Meeting.status).where(Meeting.kind == "buddy")).one() == "lapsed"


def test_a_shadowing_visit_says_whose_work_it_is(h):
    h.run_step("manager-shadows-clinician")
    offer = next(m for m in reversed(h.inbox("asha")) if any(c.action == "meeting:slot" for c in m.choices))
    h.click("asha", next(c for c in offer.choices if c.action == "meeting:slot").label, offer)
    [(_, method, event)] = invitations_to(h, "ben")
    assert method == "REQUEST" and str(event["SUMMARY"]) == "Shadowing: Ben Okafor shadows Dr Asha Patel"
    assert str(event["LOCATION"]).startswith("Dr Asha Patel's work")


def test_a_person_without_an_email_is_left_out_of_the_attendees(h):
    with h.db.session() as s:
        s.execute(update(Person).where(Person.user_id == "asha").values(email=None))
    h.run_step("buddy-meeting-1")
    book_first_slot(h)
    [(_, _, event)] = invitations_to(h, "asha")
    assert attendees(event) == {"ben@trust.example": "Ben Okafor"}


def test_erasing_a_person_takes_their_calendar_copies(h):
    h.run_step("buddy-meeting-1")
    book_first_slot(h)
    [(notice, _, _)] = invitations_to(h, "asha")
    [(own, _, _)] = invitations_to(h, "ben")
    h.core.handle(Command(h.users["asha"], "forget-me confirm"))
    assert h.core.calendar(notice.invitation) is None
    with h.db.session() as s:
        assert s.scalars(select(CalendarInvitation.participant_id)).all() == [own.invitation.participant_id]
    # Ben's copy no longer names her.
    _, event = parse(h.core.calendar(own.invitation).content)
    assert attendees(event) == {"ben@trust.example": "Ben Okafor"}


# --- through the real adapters --------------------------------------------------------------------
def test_in_slack_the_invitation_is_an_ics_file_in_each_members_dm(tmp_path):
    from slack_harness import start_bot, stop_bot
    from test_slack import enrol_pair

    @scenario_runner(start_bot, stop_bot)
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        bot.run_step(cohort, "buddy-meeting-1")
        await bot.settle()
        offer = bot.last("U0BEN")
        buttons = [e["text"]["text"] for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"]]
        await bot.click("U0BEN", offer, buttons[0])
        await bot.settle()
        files = {}
        for user in ("U0ASHA", "U0BEN"):
            dm = bot.channel_of(user)
            [file] = [f for f in bot.fake.files.values() if f["channels"] == [dm]]
            assert file["name"].startswith("buddy-meeting-") and file["name"].endswith(".ics")
            files[user] = file
        # Asha's booking notice is the file's comment: one message, the file with it.
        assert "Ben Okafor booked your buddy meeting" in files["U0ASHA"]["comment"]
        method, event = parse(files["U0ASHA"]["content"])
        _, bens = parse(files["U0BEN"]["content"])
        assert method == "REQUEST" and event["UID"] == bens["UID"] and event["SEQUENCE"] == 0
        assert attendees(event) == {"asha@trust.example": "Dr Asha Patel", "ben@trust.example": "Ben Okafor"}
        assert bot.fake.calls_to("files.completeUploadExternal")

    scenario(tmp_path)


def test_in_slack_a_moved_workshop_posts_the_rsvp_buttons_then_the_updated_ics(tmp_path):
    from slack_harness import start_bot, stop_bot
    from test_slack import enrol_pair

    @scenario_runner(start_bot, stop_bot)
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        bot.run_step(cohort, "launch-workshop")
        await bot.settle()
        await bot.click("U0ASHA", bot.last("U0ASHA"), "Yes, I'll be there")
        await bot.settle()
        dm = bot.channel_of("U0ASHA")
        [first] = [f for f in bot.fake.files.values() if f["channels"] == [dm]]
        assert "calendar invitation for Launch workshop" in first["comment"]
        assert parse(first["content"])[1]["SEQUENCE"] == 0
        await bot.command("U0RITA", "workshop set launch-workshop 2027-01-12 14:00")
        await bot.settle()
        moved, upload = bot.messages_in(dm)[-2:]
        # Buttons cannot ride on a file's comment: the question goes first, the file right after.
        assert moved["text"].startswith("Launch workshop has moved") and any(
            b["type"] == "actions" for b in moved["blocks"])
        assert upload["text"] == "" and upload["files"][0]["name"].endswith(".ics")
        method, event = parse(bot.fake.files[upload["files"][0]["id"]]["content"])
        assert method == "REQUEST" and event["SEQUENCE"] == 1
        assert event.decoded("DTSTART") == datetime(2027, 1, 12, 14, 0, tzinfo=timezone.utc)
        assert event["UID"] == parse(first["content"])[1]["UID"]

    scenario(tmp_path)


def test_in_teams_the_card_links_to_the_ics_and_a_teams_meeting_and_forged_links_get_404(tmp_path):
    import aiohttp

    from teams_harness import start_bot, stop_bot

    @scenario_runner(start_bot, stop_bot)
    async def scenario(bot):
        cohort = bot.enrol_pair()
        for user in ("29:rita", "29:asha", "29:ben"):
            await bot.install(user)
        bot.run_step(cohort, "buddy-meeting-1")
        await bot.settle()
        offer_id, offer = bot.last_card("29:ben")
        first = next(a for a in offer["actions"] if a["type"] == "Action.Submit")
        await bot.submit("29:ben", offer_id, first["data"])
        await bot.settle()
        _, card = bot.last_card("29:asha")
        assert "booked your buddy meeting" in card["body"][0]["text"]
        links = {a["title"]: a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl"}
        # "Open in Teams": a new Teams meeting with the subject, times and attendees filled in.
        deep = urllib.parse.urlsplit(links["Open in Teams"])
        assert f"{deep.scheme}://{deep.netloc}{deep.path}" == "https://teams.microsoft.com/l/meeting/new"
        query = urllib.parse.parse_qs(deep.query)
        assert query["subject"] == ["Buddy meeting: Ben and Asha"]
        assert set(query["attendees"][0].split(",")) == {"ben@trust.example", "asha@trust.example"}
        start = datetime.fromisoformat(query["startTime"][0])
        assert datetime.fromisoformat(query["endTime"][0]) - start == timedelta(minutes=45)
        # "Add to calendar": this server gives the .ics.
        async with aiohttp.ClientSession() as http:
            async with http.get(links["Add to calendar"]) as response:
                assert response.status == 200 and response.content_type == "text/calendar"
                assert ".ics" in response.headers["Content-Disposition"]
                method, event = parse(await response.read())
            assert method == "REQUEST" and event.decoded("DTSTART") == start
            assert attendees(event) == {"ben@trust.example": "Ben Okafor", "asha@trust.example": "Dr Asha Patel"}
            # A token changed to reach someone else's copy, or made up, is refused.
            token = links["Add to calendar"].rsplit("/", 1)[1].removesuffix(".ics")
            meeting, person, sequence, mac = token.split("-", 3)
            for forged in (f"{meeting}-{int(person) + 1}-{sequence}-{mac}", f"{meeting}-{person}-{sequence}-{'A' * 24}",
                           "nonsense"):
                async with http.get(f"{bot.url.removesuffix('/api/messages')}/calendar/{forged}.ics") as response:
                    assert response.status == 404
                    assert "not valid" in await response.text()
        # Ben's own invitation came as a card of its own with the same links.
        _, own = bot.last_card("29:ben")
        assert "calendar invitation" in own["body"][0]["text"]
        assert {a["title"] for a in own["actions"]} == {"Add to calendar", "Open in Teams"}

    scenario(tmp_path)


def test_an_old_teams_link_gives_the_copy_as_it_is_now(tmp_path):
    import aiohttp

    from teams_harness import start_bot, stop_bot

    @scenario_runner(start_bot, stop_bot)
    async def scenario(bot):
        cohort = bot.enrol_pair()
        for user in ("29:rita", "29:asha", "29:ben"):
            await bot.install(user)
        bot.run_step(cohort, "buddy-meeting-1")
        await bot.settle()
        offer_id, offer = bot.last_card("29:ben")
        await bot.submit("29:ben", offer_id, next(a for a in offer["actions"] if a["type"] == "Action.Submit")["data"])
        await bot.settle()
        _, card = bot.last_card("29:asha")
        link = next(a["url"] for a in card["actions"] if a.get("title") == "Add to calendar")
        bot.core.operate("remove asha@trust.example")
        await bot.settle()
        _, cancelled = bot.last_card("29:asha")
        assert [a["title"] for a in cancelled["actions"]] == ["Remove from calendar"]
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as response:
                assert response.status == 200
                method, event = parse(await response.read())
        assert method == "CANCEL" and event["SEQUENCE"] == 1
        # Once she is erased, the link says the invitation is gone.
        with bot.db.session() as s:
            privacy.erase(s, s.scalars(select(Person).where(Person.user_id == "29:asha")).one(), bot.clock.now())
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as response:
                assert response.status == 410 and "no longer available" in await response.text()

    scenario(tmp_path)


def test_an_invitation_round_trips_through_the_outbox_as_ids_only():
    message = Message("Booked.", invitation=Invitation(12, 3, 2, cancelled=True))
    assert Message.from_dict(message.to_dict()) == message
    assert Message.from_dict(Message("plain").to_dict()).invitation is None


@pytest.mark.parametrize("body, expected", [
    ('[calendar]\ndomain = "trust nhs"', "[calendar] domain: 'trust nhs' is not a domain name"),
    ('[calendar]\norganiser_email = "pairbot"', "[calendar] organiser_email: 'pairbot' is not an email address"),
    ('[calendar]\npublic_url = "pairbot.example"', "[calendar] public_url: 'pairbot.example' must start with https://"),
])
def test_calendar_settings_that_cannot_work_are_named(tmp_path, body, expected):
    from bot.config import ConfigError, load_settings

    path = tmp_path / "pairbot.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as refused:
        load_settings(path, {})
    assert expected in str(refused.value)
