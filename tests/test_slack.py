"""Pairbot in Slack, over HTTP on loopback: signed requests into the real bolt app, the real
slack_sdk client out to a fake Slack Web API."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.models import AuditEntry, Delivery, Meeting, Participant, Person, ProcessedEvent, Reflection, SurveyResponse
from loopback_bot import held_to_confirm, reachable, scenario_runner
from slack_harness import sign, start_bot, stop_bot


run = scenario_runner(start_bot, stop_bot)



async def enrol_pair(bot) -> int:
    cohort = bot.make_cohort()
    assert (await bot.command("U0RITA", "enrol <@U0ASHA|asha> clinician profession=\"Junior doctor\"")).status == 200
    assert (await bot.command("U0RITA", "enrol ben@trust.example manager site=North")).status == 200
    await bot.until(lambda: len(bot.fake.responses) == 2)
    # Each tells the bot, in a DM, when they could usually meet.
    await bot.dm("U0ASHA", "availability Mon 12:30-14:00, Wed 17:00-19:00, Fri 12:00-13:30", "Ev-a1")
    await bot.dm("U0BEN", "availability Mon 12:00-15:00, Wed 16:00-18:00, Fri 12:00-14:00", "Ev-b1")
    await bot.until(lambda: len(bot.inbox("U0ASHA")) == 1 and len(bot.inbox("U0BEN")) == 1)
    bot.pair_up(cohort, ["U0ASHA", "U0BEN"])
    return cohort


def test_one_pair_walks_through_intro_slots_meeting_check_reflection_and_survey(tmp_path):
    @run
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        # Enrolment used Slack's directory: names and time zones from users.info / lookupByEmail.
        assert [c.args["user"] for c in bot.fake.calls_to("users.info")][-1] == "U0ASHA"
        assert bot.fake.calls_to("users.lookupByEmail")[-1].args["email"] == "ben@trust.example"
        assert "Enrolled Dr Asha Patel" in bot.fake.responses[0]["text"]
        assert bot.fake.responses[0].get("response_type") == "ephemeral"
        with bot.db.session() as s:
            people = {p.user_id: p for p in s.scalars(select(Person))}
            assert people["U0BEN"].name == "Ben Okafor" and people["U0BEN"].timezone == "Europe/London"
            assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "enrol")) == 2

        # Introduction: one group DM with both members.
        assert bot.run_step(cohort, "pairs-announced") == 1
        await bot.settle()
        intro = bot.last("U0ASHA", "U0BEN")
        assert bot.channel_of("U0ASHA", "U0BEN").startswith("G")
        assert "Dr Asha Patel" in intro["text"] and "Ben Okafor" in intro["text"]

        # Slot choice: the manager gets three slots as buttons; the click books one and the message
        # is updated so it cannot be answered twice.
        bot.run_step(cohort, "buddy-meeting-1")
        await bot.settle()
        offer = bot.last("U0BEN")
        buttons = [e["text"]["text"] for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert len(buttons) >= 4  # three slots and "none of these"
        assert (await bot.click("U0BEN", offer, buttons[0])).status == 200
        await bot.settle()
        updated = next(m for m in bot.messages_in(offer["channel"]) if m["ts"] == offer["ts"])
        assert not any(b["type"] == "actions" for b in updated["blocks"])
        assert f"<@U0BEN> chose *{buttons[0]}*" in updated["blocks"][-1]["elements"][0]["text"]
        assert any(m["text"].startswith(f"Booked: {buttons[0]}") for m in bot.inbox("U0BEN"))
        assert any("booked your buddy meeting" in m["text"] for m in bot.inbox("U0ASHA"))

        # After the slot: "did you meet?" in the group DM; Asha answers yes.
        wakeup = bot.core.pending_wakeups()[0]
        bot.clock.set(wakeup.at)
        bot.core.run_wakeup("meeting_check", wakeup.ref_id)
        await bot.settle()
        question = bot.last("U0ASHA", "U0BEN")
        assert question["text"].startswith("Did your buddy meeting on")
        await bot.click("U0ASHA", question, "Yes, we met")
        await bot.settle()
        with bot.db.session() as s:
            assert s.scalars(select(Meeting)).one().status == "held"

        # Reflection: a button opens a modal; what she writes is saved privately.
        prompt = next(m for m in reversed(bot.inbox("U0ASHA")) if any(
            e.get("action_id") == "pairbot_form" for b in m["blocks"] if b["type"] == "actions" for e in b["elements"]))
        await bot.click("U0ASHA", prompt, "Open: Reflection")
        await bot.settle()
        modal = bot.fake.calls_to("views.open")[-1].args["view"]
        assert modal["type"] == "modal" and modal["blocks"][0]["element"]["type"] == "plain_text_input"
        assert (await bot.submit("U0ASHA", modal, {"reflection": "Saw how bed management really works."})).status == 200
        await bot.settle()
        with bot.db.session() as s:
            reflection = s.scalars(select(Reflection)).one()
            assert reflection.text == "Saw how bed management really works." and reflection.shared is False
        assert any("Only you can see" in m["text"] for m in bot.inbox("U0ASHA"))
        def form_button_gone() -> bool:  # the update follows the answer, after Slack has its ack
            after = next(m for m in bot.messages_in(prompt["channel"]) if m["ts"] == prompt["ts"])
            return not any(b["type"] == "actions" for b in after["blocks"])

        await bot.until(form_button_gone)

        # Survey: a multi-item modal with 1-5 selects; every answer is stored.
        bot.run_step(cohort, "pre-survey")
        await bot.settle()
        survey_msg = bot.last("U0ASHA")
        label = next(e["text"]["text"] for b in survey_msg["blocks"] if b["type"] == "actions"
                     for e in b["elements"] if e["action_id"] == "pairbot_form")
        await bot.click("U0ASHA", survey_msg, label)
        await bot.settle()
        survey_view = bot.fake.calls_to("views.open")[-1].args["view"]
        selects = [b for b in survey_view["blocks"] if b["element"]["type"] == "static_select"]
        assert len(selects) >= 10 and [o["value"] for o in selects[0]["element"]["options"]] == list("12345")
        answers = {}
        for block in survey_view["blocks"]:
            element = block["element"]
            answers[block["block_id"]] = element["options"][3]["value"] if element["type"] == "static_select" \
                else "More confidence talking to managers."
        await bot.submit("U0ASHA", survey_view, answers)
        await bot.settle()
        with bot.db.session() as s:
            stored = s.scalar(select(func.count()).select_from(SurveyResponse))
            assert stored == len(survey_view["blocks"])

    scenario(tmp_path)


def test_home_tab_shows_my_pair_next_steps_meetings_and_surveys(tmp_path):
    @run
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        bot.run_step(cohort, "pairs-announced")
        await bot.event({"type": "app_home_opened", "user": "U0ASHA", "channel": "D1", "tab": "home"}, "Ev-home")
        for _ in range(100):
            if bot.fake.calls_to("views.publish"):
                break
            await asyncio.sleep(0.02)
        view = bot.fake.calls_to("views.publish")[-1].args["view"]
        text = str(view)
        assert view["type"] == "home" and "Ben Okafor" in text
        for heading in ("My pair", "Next steps", "My meetings", "My surveys"):
            assert heading in text

    scenario(tmp_path)


def test_forged_signature_and_stale_timestamp_get_401_and_change_nothing(tmp_path):
    @run
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        with bot.db.session() as s:
            before = s.scalar(select(func.count()).select_from(Participant))
        calls = len(bot.fake.calls)
        forged = await bot.command("U0RITA", "enrol <@U0RITA> manager", signed={
            "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64})
        assert forged.status == 401
        body = "payload=%7B%7D"
        stale = await bot.post(body, "application/x-www-form-urlencoded",
                               signed=sign(body, timestamp=int(time.time()) - 10 * 60))
        assert stale.status == 401
        await asyncio.sleep(0.2)
        with bot.db.session() as s:
            assert s.scalar(select(func.count()).select_from(Participant)) == before
        assert len(bot.fake.calls) == calls  # nothing was sent to Slack either
        assert cohort

    scenario(tmp_path)


def test_a_retried_event_is_processed_once(tmp_path):
    @run
    async def scenario(bot):
        await enrol_pair(bot)
        channel = await bot.dm_channel("U0ASHA")
        before = len(bot.messages_in(channel))
        with bot.db.session() as s:
            processed = s.scalar(select(func.count()).select_from(ProcessedEvent))
        first = await bot.dm("U0ASHA", "availability Tue 08:00-09:00", "Ev-avail-2")
        again = await bot.dm("U0ASHA", "availability Tue 08:00-09:00", "Ev-avail-2", retry=1)
        assert first.status == 200 and again.status == 200
        await asyncio.sleep(0.5)
        assert len(bot.messages_in(channel)) == before + 1
        with bot.db.session() as s:
            assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == processed + 1

    scenario(tmp_path)


def test_a_429_storm_slows_delivery_down_but_loses_and_duplicates_nothing(tmp_path):
    @run
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        bot.fake.rate_limit("chat.postMessage", times=6, retry_after=1)
        bot.run_step(cohort, "launch-workshop")  # one invitation to each member
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            bot.clock.advance(timedelta(seconds=5))  # programme time moves on past each Retry-After
            with bot.db.session() as s:
                statuses = list(s.scalars(select(Delivery.status).where(Delivery.intent == "group_meeting")))
            if statuses and all(x == "sent" for x in statuses):
                break
            await asyncio.sleep(0.1)
        assert statuses == ["sent", "sent"]
        posted = [m for u in ("U0ASHA", "U0BEN") for m in bot.inbox(u) if "group meeting" in m["text"].lower()
                  or "workshop" in m["text"].lower()]
        assert len(posted) == 2
        assert len([c for c in bot.fake.calls_to("chat.postMessage")]) >= 2 + 6

    scenario(tmp_path)


def test_unknown_person_gets_a_polite_answer_and_a_departed_one_is_marked_unreachable(tmp_path):
    @run
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        bot.fake.add_user("U0EVE", "Eve Stranger", email="eve@trust.example")
        channel = await bot.dm_channel("U0EVE")
        await bot.dm("U0EVE", "hello", "Ev-eve")
        await bot.until(lambda: bool(bot.messages_in(channel)))
        assert "ask your programme coordinator to enrol you" in bot.messages_in(channel)[-1]["text"]

        # Ben leaves the workspace: the intro still reaches Asha. Slack is asked again hours later
        # (with his own copy of the intro) before he counts as gone and the coordinator is told.
        bot.fake.users["U0BEN"]["deleted"] = True
        bot.run_step(cohort, "pairs-announced")
        await bot.until(lambda: any("Dr Asha Patel" in m["text"] for m in bot.inbox("U0ASHA")))
        await bot.until(lambda: held_to_confirm(bot) == 1)
        assert reachable(bot, "U0BEN") is True
        bot.clock.advance(timedelta(hours=6))
        await bot.until(lambda: reachable(bot, "U0BEN") is False)
        await bot.settle()
        assert any("can no longer reach Ben Okafor" in m["text"] for m in bot.inbox("U0RITA"))

        # Asha turns off messages from the app: her next personal message cannot be delivered,
        # when asked and again hours later.
        asha_dm = bot.channel_of("U0ASHA")
        bot.fake.fail("chat.postMessage", "messages_tab_disabled", times=2,
                      when=lambda c: c.args.get("channel") == asha_dm)
        bot.run_step(cohort, "pre-survey")
        await bot.until(lambda: held_to_confirm(bot) == 1)
        bot.clock.advance(timedelta(hours=6))
        await bot.until(lambda: reachable(bot, "U0ASHA") is False)
        await bot.settle()
        with bot.db.session() as s:
            statuses = set(s.scalars(select(Delivery.status).where(Delivery.intent == "pre_survey")))
            assert statuses == {"unreachable"}
        assert any("can no longer reach Dr Asha Patel" in m["text"] for m in bot.inbox("U0RITA"))

    scenario(tmp_path)


def test_slash_command_help_and_refusal_depend_on_the_callers_role(tmp_path):
    @run
    async def scenario(bot):
        await enrol_pair(bot)
        await bot.command("U0ASHA", "status")
        await bot.command("U0ASHA", "help")
        await bot.command("U0RITA", "help")
        await bot.command("U0RITA", "stauts")
        await bot.command("U0RITA", "enrol nobody@trust.example manager")
        for _ in range(100):
            if len(bot.fake.responses) >= 7:
                break
            await asyncio.sleep(0.02)
        texts = [r["text"] for r in bot.fake.responses[2:]]
        assert texts[0].startswith("Sorry, 'status' is for coordinators")
        assert "enrol" not in texts[1] and "help" in texts[1]
        assert "enrol" in texts[2] and "status" in texts[2]
        assert "Did you mean 'status'?" in texts[3]
        assert "'nobody@trust.example' is not a person in this workspace" in texts[4]
        assert all(r.get("response_type") == "ephemeral" for r in bot.fake.responses)

    scenario(tmp_path)


def test_healthz_answers_200_when_the_database_is_reachable(tmp_path):
    @run
    async def scenario(bot):
        async with bot.http.get(f"{bot.url}/healthz") as response:
            assert response.status == 200
            assert (await response.json())["database"] == "reachable"

    scenario(tmp_path)



def test_sends_to_one_conversation_are_paced_to_about_one_a_second(tmp_path):
    async def main():
        bot = await start_bot(tmp_path, pacing=1.0)  # the adapter's real pacing
        try:
            cohort = await enrol_pair(bot)
            await asyncio.sleep(1.0)  # let the pacing of the enrolment replies pass
            already = len(bot.fake.calls_to("chat.postMessage"))
            bot.run_step(cohort, "launch-workshop")
            bot.run_step(cohort, "pre-survey")  # a second message to each DM straight away
            await bot.settle(seconds=10)
            new = bot.fake.calls_to("chat.postMessage")[already:]
            by_channel = {}
            pair_dms = {bot.channel_of("U0ASHA"), bot.channel_of("U0BEN")}  # not the coordinator's digest
            for call in new:
                if call.args["channel"] in pair_dms:
                    by_channel.setdefault(call.args["channel"], []).append(call.at)
            assert sorted(by_channel) == sorted([bot.channel_of("U0ASHA"), bot.channel_of("U0BEN")])
            for times in by_channel.values():
                assert len(times) == 2 and times[1] - times[0] >= 0.95
            # Different conversations do not wait for each other.
            first_asha, first_ben = (times[0] for times in by_channel.values())
            assert abs(first_asha - first_ben) < 0.5
        finally:
            await stop_bot(bot)

    asyncio.run(main())


def test_a_wrong_bot_token_stops_start_up_with_a_message_that_says_so(tmp_path):
    from adapters.runtime import StartupError

    async def main():
        with pytest.raises(StartupError, match=r"Slack refused the bot token \(invalid_auth\)"):
            await start_bot(tmp_path, bot_token="xoxb-wrong")

    asyncio.run(main())


def test_slack_out_of_reach_at_start_up_is_said_in_healthz_and_the_workspace_is_set_up_once_it_answers(tmp_path):
    """A Slack outage as Pairbot starts (a deploy during an incident) does not stop it: it serves,
    /healthz says what is wrong, and the workspace's coordinators are set up when Slack answers."""
    async def main():
        bot = await start_bot(tmp_path, before_start=lambda fake: fake.fail(
            "auth.test", "service_unavailable", times=10_000, status=503))
        try:
            async with bot.http.get(f"{bot.url}/healthz") as response:
                assert response.status == 503
                body = await response.text()
            assert "slack" in body and "HTTP 503" in body and "refused" not in body
            await bot.until(lambda: len(bot.fake.calls_to("auth.test")) >= 2, seconds=10)  # tried again
            bot.fake.stop_failing()
            ok = {}

            async def healthy():
                async with bot.http.get(f"{bot.url}/healthz") as response:
                    ok["status"] = response.status
                return ok["status"] == 200

            deadline = asyncio.get_running_loop().time() + 20
            while not await healthy():
                assert asyncio.get_running_loop().time() < deadline, "still not healthy 20 s after Slack answered"
                await asyncio.sleep(0.1)
            # The coordinator named in the config can run the cohort now.
            assert (await bot.command("U0RITA", "cohort list")).status == 200
            await bot.until(lambda: bot.fake.responses)
            assert "There are no cohorts yet" in bot.fake.responses[-1]["text"]
        finally:
            await stop_bot(bot)

    asyncio.run(main())


async def _slot_offer_to_ben(bot) -> tuple[dict, list[str]]:
    """A pair's first buddy meeting offered: Ben's message, and the labels of its buttons."""
    cohort = await enrol_pair(bot)
    bot.run_step(cohort, "buddy-meeting-1")
    await bot.settle()
    offer = bot.last("U0BEN")
    return offer, [e["text"]["text"] for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_a_double_tap_on_slot_buttons_books_once_and_the_message_shows_what_was_booked(tmp_path):
    @run
    async def scenario(bot):
        offer, buttons = await _slot_offer_to_ben(bot)
        assert (await bot.click("U0BEN", offer, buttons[0])).status == 200
        await bot.settle()
        # A second tap on the same message (another device still shows the buttons) picks another slot.
        assert (await bot.click("U0BEN", offer, buttons[1])).status == 200
        await bot.settle()
        with bot.db.session() as s:
            meeting = s.scalars(select(Meeting)).one()
        assert meeting.status == "agreed"
        updated = next(m for m in bot.messages_in(offer["channel"]) if m["ts"] == offer["ts"])
        note = updated["blocks"][-1]["elements"][0]["text"]
        assert f"booked for {buttons[0]}" in note and buttons[1] not in note
        assert sum(1 for m in bot.inbox("U0ASHA") if "booked your buddy meeting" in m["text"]) == 1

    scenario(tmp_path)


def test_the_same_slot_button_tapped_twice_at_once_books_once_and_tells_the_buddy_once(tmp_path):
    """A double tap on a phone: two identical clicks arrive together (each its own request)."""
    @run
    async def scenario(bot):
        offer, buttons = await _slot_offer_to_ben(bot)
        slot = buttons[0]
        answers = await asyncio.gather(bot.click("U0BEN", offer, slot), bot.click("U0BEN", offer, slot))
        assert [a.status for a in answers] == [200, 200]
        await bot.settle()
        with bot.db.session() as s:
            assert [(m.status, m.kind) for m in s.scalars(select(Meeting))] == [("agreed", "buddy")]
        # Whichever redraw lands last, the message names the time booked, and its buttons are gone.
        updated = next(m for m in bot.messages_in(offer["channel"]) if m["ts"] == offer["ts"])
        assert slot in updated["blocks"][-1]["elements"][0]["text"]
        assert not [b for b in updated["blocks"] if b["type"] == "actions"]
        assert sum(1 for m in bot.inbox("U0ASHA") if "booked your buddy meeting" in m["text"]) == 1

    scenario(tmp_path)


def test_a_typed_2_that_could_answer_two_questions_gets_which_question_buttons(tmp_path):
    @run
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        bot.run_step(cohort, "pre-survey")        # a form (its first question is 1-5)
        bot.run_step(cohort, "launch-workshop")   # RSVP buttons: 2 is "Can't make it"
        await bot.settle()
        assert (await bot.dm("U0BEN", "2", "Ev-which")).status == 200
        await bot.until(lambda: "Which question" in bot.last("U0BEN")["text"])
        which = bot.last("U0BEN")
        labels = [e["text"]["text"] for b in which["blocks"] if b["type"] == "actions" for e in b["elements"]]
        survey = next(label for label in labels if "survey" in label)
        await bot.click("U0BEN", which, survey)
        await bot.settle()
        with bot.db.session() as s:
            answers = [(r.item, r.value) for r in s.scalars(select(SurveyResponse))]
            from bot.models import Rsvp
            assert s.scalars(select(Rsvp)).all() == []
        assert len(answers) == 1 and answers[0][1] == 2

    scenario(tmp_path)


def test_when_one_member_books_the_others_offer_of_the_same_times_shows_the_booking(tmp_path):
    @run
    async def scenario(bot):
        cohort = await enrol_pair(bot)
        bot.run_step(cohort, "buddy-meeting-1")  # Ben gets the times
        await bot.until(lambda: bot.newest("U0BEN", "Which time"), 15)
        ben_offer = bot.newest("U0BEN", "Which time")
        await bot.command("U0RITA", "nudge <@U0ASHA|asha>")
        await bot.settle()
        await bot.until(lambda: bot.newest("U0ASHA", "Suggest times"), 15)
        await bot.click("U0ASHA", bot.newest("U0ASHA", "Suggest times"), "Suggest times")  # the same times
        await bot.until(lambda: bot.newest("U0ASHA", "Which time"), 15)
        asha_offer = bot.newest("U0ASHA", "Which time")
        slot = [e["text"]["text"] for b in asha_offer["blocks"] if b["type"] == "actions" for e in b["elements"]][0]
        await bot.click("U0ASHA", asha_offer, slot)
        await bot.settle()
        await bot.until(lambda: "booked this buddy meeting" in next(
            m for m in bot.messages_in(ben_offer["channel"]) if m["ts"] == ben_offer["ts"])["text"])
        redrawn = next(m for m in bot.messages_in(ben_offer["channel"]) if m["ts"] == ben_offer["ts"])
        assert redrawn["text"] == f"✓ Dr Asha Patel booked this buddy meeting for {slot}."
        assert not any(b["type"] == "actions" for b in redrawn.get("blocks", []))
        assert bot.fake.calls_to("chat.update")
        with bot.db.session() as s:
            assert [m.status for m in s.scalars(select(Meeting))] == ["agreed"]

    scenario(tmp_path)


def test_an_offer_given_as_a_reply_shows_the_booking_when_the_buddy_books(tmp_path):
    """Ben taps "Suggest times" again: his reply repeats the times he was offered. When Asha books
    one, that reply loses its buttons too, not only the offer the outbox sent."""
    @run
    async def scenario(bot):
        newest = bot.newest
        cohort = await enrol_pair(bot)
        bot.run_step(cohort, "buddy-meeting-1")  # Ben gets the times
        await bot.settle()
        await bot.command("U0RITA", "nudge <@U0BEN|ben>")
        await bot.until(lambda: newest("U0BEN", "Suggest times"), 15)
        await bot.click("U0BEN", newest("U0BEN", "Suggest times"), "Suggest times")
        await bot.until(lambda: newest("U0BEN", "These are the times I offered"), 15)
        copy = newest("U0BEN", "These are the times I offered")
        assert any(b["type"] == "actions" for b in copy["blocks"])
        await bot.command("U0RITA", "nudge <@U0ASHA|asha>")
        await bot.until(lambda: newest("U0ASHA", "Suggest times"), 15)
        await bot.click("U0ASHA", newest("U0ASHA", "Suggest times"), "Suggest times")
        await bot.until(lambda: newest("U0ASHA", "Which time"), 15)
        asha_offer = newest("U0ASHA", "Which time")
        slot = [e["text"]["text"] for b in asha_offer["blocks"] if b["type"] == "actions" for e in b["elements"]][0]
        await bot.click("U0ASHA", asha_offer, slot)
        await bot.settle()

        def copy_now():
            return next(m for m in bot.messages_in(copy["channel"]) if m["ts"] == copy["ts"])
        await bot.until(lambda: "booked this buddy meeting" in copy_now()["text"], 15)
        assert copy_now()["text"] == f"✓ Dr Asha Patel booked this buddy meeting for {slot}."
        assert not any(b["type"] == "actions" for b in copy_now().get("blocks", []))
        with bot.db.session() as s:
            assert [m.status for m in s.scalars(select(Meeting))] == ["agreed"]

    scenario(tmp_path)
