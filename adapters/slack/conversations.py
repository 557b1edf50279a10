"""Slack DM and group DM ids, kept in the conversations table (the same one the Teams adapter
keeps its references in) so a restart or another replica does not call conversations.open again
for everyone: it is a Tier 3 method, about 50 calls a minute (Slack Web API docs, 2026-12).

The reference is {"channel": "D..."} (or "G..." for a group DM). An erased person's rows go
with the rest of their data (bot/privacy.py removes conversations naming them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import delete, select

from bot.clock import Clock
from bot.context import members_key
from bot.db import Database, insert_for
from bot.events import Address
from bot.models import Conversation

PLATFORM = "slack"


class StoredConversations:
    """Where the bot has reached these members before. Every call runs off the event loop."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    async def channel_for(self, members: Sequence[Address]) -> str | None:
        return await asyncio.to_thread(self._channel_for, members_key(members))

    async def remember(self, members: Sequence[Address], channel: str) -> None:
        await asyncio.to_thread(self._remember, members[0].workspace, members_key(members), len(members) > 1,
                                channel)

    async def forget(self, members: Sequence[Address]) -> None:
        await asyncio.to_thread(self._forget, members_key(members))

    def _channel_for(self, key: str) -> str | None:
        with self.db.session() as session:
            reference = session.scalars(select(Conversation.reference).where(
                Conversation.platform == PLATFORM, Conversation.members_key == key)).first()
        return (reference or {}).get("channel") or None

    def _remember(self, workspace: str, key: str, is_group: bool, channel: str) -> None:
        now = self.clock.now()
        with self.db.session() as session:
            insert = insert_for(session)
            # Another replica may store the same conversation at the same moment: the newer id wins.
            session.execute(insert(Conversation).values(
                platform=PLATFORM, workspace=workspace, members_key=key, is_group=is_group,
                reference={"channel": channel}, updated_at=now).on_conflict_do_update(
                index_elements=[Conversation.platform, Conversation.members_key],
                set_={"reference": {"channel": channel}, "updated_at": now}))

    def _forget(self, key: str) -> None:
        with self.db.session() as session:
            session.execute(delete(Conversation).where(Conversation.platform == PLATFORM,
                                                       Conversation.members_key == key))
