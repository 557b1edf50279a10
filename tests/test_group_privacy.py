"""Private stays private in a pair's group conversation, through the real Slack and Teams adapters:
a remark there answers no personal question and is not saved; personal commands answer with a
pointer in the group and send their content to the person's own chat only."""

from __future__ import annotations

import json

from sqlalchemy import func, select

import slack_harness
import teams_harness
from bot.events import Submitted
from bot.messages import Message
from bot.models import Delivery, ProcessedEvent, Prompt, Reflection, SurveyResponse
from loopback_bot import scenario_runner
from teams_harness import personal

POINTER = "I've sent you that in our private chat"
GROUP_CHAT = "19:pairchat@thread.v2"
slack_scenario = scenario_runner(slack_harness.start_bot, slack_harness.stop_bot)
teams_scenario = scenario_runner(teams_harness.start_bot, teams_harness.stop_bot)


def reflections(bot) -> int:
    with bot.db.session() as s:
        return s.scalar(select(func.count()).select_from(Reflection))


def open_reflection_prompts(bot) -> int:
    with bot.db.session() as s:
        return s.scalar(select(func.count()).select_from(Prompt).where(Prompt.flow == "reflection",
                                                                      Prompt.status == "open"))


def answer_pre_survey(bot, who) -> None:
    """Asha answers the pre-survey (set-up: the answers exist before she asks for them)."""
    with bot.db.session() as s:
        (delivery,) = [d for d in s.scalars(select(Delivery).where(Delivery.intent == "pre_survey"))
                       if d.recipient["members"] == [who.key()]]
        form = Message.from_dict(delivery.message).form
    bot.core.handle(Submitted(who, form.id, {f.id: "4" for f in form.fields if f.kind == "scale"}))


def handled(bot, event_id: str) -> bool:
    """The bot has processed the event (it keeps every event id it handled)."""
    with bot.db.session() as s:
        return any(k.endswith(event_id) for k in s.scalars(select(ProcessedEvent.event_key)))


# --- Slack ---------------------------------------------------------------------------------------
async def slack_pair_with_group_dm(bot) -> tuple[int, str]:
    cohort = bot.make_cohort()
    await bot.command("U0RITA", "enrol <@U0ASHA|asha> clinician")
    await bot.command("U0RITA", "enrol ben@trust.example manager")
    await bot.until(lambda: len(bot.fake.responses) == 2)
    bot.pair_up(cohort, ["U0ASHA", "U0BEN"])
    bot.run_step(cohort, "pairs-announced")
    await bot.settle()
    return cohort, bot.channel_of("U0ASHA", "U0BEN")


def test_slack_a_remark_in_the_group_dm_is_not_saved_as_a_reflection_and_gets_no_reply(tmp_path):
    @slack_scenario
    async def scenario(bot):
        cohort, group = await slack_pair_with_group_dm(bot)
        bot.run_step(cohort, "reflection")
        await bot.settle()
        assert open_reflection_prompts(bot) == 2
        shown = len(bot.messages_in(group))

        assert (await bot.group_message(group, "U0ASHA", "Thanks Ben, see you on Thursday!", "Ev-g1")).status == 200
        await bot.until(lambda: handled(bot, "Ev-g1"))
        assert reflections(bot) == 0 and open_reflection_prompts(bot) == 2
        assert len(bot.messages_in(group)) == shown and bot.ephemerals(group, "U0ASHA") == []
        assert not any("Saved" in m["text"] for m in bot.inbox("U0ASHA"))

        # The same words in her own DM do answer her reflection (so the remark above could have).
        await bot.dm("U0ASHA", "Saw how discharge planning works.", "Ev-d1")
        await bot.until(lambda: reflections(bot) == 1)
        await bot.until(lambda: "Saved" in bot.last("U0ASHA")["text"])

    scenario(tmp_path)


def test_slack_my_answers_and_my_data_in_the_group_dm_point_to_the_dm_and_go_there_only(tmp_path):
    @slack_scenario
    async def scenario(bot):
        cohort, group = await slack_pair_with_group_dm(bot)
        bot.run_step(cohort, "pre-survey")
        await bot.settle()
        answer_pre_survey(bot, slack_harness.address("U0ASHA"))
        dm = bot.channel_of("U0ASHA")

        assert (await bot.command("U0ASHA", "my-answers", channel=group)).status == 200
        await bot.until(lambda: len(bot.fake.responses) == 3)
        assert bot.fake.responses[-1]["text"] == f"{POINTER}."
        await bot.settle()
        assert "Before we start (pre, open until" in bot.last("U0ASHA")["text"]
        assert not any("Before we start" in m["text"] for m in bot.messages_in(group))

        assert (await bot.command("U0ASHA", "my-data", channel=group)).status == 200
        await bot.until(lambda: len(bot.fake.responses) == 4)
        assert bot.fake.responses[-1]["text"] == f"{POINTER}."
        await bot.settle()
        (copy,) = [f for f in bot.fake.files.values() if f["channels"]]
        assert copy["channels"] == [dm] and copy["name"].startswith("pairbot-my-data-")
        assert json.loads(copy["content"].decode())["person"]["name"] == "Dr Asha Patel"

    scenario(tmp_path)


# --- Teams ---------------------------------------------------------------------------------------
async def teams_pair_with_group_chat(bot) -> int:
    cohort = bot.enrol_pair()
    for user in ("29:asha", "29:ben"):
        await bot.install(user)
    await bot.add_to_group_chat(["29:asha", "29:ben"], GROUP_CHAT)
    bot.run_step(cohort, "pairs-announced")
    await bot.settle()
    return cohort


def group_texts(bot) -> list[str]:
    return [c["body"][0]["text"] for _, c in bot.cards(GROUP_CHAT)]


def test_teams_a_remark_in_the_group_chat_is_not_saved_as_a_reflection_and_gets_no_reply(tmp_path):
    @teams_scenario
    async def scenario(bot):
        cohort = await teams_pair_with_group_chat(bot)
        bot.run_step(cohort, "reflection")
        await bot.settle()
        shown = len(group_texts(bot))

        assert await bot.say_in_group("29:asha", "Thanks Ben, see you on Thursday!") == 201
        await bot.settle()
        assert reflections(bot) == 0 and open_reflection_prompts(bot) == 2
        assert len(group_texts(bot)) == shown
        assert not any("Only you can see" in t or "Saved" in t for t in group_texts(bot))

        # In her personal chat, the same words are her reflection (so the remark above could have been).
        assert await bot.say("29:asha", "Saw how discharge planning works.") == 201
        assert reflections(bot) == 1

    scenario(tmp_path)


def test_teams_my_answers_and_my_data_in_the_group_chat_point_to_the_personal_chat(tmp_path):
    @teams_scenario
    async def scenario(bot):
        cohort = await teams_pair_with_group_chat(bot)
        bot.run_step(cohort, "pre-survey")
        await bot.settle()
        answer_pre_survey(bot, teams_harness.Address("teams", teams_harness.TENANT, "29:asha"))
        with bot.db.session() as s:
            assert s.scalar(select(func.count()).select_from(SurveyResponse)) > 0
        before = len(group_texts(bot))

        assert await bot.say_in_group("29:asha", "my-answers") == 201
        assert group_texts(bot)[before:] == [f"{POINTER}."]
        await bot.settle()
        assert "Before we start (pre, open until" in bot.last_card("29:asha")[1]["body"][0]["text"]
        assert not any("Before we start" in t for t in group_texts(bot))

        assert await bot.say_in_group("29:asha", "my-data") == 201
        assert group_texts(bot)[before + 1:] == [f"{POINTER}."]
        await bot.settle()
        offer = [s for s in bot.connector.to(personal("29:asha")) if s.method == "POST"][-1]
        consent = offer.activity["attachments"][0]
        assert consent["contentType"] == "application/vnd.microsoft.teams.card.file.consent"
        assert consent["name"].startswith("pairbot-my-data-") and consent["content"]["acceptContext"] == {
            "command": "my-data"}
        in_group = [a for s in bot.connector.to(GROUP_CHAT) for a in s.activity.get("attachments") or []]
        assert not any(a["contentType"].startswith("application/vnd.microsoft.teams.card.file") for a in in_group)

    scenario(tmp_path)
