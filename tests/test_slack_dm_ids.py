"""Slack DM ids outlive the process: a restart on the same database sends to the conversations
already opened without calling conversations.open again (a Tier 3 method), and a stale id is
opened afresh once and the new id kept."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from adapters import runtime
from bot import enrolment, migrate
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


def test_a_first_step_to_new_people_opens_their_conversations_at_slacks_tier3_pace(sqlite_url):
    """Everyone new needs conversations.open (Tier 3, "50+ per minute") before their first message:
    the sender keeps to that pace, so Slack refuses none of them."""
    from datetime import datetime, timezone

    from adapters.slack.installs import FixedToken
    from adapters.slack.sender import MethodPace, SlackSender
    from bot import outbox
    from bot.clock import ManualClock
    from bot.core import Pairbot
    from bot.db import Database
    from bot.events import Address
    from bot.messages import Message, Recipient
    from fake_slack import FakeSlack, SlackLimits
    from scheduler.delivery import DeliveryWorker

    users = [f"U{n:03d}" for n in range(12)]
    # The fake allows bursts of 3 and refills 10 a second; the sender keeps a little inside that.
    limits = SlackLimits(post_per_channel=100, post_per_channel_burst=100, post_per_workspace=1000,
                         post_per_workspace_burst=1000, tier3_per_minute=600, tier3_burst=3)

    async def main():
        async with FakeSlack(team_id="T1", enforce_limits=True, limits=limits) as fake:
            for user in users:
                fake.add_user(user, f"Person {user}")
            db = Database(sqlite_url)
            migrate.upgrade(db.engine)
            core = Pairbot(db, ManualClock(datetime(2026, 12, 1, 9, tzinfo=timezone.utc)))
            with db.session() as session:
                outbox.record(session, [outbox.Outgoing(key=f"welcome:{u}", recipient=Recipient.person(
                    Address("slack", "T1", u)), message=Message("Welcome")) for u in users], core.clock.now())
            sender = SlackSender(FixedToken(fake.bot_token), fake.api_url, seconds_between_sends=0.0,
                                 messages_per_second=1000, tier3=MethodPace(per_minute=500, burst=2))
            assert await DeliveryWorker(core, sender).drain() == len(users)
            assert fake.throttled == {}
            assert len(fake.calls_to("conversations.open")) == len(users)
            welcomed = {next(iter(fake._channels[c].members - {fake.bot_user_id}))
                        for c, messages in fake.messages.items() if messages}
            assert welcomed == set(users)
            db.dispose()

    asyncio.run(main())
