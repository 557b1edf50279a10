"""Reaching people, through the real Slack and Teams adapters with errors injected into the fakes:
one not-found answer drops nobody, a person gone for good leaves their buddy with the pair's steps,
and the coordinator is told what is true."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

import slack_harness
import teams_harness
from bot.models import Delivery
from loopback_bot import held_to_confirm, reachable, scenario_runner
from teams_harness import personal

slack_scenario = scenario_runner(slack_harness.start_bot, slack_harness.stop_bot)
teams_scenario = scenario_runner(teams_harness.start_bot, teams_harness.stop_bot)
GROUP_CHAT = "19:pairchat@thread.v2"


async def slack_pair(bot) -> int:
    cohort = bot.make_cohort()
    await bot.command("U0RITA", "enrol <@U0ASHA|asha> clinician")
    await bot.command("U0RITA", "enrol ben@trust.example manager")
    await bot.until(lambda: len(bot.fake.responses) == 2)
    await bot.dm("U0ASHA", "availability Mon 12:30-14:00, Wed 17:00-19:00", "Ev-a1")
    await bot.dm("U0BEN", "availability Mon 12:00-15:00, Wed 16:00-18:00", "Ev-b1")
    await bot.until(lambda: len(bot.inbox("U0ASHA")) == 1 and len(bot.inbox("U0BEN")) == 1)
    bot.pair_up(cohort, ["U0ASHA", "U0BEN"])
    return cohort


def test_slack_a_stale_dm_is_reopened_and_nobody_is_dropped(tmp_path):
    @slack_scenario
    async def scenario(bot):
        cohort = await slack_pair(bot)
        ben_dm = await bot.dm_channel("U0BEN")
        bot.run_step(cohort, "pairs-announced")
        await bot.settle()
        opened, had = len(bot.fake.calls_to("conversations.open")), len(bot.inbox("U0BEN"))
        # Slack answers channel_not_found for the DM id the sender holds: it opens the DM again.
        bot.fake.fail("chat.postMessage", "channel_not_found", when=lambda c: c.args.get("channel") == ben_dm)
        bot.run_step(cohort, "pre-survey")
        await bot.settle()
        assert len(bot.fake.calls_to("conversations.open")) > opened
        assert len(bot.inbox("U0BEN")) == had + 1
        with bot.db.session() as s:
            assert {d.status for d in s.scalars(select(Delivery).where(Delivery.intent == "pre_survey"))} == {"sent"}
        assert reachable(bot, "U0BEN") is True
        assert not any("can no longer reach" in m["text"] for m in bot.inbox("U0RITA"))

    scenario(tmp_path)


def test_slack_a_buddy_keeps_the_pair_steps_and_the_coordinator_is_told_the_pair_carries_on(tmp_path):
    @slack_scenario
    async def scenario(bot):
        cohort = await slack_pair(bot)
        # Ben leaves the workspace; Slack says so when asked and again hours later.
        bot.fake.users["U0BEN"]["deleted"] = True
        bot.run_step(cohort, "pairs-announced")
        await bot.until(lambda: held_to_confirm(bot) == 1)  # his own copy of the introduction
        bot.clock.advance(timedelta(hours=6))
        await bot.until(lambda: reachable(bot, "U0BEN") is False)
        await bot.settle()
        alert = next(m["text"] for m in bot.inbox("U0RITA") if "can no longer reach Ben Okafor" in m["text"])
        assert "Their pair carries on: Dr Asha Patel still gets the pair's steps." in alert

        # The pair's first meeting: Ben (the manager) would propose, but Asha gets the times,
        # told to let Ben know herself.
        bot.run_step(cohort, "buddy-meeting-1")
        await bot.settle()
        offer = bot.last("U0ASHA")
        assert "Which time suits you" in offer["text"]
        assert "I can't reach Ben Okafor through the app at the moment" in offer["text"]
        assert "I'll let Ben Okafor know" not in offer["text"]

    scenario(tmp_path)


def test_teams_a_403_in_the_pairs_group_chat_drops_nobody_and_the_message_goes_to_each(tmp_path):
    @teams_scenario
    async def scenario(bot):
        cohort = bot.enrol_pair()
        for user in ("29:asha", "29:ben"):
            await bot.install(user)
        await bot.add_to_group_chat(["29:asha", "29:ben"], GROUP_CHAT)
        # The bot was removed from the group chat without Teams telling it: posting there is refused.
        bot.connector.fail(403, when=lambda r: r.conversation_id == GROUP_CHAT and r.method == "POST")
        bot.run_step(cohort, "pairs-announced")
        await bot.settle()
        for user, other in (("29:asha", "Ben Okafor"), ("29:ben", "Dr Asha Patel")):
            assert other in bot.last_card(user)[1]["body"][0]["text"]
            assert bot.person(user).reachable is True
        assert bot.cards(GROUP_CHAT) == []

    scenario(tmp_path)


def test_teams_resume_of_someone_who_cannot_be_reached_says_so(tmp_path):
    @teams_scenario
    async def scenario(bot):
        bot.enrol_pair()
        for user in ("29:rita", "29:asha", "29:ben"):
            await bot.install(user)
        await bot.say("29:rita", "pause ben@trust.example until 2027-06-01")
        await bot.settle()
        assert bot.person("29:ben").reachable is True
        # Ben blocks the app: Teams refuses his next message (the resume notice), now and hours later.
        bot.connector.fail(403, times=2, when=lambda r: r.conversation_id == personal("29:ben") and r.method == "POST")
        await bot.say("29:rita", "resume ben@trust.example")
        said = bot.last_card("29:rita")[1]["body"][0]["text"]
        assert said.endswith("they get the programme's steps again.")  # reachable when resumed
        await bot.until(lambda: held_to_confirm(bot) == 1)
        bot.clock.advance(timedelta(hours=6))
        await bot.until(lambda: bot.person("29:ben").reachable is False)
        await bot.settle()
        await bot.say("29:rita", "pause ben@trust.example until 2027-06-01")
        await bot.say("29:rita", "resume ben@trust.example")
        said = bot.last_card("29:rita")[1]["body"][0]["text"]
        assert "they get the programme's steps again" not in said
        assert "I can't reach them at the moment" in said and "Their pair carries on: Dr Asha Patel" in said

    scenario(tmp_path)
