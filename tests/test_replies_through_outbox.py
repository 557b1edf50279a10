"""A direct reply the platform will not take just now (Slack 5xx or a second 429, Teams 429) goes
out through the outbox instead of being lost; a Slack token that is refused shows in Health."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

import slack_harness
import teams_harness
from adapters.slack.token_health import PART as SLACK_TOKEN
from bot.messages import Message
from bot.models import Delivery


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario, timeout=60))


async def until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def replies_in_outbox(bot) -> list[tuple[str, str]]:
    with bot.db.session() as session:
        return [(d.idempotency_key, d.status) for d in session.scalars(
            select(Delivery).where(Delivery.idempotency_key.like("reply:%")))]


def texts(bot, user: str) -> list[str]:
    return [m.get("text", "") for m in bot.inbox(user)]


def test_a_slack_reply_that_meets_a_5xx_or_a_second_429_goes_out_through_the_outbox(tmp_path):
    async def scenario():
        bot = await slack_harness.start_bot(tmp_path)
        try:
            assert (await bot.dm("U0ASHA", "help", event_id="Ev-first")).status == 200
            await until(lambda: texts(bot, "U0ASHA"), 10, "the first direct reply")
            answer = texts(bot, "U0ASHA")[-1]

            # Slack is unwell for one call: the reply is not lost, the worker sends it.
            bot.fake.fail("chat.postMessage", "internal_error", times=1)
            assert (await bot.dm("U0ASHA", "help", event_id="Ev-unwell")).status == 200
            await until(lambda: len(texts(bot, "U0ASHA")) == 2, 10, "the reply through the outbox")
            assert texts(bot, "U0ASHA")[-1] == answer
            # Recorded a moment after Slack took it (the worker records results in small groups).
            await until(lambda: replies_in_outbox(bot) == [("reply:slack:Ev-unwell:0", "sent")], 10,
                        "the outbox to record the reply as sent")

            # A 429, and another on bolt's one retry: through the outbox as well.
            bot.fake.rate_limit("chat.postMessage", times=2, retry_after=1)
            assert (await bot.dm("U0ASHA", "help", event_id="Ev-busy")).status == 200
            await until(lambda: len(texts(bot, "U0ASHA")) == 3, 15, "the rate-limited reply")
            await until(lambda: ("reply:slack:Ev-busy:0", "sent") in replies_in_outbox(bot), 10,
                        "the outbox to record the rate-limited reply as sent")
        finally:
            await slack_harness.stop_bot(bot)

    run(scenario())


def test_a_revoked_slack_token_is_a_health_trouble_until_a_call_works_again(tmp_path):
    async def scenario():
        bot = await slack_harness.start_bot(tmp_path)
        health = bot.running.health
        try:
            assert SLACK_TOKEN not in health.troubles()
            bot.fake.valid_tokens.clear()  # the workspace revoked the app's token
            await asyncio.to_thread(bot.core.reply_later, slack_harness.address("U0ASHA"),
                                    [Message("Your buddy meeting is next week.", intent="status")], "revoked")
            await until(lambda: SLACK_TOKEN in health.troubles(), 10, "the refused token to show")
            assert "invalid_auth" in health.troubles()[SLACK_TOKEN].reason
            with bot.db.session() as session:
                kept = session.scalars(select(Delivery).where(Delivery.idempotency_key == "reply:revoked:0")).one()
                assert kept.status == "pending" and "invalid_auth" in kept.last_error  # retried later, not dropped

            bot.fake.valid_tokens.add(bot.fake.bot_token)  # reinstalled
            assert (await bot.dm("U0ASHA", "help", event_id="Ev-again")).status == 200
            await until(lambda: SLACK_TOKEN not in health.troubles(), 10, "the trouble to end")
        finally:
            await slack_harness.stop_bot(bot)

    run(scenario())


def test_a_teams_reply_that_meets_a_429_goes_out_through_the_outbox_and_teams_gets_its_answer(tmp_path):
    async def scenario():
        bot = await teams_harness.start_bot(tmp_path)
        chat = teams_harness.personal("29:asha")

        def cards() -> int:
            return len(bot.cards(chat))

        try:
            assert await bot.install("29:asha") == 201
            await until(lambda: cards() == 1, 10, "the welcome")
            bot.connector.fail(429, times=1, retry_after=1, when=lambda sent: sent.method == "POST")
            assert await bot.say("29:asha", "help") == 201  # not a 500
            await until(lambda: cards() == 2, 15, "the reply through the outbox")
            await until(lambda: [status for _key, status in replies_in_outbox(bot)] == ["sent"], 10,
                        "the outbox to record the reply as sent")
            keys = replies_in_outbox(bot)
            assert len(keys) == 1 and keys[0][0].startswith("reply:teams:") and keys[0][1] == "sent"
            # a 500 from Teams on the reply: the same
            bot.connector.fail(500, times=1, when=lambda sent: sent.method == "POST")
            assert await bot.say("29:asha", "help") == 201
            await until(lambda: cards() == 3, 15, "the second reply through the outbox")
        finally:
            await teams_harness.stop_bot(bot)

    run(scenario())
