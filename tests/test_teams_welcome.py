"""One welcome per install in Teams: adding the app brings both a conversationUpdate and an
installationUpdate, in either order, through the real botbuilder adapter to a fake Bot Connector."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.models import Conversation
from loopback_bot import scenario_runner
from teams_harness import personal, start_bot, stop_bot

scenario = scenario_runner(start_bot, stop_bot)


def welcomes(bot, user: str) -> int:
    return sum("I'm Pairbot" in card["body"][0]["text"] for _id, card in bot.cards(personal(user)))


async def remove(bot, user: str) -> int:
    return await bot.post(bot._activity("installationUpdate", user,
                                        {"id": personal(user), "conversationType": "personal"}, action="remove"))


def test_adding_the_app_welcomes_once_whichever_activity_comes_first(tmp_path):
    @scenario
    async def adding(bot):
        bot.enrol_pair()
        assert await bot.install("29:asha", via="conversationUpdate") == 201
        assert await bot.install("29:asha", via="installationUpdate") == 201
        assert await bot.install("29:ben", via="installationUpdate") == 201
        assert await bot.install("29:ben", via="conversationUpdate") == 201
        # Both at the same moment (two turns in flight): still one.
        assert await asyncio.gather(bot.install("29:rita", via="conversationUpdate"),
                                    bot.install("29:rita", via="installationUpdate")) == [201, 201]
        assert [welcomes(bot, u) for u in ("29:asha", "29:ben", "29:rita")] == [1, 1, 1]
        assert [len(bot.cards(personal(u))) for u in ("29:asha", "29:ben", "29:rita")] == [1, 1, 1]
        # An app upgrade is no new install.
        await bot.post(bot._activity("installationUpdate", "29:asha",
                                     {"id": personal("29:asha"), "conversationType": "personal"}, action="add-upgrade"))
        assert welcomes(bot, "29:asha") == 1
        assert len(bot.cards(personal("29:asha"))) == 1
        # What she sends afterwards is answered as usual.
        await bot.say("29:asha", "help")
        assert len(bot.cards(personal("29:asha"))) == 2

    adding(tmp_path)


def test_removing_and_adding_the_app_again_welcomes_again_once(tmp_path):
    @scenario
    async def again(bot):
        bot.enrol_pair()
        await bot.install("29:asha", via="conversationUpdate")
        await bot.install("29:asha", via="installationUpdate")
        assert await remove(bot, "29:asha") == 201
        with bot.db.session() as s:  # nothing can reach her until she adds the app again
            assert not s.scalars(select(Conversation).where(Conversation.members_key.like("%29:asha"))).all()
        await bot.install("29:asha", via="installationUpdate")
        await bot.install("29:asha", via="conversationUpdate")
        assert welcomes(bot, "29:asha") == 2
        with bot.db.session() as s:
            assert s.scalars(select(Conversation).where(Conversation.members_key.like("%29:asha"))).one()

    again(tmp_path)
