"""Slack DM ids outlive the process: a restart on the same database sends to the conversations
already opened without calling conversations.open again (a Tier 3 method), and a stale id is
opened afresh once and the new id kept."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from adapters import runtime
from bot import enrolment
from bot.config import DatabaseSettings, ServerSettings, Settings, SlackSettings
from bot.models import Cohort, Conversation, Organisation
from slack_harness import PEOPLE, SECRET, address, free_port, start_bot, stop_bot

PAIR = ("U0ASHA", "U0BEN")


async def restart(bot) -> None:
    """Stop the running Pairbot and start a new one on the same database and fake Slack."""
    url = bot.db.url
    await bot.running.close()
    settings = Settings(
        database=DatabaseSettings(url=url), server=ServerSettings(host="127.0.0.1", port=free_port()),
        slack=SlackSettings(enabled=True, bot_token=bot.fake.bot_token, signing_secret=SECRET,
                            api_url=bot.fake.api_url, seconds_between_sends=0.0))
    bot.running = await runtime.start(settings, bot.clock)


def enrol_pair(bot) -> int:
    cohort_id = bot.make_cohort()
    now = bot.clock.now()
    with bot.db.session() as session:
        cohort = session.get(Cohort, cohort_id)
        org = session.get(Organisation, cohort.organisation_id)
        for user, role in zip(PAIR, ("clinician", "manager")):
            enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                address=address(user), name=PEOPLE[user][0], role=role, email=PEOPLE[user][1]), now)
    bot.pair_up(cohort_id, list(PAIR))
    return cohort_id


def opened_since(bot, mark: int) -> list[str]:
    """Conversations opened with the pair (the coordinator's first digest may open hers meanwhile)."""
    opened = [c.args.get("users", "") for c in bot.fake.calls[mark:] if c.method == "conversations.open"]
    return [users for users in opened if set(users.split(",")) <= set(PAIR)]


def test_a_restart_reaches_people_without_opening_their_conversations_again(tmp_path):
    async def main():
        bot = await start_bot(tmp_path)
        try:
            cohort = enrol_pair(bot)
            mark = len(bot.fake.calls)
            bot.run_step(cohort, "pairs-announced")  # the pair's group DM
            bot.run_step(cohort, "launch-workshop")  # each member's DM
            await bot.settle()
            assert sorted(opened_since(bot, mark)) == ["U0ASHA", "U0ASHA,U0BEN", "U0BEN"]
            group, asha_dm, ben_dm = bot.channel_of(*PAIR), bot.channel_of("U0ASHA"), bot.channel_of("U0BEN")

            await restart(bot)
            # An admin deleted Asha's DM with the bot: its id is stale.
            bot.fake.forget_channel(asha_dm)
            mark = len(bot.fake.calls)
            bot.run_step(cohort, "pre-survey")  # each member's DM
            bot.run_step(cohort, "buddy-meeting-1")  # a slot offer
            await bot.settle()
            assert opened_since(bot, mark) == ["U0ASHA"]  # only the stale one, once
            new_dm = bot.channel_of("U0ASHA")
            assert new_dm != asha_dm
            for channel in (new_dm, ben_dm):
                assert any("few quick questions" in m["text"] for m in bot.messages_in(channel))
            assert any("first buddy meeting" in m["text"] for c in (new_dm, ben_dm) for m in bot.messages_in(c))

            await restart(bot)
            mark = len(bot.fake.calls)
            before = {c: len(bot.messages_in(c)) for c in (new_dm, ben_dm)}
            bot.run_step(cohort, "fit-check")  # each member's DM
            await bot.settle()
            assert opened_since(bot, mark) == []
            assert {c: len(bot.messages_in(c)) - n for c, n in before.items()} == {new_dm: 1, ben_dm: 1}
            with bot.db.session() as s:
                stored = {r.members_key: r.reference["channel"]
                          for r in s.scalars(select(Conversation).where(Conversation.platform == "slack"))}
            pairs_own = sorted(c for c in stored.values() if c != bot.channel_of("U0RITA"))
            assert pairs_own == sorted([group, new_dm, ben_dm])
        finally:
            await stop_bot(bot)

    asyncio.run(main())
