"""Pairbot in Microsoft Teams, over HTTP on loopback: activities into the real CloudAdapter at
/api/messages, everything the bot sends to a fake Bot Connector service."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

from sqlalchemy import func, select

from bot.models import Delivery, Meeting, Person, Reflection, SurveyResponse
from loopback_bot import scenario_runner
from scheduler.delivery import TO_CONFIRM
from teams_harness import personal, start_bot, stop_bot


scenario = scenario_runner(start_bot, stop_bot)


def held_to_confirm(bot) -> int:
    """Deliveries the platform refused as gone once, waiting to ask again."""
    with bot.db.session() as s:
        return sum(1 for d in s.scalars(select(Delivery).where(Delivery.status == "pending"))
                   if (d.last_error or "").startswith(TO_CONFIRM))


def submit_data(card: dict, title: str) -> dict:
    return next(a["data"] for a in card["actions"] if a["type"] == "Action.Submit" and a["title"] == title)


def test_one_pair_walks_through_intro_slots_meeting_check_reflection_and_survey_in_teams(tmp_path):
    @scenario
    async def walk(bot):
        cohort = bot.enrol_pair()
        for user in ("29:rita", "29:asha", "29:ben"):
            assert await bot.install(user) == 201
        # Installing stores how to reach them and says hello.
        assert "I'm Pairbot" in bot.last_card("29:asha")[1]["body"][0]["text"]

        # Introduction: Teams bots cannot start a group chat, so each gets an intro with links that
        # open a chat with the other and a new meeting with both invited.
        bot.run_step(cohort, "pairs-announced")
        await bot.settle()
        _, intro = bot.last_card("29:asha")
        assert "Ben Okafor" in intro["body"][0]["text"]
        links = {a["title"]: a["url"] for a in intro["actions"] if a["type"] == "Action.OpenUrl"}
        assert "users=ben@trust.example" in links["Chat with Ben"]
        assert "attendees=ben@trust.example,asha@trust.example" in links["Set up a meeting"]

        # Slot choice: the manager picks the first slot; the card is replaced with the choice.
        bot.run_step(cohort, "buddy-meeting-1")
        await bot.settle()
        offer_id, offer = bot.last_card("29:ben")
        first = next(a for a in offer["actions"] if a["type"] == "Action.Submit")
        assert await bot.submit("29:ben", offer_id, first["data"]) == 201
        update = [s for s in bot.connector.to(personal("29:ben")) if s.method == "PUT"][-1]
        assert update.activity_id == offer_id
        answered = update.activity["attachments"][0]["content"]
        # The plain acknowledgement is in the redrawn card, not a message of its own.
        texts = [b["text"] for b in answered["body"]]
        assert "actions" not in answered and f"You chose: {first['title']}" in texts[-2]
        assert texts[-1].startswith(f"Booked: {first['title']}")
        assert bot.last_card("29:ben")[0] == offer_id
        await bot.settle()
        assert "booked your buddy meeting" in bot.last_card("29:asha")[1]["body"][0]["text"]

        # After the slot: "did you meet?" to each; Asha says yes.
        wakeup = bot.core.pending_wakeups()[0]
        bot.clock.set(wakeup.at)
        bot.core.run_wakeup("meeting_check", wakeup.ref_id)
        await bot.settle()
        question_id, question = bot.last_card("29:asha")
        assert question["body"][0]["text"].startswith("Did your buddy meeting on")
        await bot.submit("29:asha", question_id, submit_data(question, "Yes, we met"))
        with bot.db.session() as s:
            assert s.scalars(select(Meeting)).one().status == "held"

        # Reflection: a card with a text box; the answer is saved privately.
        await bot.settle()
        reflect_id, reflect = next((i, c) for i, c in reversed(bot.cards(personal("29:asha")))
                                   if any(b.get("id") == "field_reflection" for b in c["body"]))
        data = {**submit_data(reflect, "Save privately"), "field_reflection": "Saw how bed management works."}
        await bot.submit("29:asha", reflect_id, data)
        with bot.db.session() as s:
            reflection = s.scalars(select(Reflection)).one()
            assert reflection.text == "Saw how bed management works." and reflection.shared is False

        # Survey: one card with a 1-5 choice set per item.
        bot.run_step(cohort, "pre-survey")
        await bot.settle()
        survey_id, survey = bot.last_card("29:asha")
        inputs = [b for b in survey["body"] if b["type"].startswith("Input.")]
        answers = {b["id"]: ("4" if b["type"] == "Input.ChoiceSet" else "Confidence with managers") for b in inputs}
        await bot.submit("29:asha", survey_id, {**submit_data(survey, "Send"), **answers})
        with bot.db.session() as s:
            assert s.scalar(select(func.count()).select_from(SurveyResponse)) == len(inputs)
        final = [x for x in bot.connector.to(personal("29:asha")) if x.method == "PUT"][-1]
        assert final.activity_id == survey_id and "Sent, thank you" in str(final.activity)

    walk(tmp_path)


def test_a_pair_that_adds_pairbot_to_their_group_chat_gets_pair_messages_there(tmp_path):
    @scenario
    async def chat(bot):
        cohort = bot.enrol_pair()
        for user in ("29:asha", "29:ben"):
            await bot.install(user)
        assert await bot.add_to_group_chat(["29:asha", "29:ben"]) == 201
        bot.run_step(cohort, "pairs-announced")
        await bot.settle()
        group = bot.cards("19:pairchat@thread.v2")
        assert len(group) == 1 and "Dr Asha Patel" in group[0][1]["body"][0]["text"]
        assert not any("Ben Okafor" in c["body"][0]["text"] for _, c in bot.cards(personal("29:asha"))[1:])

    chat(tmp_path)


def test_a_request_without_a_token_is_refused_when_app_id_is_set(tmp_path):
    async def main():
        bot = await start_bot(tmp_path, app_id="6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f", app_password="secret")
        try:
            bot.enrol_pair()
            assert await bot.say("29:asha", "availability Mon 08:00-09:00") == 401
            assert await bot.install("29:asha") == 401
            from bot.models import Conversation, ProcessedEvent
            with bot.db.session() as s:
                assert s.scalar(select(func.count()).select_from(Conversation)) == 0
                assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
            assert bot.connector.requests == []
        finally:
            await stop_bot(bot)

    asyncio.run(main())


def test_a_403_marks_the_person_unreachable_and_tells_the_coordinator(tmp_path):
    @scenario
    async def blocked(bot):
        cohort = bot.enrol_pair()
        for user in ("29:rita", "29:asha", "29:ben"):
            await bot.install(user)
        bot.connector.fail(403, times=2, when=lambda r: r.conversation_id == personal("29:ben") and r.method == "POST")
        bot.run_step(cohort, "pairs-announced")
        # One 403 is not enough: Teams is asked again hours later before Ben counts as gone.
        await bot.until(lambda: held_to_confirm(bot) == 1)
        assert bot.person("29:ben").reachable is True and bot.connector.pending_failures() == 1
        bot.clock.advance(timedelta(hours=6))
        await bot.until(lambda: bot.person("29:ben").reachable is False)
        await bot.settle()
        assert bot.person("29:asha").reachable is True
        told = [c["body"][0]["text"] for _, c in bot.cards(personal("29:rita"))]
        assert any("can no longer reach Ben Okafor" in t and "Dr Asha Patel still gets the pair's steps" in t
                   for t in told)
        # Ben adds the app again: he is reachable again.
        await bot.install("29:ben")
        assert bot.person("29:ben").reachable is True

    blocked(tmp_path)


def test_when_the_card_cannot_be_redrawn_the_acknowledgement_is_sent_as_a_message(tmp_path):
    @scenario
    async def stale(bot):
        cohort = bot.enrol_pair()
        for user in ("29:asha", "29:ben"):
            await bot.install(user)
        bot.run_step(cohort, "launch-workshop")
        await bot.settle()
        card_id, card = bot.last_card("29:asha")
        bot.connector.fail(403, when=lambda r: r.method == "PUT")
        assert await bot.submit("29:asha", card_id, submit_data(card, "Yes, I'll be there")) == 201
        # The calendar invitation goes through the outbox and may arrive before or after the reply.
        reply_id, _reply = bot.newest_card("29:asha", "you're down as coming")
        assert reply_id != card_id

    stale(tmp_path)


def test_a_retry_storm_loses_nothing_and_duplicates_nothing(tmp_path):
    @scenario
    async def storm(bot):
        cohort = bot.enrol_pair()
        for user in ("29:asha", "29:ben"):
            await bot.install(user)
        posts = lambda r: r.method == "POST"  # noqa: E731
        bot.connector.fail(429, times=3, retry_after=1, when=posts)
        bot.connector.fail(412, times=1, when=posts)
        bot.connector.fail(502, times=2, when=posts)
        bot.connector.fail(504, times=1, when=posts)
        bot.run_step(cohort, "launch-workshop")
        bot.run_step(cohort, "pre-survey")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            bot.clock.advance(timedelta(seconds=10))  # programme time passes each back-off
            with bot.db.session() as s:
                statuses = list(s.scalars(select(Delivery.status).where(
                    Delivery.platform == "teams", Delivery.intent.not_in(("help", "digest")))))
            if statuses and all(x == "sent" for x in statuses):
                break
            await asyncio.sleep(0.05)
        assert sorted(statuses) == ["sent"] * 4
        for user in ("29:asha", "29:ben"):
            texts = [c["body"][0]["text"] for _, c in bot.cards(personal(user))[1:]]
            assert len(texts) == 2 and len(set(texts)) == 2  # one invitation and one survey, once each
        assert bot.connector.pending_failures() == 0

    storm(tmp_path)


def test_typed_commands_reach_the_core_and_unknown_people_get_a_polite_answer(tmp_path):
    @scenario
    async def commands(bot):
        bot.enrol_pair()
        for user in ("29:rita", "29:asha"):
            await bot.install(user)
        await bot.say("29:rita", "status")
        assert "Spring 2027 (running)" in bot.last_card("29:rita")[1]["body"][0]["text"]
        await bot.say("29:asha", "status")
        assert "is for coordinators" in bot.last_card("29:asha")[1]["body"][0]["text"]
        await bot.say("29:rita", "help")
        assert "status #12" in bot.last_card("29:rita")[1]["body"][0]["text"]
        await bot.install("29:stranger", via="installationUpdate")
        assert "don't know you yet" in bot.last_card("29:stranger")[1]["body"][0]["text"]
        from bot.models import Conversation
        with bot.db.session() as s:  # the reference is kept, so the bot can reach them once enrolled
            assert s.scalars(select(Conversation).where(Conversation.members_key.like("%29:stranger"))).one()
        await bot.say("29:stranger", "hello")
        assert "ask your programme coordinator" in bot.last_card("29:stranger")[1]["body"][0]["text"]
        with bot.db.session() as s:
            assert s.scalars(select(Person).where(Person.user_id == "29:stranger")).first() is None

    commands(tmp_path)


def test_a_csv_sent_with_import_is_previewed_and_confirmed_in_teams(tmp_path):
    @scenario
    async def importing(bot):
        bot.enrol_pair()
        await bot.install("29:rita")
        await bot.say("29:rita", 'cohort create Autumn --start 2027-06-07')
        assert "Created Autumn" in bot.last_card("29:rita")[1]["body"][0]["text"]
        csv_file = bot.connector.share_file("people.csv", b"email,role\nasha@trust.example,clinician\n"
                                                          b"BEN@trust.example,manager\nghost@trust.example,manager\n")
        activity = bot._activity("message", "29:rita", {"id": personal("29:rita"), "conversationType": "personal"},
                                 text="import Autumn", attachments=[csv_file])
        assert await bot.post(activity) == 201
        preview = bot.last_card("29:rita")[1]["body"][0]["text"]
        assert "3 people, 2 ready to enrol in Autumn" in preview
        assert "row 4 (ghost@trust.example)" in preview
        number = preview.split("import confirm ")[1].split("'")[0]
        await bot.say("29:rita", f"import confirm {number}")
        assert "Enrolled 2 people in Autumn" in bot.last_card("29:rita")[1]["body"][0]["text"]

    importing(tmp_path)


def test_export_is_offered_with_a_file_consent_card_and_uploaded_when_allowed(tmp_path):
    @scenario
    async def exporting(bot):
        bot.enrol_pair()
        await bot.install("29:rita")
        assert await bot.say("29:rita", "export") == 201
        offer = [s for s in bot.connector.to(personal("29:rita")) if s.method == "POST"][-1]
        consent = offer.activity["attachments"][0]
        assert consent["contentType"] == "application/vnd.microsoft.teams.card.file.consent"
        assert consent["name"].endswith(".csv") and consent["content"]["sizeInBytes"] > 0

        def invoke(action: str) -> dict:
            value = {"type": "fileUpload", "action": action, "context": consent["content"][f"{action}Context"]}
            if action == "accept":
                value["uploadInfo"] = bot.connector.upload_info(consent["name"])
            return bot._activity("invoke", "29:rita", {"id": personal("29:rita"), "conversationType": "personal"},
                                 name="fileConsent/invoke", value=value)

        assert await bot.post(invoke("accept")) == 200
        (uploaded,) = bot.connector.uploaded.values()
        rows = uploaded.decode().splitlines()
        assert rows[0].startswith("name,email,role") and len(rows) == 3 and "Dr Asha Patel" in uploaded.decode()
        info = [s for s in bot.connector.to(personal("29:rita")) if s.method == "POST"][-1].activity["attachments"][0]
        assert info["contentType"] == "application/vnd.microsoft.teams.card.file.info"
        assert info["contentUrl"].endswith(consent["name"])
        assert await bot.post(invoke("decline")) == 200
        assert "haven't sent the file" in bot.last_card("29:rita")[1]["body"][0]["text"]
        assert len(bot.connector.uploaded) == 1

    exporting(tmp_path)


def test_people_who_add_the_app_become_known_and_named_coordinators_get_the_role(tmp_path):
    async def main():
        bot = await start_bot(tmp_path, coordinators=("rita@trust.example",))
        try:
            await bot.install("29:asha")  # first in the tenant, but the config names the coordinator
            assert "not enrolled in a programme yet" in bot.last_card("29:asha")[1]["body"][0]["text"]
            await bot.install("29:rita")
            assert "cohort create" in bot.last_card("29:rita")[1]["body"][0]["text"]  # her commands
            await bot.say("29:rita", "cohort create Autumn --start 2027-06-07")
            await bot.say("29:rita", "enrol asha@trust.example clinician site=North")
            assert "Enrolled Dr Asha Patel in Autumn" in bot.last_card("29:rita")[1]["body"][0]["text"]
            await bot.say("29:rita", "enrol ben@trust.example manager")  # has not added the app
            assert "ben@trust.example" in bot.last_card("29:rita")[1]["body"][0]["text"]
            await bot.say("29:asha", "status")
            assert "is for coordinators" in bot.last_card("29:asha")[1]["body"][0]["text"]
        finally:
            await stop_bot(bot)

    asyncio.run(main())


def test_with_no_coordinator_named_the_first_to_add_the_app_in_a_tenant_is_coordinator(tmp_path):
    @scenario
    async def first(bot):
        await bot.install("29:ben")
        await bot.install("29:asha")
        await bot.say("29:ben", "cohort list")
        assert "There are no cohorts yet" in bot.last_card("29:ben")[1]["body"][0]["text"]
        await bot.say("29:asha", "cohort list")
        assert "is for coordinators" in bot.last_card("29:asha")[1]["body"][0]["text"]

    first(tmp_path)


def test_sends_are_paced_to_teams_limits_per_conversation(tmp_path):
    async def main():
        bot = await start_bot(tmp_path, pacing=None)  # the adapter's own pacing: 2 a second per conversation
        try:
            cohort = bot.enrol_pair()
            for user in ("29:asha", "29:ben"):
                await bot.install(user)
            await bot.until(lambda: all(any(s.method == "POST" for s in bot.connector.to(personal(user)))
                                        for user in ("29:asha", "29:ben")))  # the welcomes are out
            bot.run_step(cohort, "launch-workshop")
            bot.run_step(cohort, "pre-survey")
            bot.run_step(cohort, "pair-contract")
            await bot.settle()
            for user in ("29:asha", "29:ben"):
                times = [s.at for s in bot.connector.to(personal(user)) if s.method == "POST"][1:]
                assert len(times) == 3
                # Spaced at the sender (1/7 s); each send is a thread, and on a busy machine arrival
                # times jitter by tens of ms, so allow half an interval each. Unpaced, the three
                # arrive within a few ms of each other.
                assert all(later - earlier >= 0.5 / 7 for earlier, later in zip(times, times[1:]))
                assert times[-1] - times[0] >= 1.5 / 7
        finally:
            await stop_bot(bot)

    asyncio.run(main())


def test_start_up_says_when_teams_authentication_is_off(tmp_path, caplog):
    async def main():
        bot = await start_bot(tmp_path)
        await stop_bot(bot)

    with caplog.at_level("WARNING"):
        asyncio.run(main())
    assert any("NOT authenticated" in r.getMessage() for r in caplog.records)


def test_the_app_wide_limit_spaces_sends_across_conversations(tmp_path):
    async def main():
        bot = await start_bot(tmp_path)  # no per-conversation spacing, so only the app-wide limit acts
        try:
            bot.running.workers[0].sender.messages_per_second = 10
            cohort = bot.enrol_pair()
            for user in ("29:asha", "29:ben"):
                await bot.install(user)
            before = len(bot.connector.sent)
            bot.run_step(cohort, "launch-workshop")
            bot.run_step(cohort, "pre-survey")
            await bot.settle()
            times = sorted(s.at for s in bot.connector.sent[before:] if s.method == "POST")
            # Four sends at 10 a second span 0.3 s as they leave; arrivals jitter by tens of ms on a
            # busy machine (each send is a thread), so allow one interval. Unlimited, all four
            # arrive within a few ms.
            assert len(times) == 4 and times[-1] - times[0] >= 2 / 10
        finally:
            await stop_bot(bot)

    asyncio.run(main())


async def _slot_card_to_ben(bot) -> tuple[str, list[dict]]:
    """A pair's first buddy meeting offered: Ben's card, and its slot buttons."""
    cohort = bot.enrol_pair()
    for user in ("29:rita", "29:asha", "29:ben"):
        await bot.install(user)
    bot.run_step(cohort, "buddy-meeting-1")
    await bot.settle()
    offer_id, offer = bot.last_card("29:ben")
    return offer_id, [a for a in offer["actions"] if a["type"] == "Action.Submit"]


def test_a_stale_tap_on_a_slot_card_books_nothing_more_and_the_card_shows_what_was_booked(tmp_path):
    @scenario
    async def double_tap(bot):
        offer_id, slots = await _slot_card_to_ben(bot)
        first, second = slots[:2]
        assert await bot.submit("29:ben", offer_id, first["data"]) == 201
        assert await bot.submit("29:ben", offer_id, second["data"]) == 201
        with bot.db.session() as s:
            assert [m.status for m in s.scalars(select(Meeting))] == ["agreed"]
        update = [s for s in bot.connector.to(personal("29:ben")) if s.method == "PUT"][-1]
        texts = [b["text"] for b in update.activity["attachments"][0]["content"]["body"]]
        assert any(f"booked for {first['title']}" in t for t in texts)
        assert not any(second["title"] in t for t in texts)

    double_tap(tmp_path)


def test_the_same_slot_tapped_twice_at_once_books_once_and_tells_the_buddy_once(tmp_path):
    """A double tap: two identical Action.Submit activities arrive together."""
    @scenario
    async def double_tap(bot):
        offer_id, slots = await _slot_card_to_ben(bot)
        first = slots[0]
        answers = await asyncio.gather(bot.submit("29:ben", offer_id, first["data"]),
                                       bot.submit("29:ben", offer_id, first["data"]))
        assert list(answers) == [201, 201]
        await bot.settle()
        with bot.db.session() as s:
            assert [(m.status, m.kind) for m in s.scalars(select(Meeting))] == [("agreed", "buddy")]
        told = [s for s in bot.connector.to(personal("29:asha")) if s.method == "POST"
                and "booked your buddy meeting" in json.dumps(s.activity)]
        assert len(told) == 1

    double_tap(tmp_path)


def test_typing_2_with_a_survey_card_and_an_rsvp_card_open_asks_which_question(tmp_path):
    @scenario
    async def which(bot):
        cohort = bot.enrol_pair()
        for user in ("29:rita", "29:asha", "29:ben"):
            await bot.install(user)
        bot.run_step(cohort, "pre-survey")
        bot.run_step(cohort, "launch-workshop")
        await bot.settle()
        assert await bot.say("29:ben", "2") in (200, 201)
        await bot.until(lambda: "Which question" in bot.last_card("29:ben")[1]["body"][0]["text"])
        card_id, card = bot.last_card("29:ben")
        survey = next(a for a in card["actions"] if a["type"] == "Action.Submit" and "survey" in a["title"])
        assert await bot.submit("29:ben", card_id, survey["data"]) == 201
        with bot.db.session() as s:
            from bot.models import Rsvp
            assert s.scalars(select(Rsvp)).all() == []
            assert [r.value for r in s.scalars(select(SurveyResponse))] == [2]

    which(tmp_path)


def test_when_one_member_books_the_others_card_of_the_same_times_shows_the_booking(tmp_path):
    @scenario
    async def shared(bot):
        cohort = bot.enrol_pair()
        for user in ("29:rita", "29:asha", "29:ben"):
            await bot.install(user)
        bot.run_step(cohort, "buddy-meeting-1")  # Ben gets the times
        await bot.settle()
        ben_offer_id, _ben_offer = bot.last_card("29:ben")
        await bot.say("29:rita", "nudge asha@trust.example")
        await bot.settle()
        nudge_id, nudge = bot.last_card("29:asha")
        assert await bot.submit("29:asha", nudge_id, submit_data(nudge, "Suggest times")) == 201
        await bot.settle()
        offer_id, offer = bot.last_card("29:asha")
        first = next(a for a in offer["actions"] if a["type"] == "Action.Submit")
        assert await bot.submit("29:asha", offer_id, first["data"]) == 201
        await bot.settle()
        redraws = [s for s in bot.connector.to(personal("29:ben")) if s.method == "PUT"]
        assert redraws and redraws[-1].activity_id == ben_offer_id
        card = redraws[-1].activity["attachments"][0]["content"]
        assert "actions" not in card or not card["actions"]
        assert card["body"][0]["text"] == f"✓ Dr Asha Patel booked this buddy meeting for {first['title']}."
        with bot.db.session() as s:
            assert [m.status for m in s.scalars(select(Meeting))] == ["agreed"]

    shared(tmp_path)


def test_a_card_of_times_given_as_a_reply_shows_the_booking_when_the_buddy_books(tmp_path):
    """Ben taps "Suggest times" again: the reply card repeats the times he was offered. When Asha
    books one, that card is redrawn too, not only the one the outbox sent."""
    @scenario
    async def reply_copy(bot):
        cohort = bot.enrol_pair()
        for user in ("29:rita", "29:asha", "29:ben"):
            await bot.install(user)
        bot.run_step(cohort, "buddy-meeting-1")  # Ben gets the times
        await bot.settle()
        await bot.say("29:rita", "nudge ben@trust.example")
        await bot.settle()
        nudge_id, nudge = bot.last_card("29:ben")
        assert await bot.submit("29:ben", nudge_id, submit_data(nudge, "Suggest times")) == 201
        newest = bot.newest_card
        await bot.until(lambda: newest("29:ben", "These are the times I offered"), 15)
        copy_id, copy = newest("29:ben", "These are the times I offered")
        assert [a for a in copy["actions"] if a["type"] == "Action.Submit"]
        await bot.say("29:rita", "nudge asha@trust.example")
        await bot.settle()
        nudge_id, nudge = bot.last_card("29:asha")
        assert await bot.submit("29:asha", nudge_id, submit_data(nudge, "Suggest times")) == 201
        await bot.until(lambda: newest("29:asha", "Which time"), 15)
        offer_id, offer = newest("29:asha", "Which time")
        first = next(a for a in offer["actions"] if a["type"] == "Action.Submit")
        assert await bot.submit("29:asha", offer_id, first["data"]) == 201
        await bot.settle()
        redraws = [s for s in bot.connector.to(personal("29:ben")) if s.method == "PUT"]
        assert copy_id in [r.activity_id for r in redraws]
        card = [r for r in redraws if r.activity_id == copy_id][-1].activity["attachments"][0]["content"]
        assert not card.get("actions")
        assert card["body"][0]["text"] == f"✓ Dr Asha Patel booked this buddy meeting for {first['title']}."

    reply_copy(tmp_path)
