"""Slack DM and group DM ids, kept in the conversations table (the same one the Teams adapter
keeps its references in) so a restart or another replica does not call conversations.open again
for everyone: it is a Tier 3 method, about 50 calls a minute (Slack Web API docs, 2026-12).

The reference is {"channel": "D..."} (or "G..." for a group DM). An erased person's rows go
with the rest of their data (bot/privacy.py removes conversations naming them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import Clock
from bot.context import members_key
from bot.db import Database, insert_for
from bot.events import Address
from bot.models import Conversation

PLATFORM = "slack"
log = logging.getLogger(__name__)


class StoredConversations:
    """Where the bot has reached these members before. Every call runs off the event loop.

    Keeping the ids saves calls; it never stops a message: while the database cannot be used, a
    send opens the conversation (Slack answers with the same id) and the id is kept in memory."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock
        self._failing = False
        # Ids waiting to be written (written behind the sends, one writer at a time, so a send
        # never waits for the database's write lock).
        self._unsaved: dict[str, tuple[str, bool, str]] = {}
        self._saving: asyncio.Task | None = None

    async def channel_for(self, members: Sequence[Address]) -> str | None:
        return await self._safely(self._channel_for, members_key(members))

    async def remember(self, members: Sequence[Address], channel: str) -> None:
        self._unsaved[members_key(members)] = (members[0].workspace, len(members) > 1, channel)
        if self._saving is None or self._saving.done():
            self._saving = asyncio.create_task(self._save())

    async def _save(self) -> None:
        while self._unsaved:
            batch, self._unsaved = self._unsaved, {}
            if await self._safely(self._remember_all, batch) is None:
                # Not kept this time: kept in the sender's memory meanwhile, written with the next.
                self._unsaved = {**batch, **self._unsaved}
                return

    async def saved(self) -> None:
        """Wait until the ids remembered so far are written (tests, shutdown)."""
        while self._saving is not None and not self._saving.done():
            await self._saving

    async def forget(self, members: Sequence[Address]) -> None:
        self._unsaved.pop(members_key(members), None)
        await self._safely(self._forget, members_key(members))

    async def _safely(self, call, *args):
        try:
            result = await asyncio.to_thread(call, *args)
        except SQLAlchemyError as problem:
            if not self._failing:  # once per outage: the delivery worker reports the outage itself
                log.warning("Slack DM ids cannot be read or kept just now (%s); sends open conversations "
                            "instead", type(problem).__name__)
            self._failing = True
            return None
        self._failing = False
        return result

    def _channel_for(self, key: str) -> str | None:
        with self.db.reading() as session:
            reference = session.scalars(select(Conversation.reference).where(
                Conversation.platform == PLATFORM, Conversation.members_key == key)).first()
        return (reference or {}).get("channel") or None

    def _remember_all(self, batch: dict[str, tuple[str, bool, str]]) -> bool:
        now = self.clock.now()
        with self.db.session() as session:
            insert = insert_for(session)
            for key, (workspace, is_group, channel) in batch.items():
                # Another replica may store the same conversation at the same moment: the newer id wins.
                session.execute(insert(Conversation).values(
                    platform=PLATFORM, workspace=workspace, members_key=key, is_group=is_group,
                    reference={"channel": channel}, updated_at=now).on_conflict_do_update(
                    index_elements=[Conversation.platform, Conversation.members_key],
                    set_={"reference": {"channel": channel}, "updated_at": now}))
        return True

    def _forget(self, key: str) -> None:
        with self.db.session() as session:
            session.execute(delete(Conversation).where(Conversation.platform == PLATFORM,
                                                       Conversation.members_key == key))
