"""Conversation references: how the bot reaches a person (their personal chat with Pairbot) or a
pair (a group chat they made and added Pairbot to). Stored when the app is installed and refreshed
on every message, because Teams may move a conversation to another service URL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.context import members_key
from bot.db import Database
from bot.events import Address
from bot.models import Conversation


def remember(db: Database, workspace: str, members: list[Address], reference: dict, is_group: bool,
             now: datetime) -> bool:
    """Store or refresh the reference; True if the conversation was not known before."""
    key = members_key(members)
    try:
        with db.session() as session:
            found = session.scalars(select(Conversation).where(Conversation.platform == members[0].platform,
                                                               Conversation.members_key == key)).first()
            if found is None:
                session.add(Conversation(platform=members[0].platform, workspace=workspace, members_key=key,
                                         is_group=is_group, reference=reference, updated_at=now))
                return True
            if found.reference != reference or found.is_group != is_group:
                found.reference, found.is_group, found.updated_at = reference, is_group, now
            return False
    except IntegrityError:  # stored at the same moment by another turn (or replica)
        return False


def forget_person(db: Database, person: Address) -> None:
    """The person removed the app: until they add it again the bot cannot reach them."""
    with db.session() as session:
        session.execute(delete(Conversation).where(Conversation.platform == person.platform,
                                                   Conversation.members_key == members_key([person])))


def forget_group(db: Database, platform: str, conversation_id: str) -> None:
    """The bot was removed from a group chat: pair messages go to each member again."""
    with db.session() as session:
        for found in session.scalars(select(Conversation).where(Conversation.platform == platform,
                                                                Conversation.is_group.is_(True))):
            if (found.reference.get("conversation") or {}).get("id") == conversation_id:
                session.delete(found)


def reference_for(db: Database, members: tuple[Address, ...]) -> dict | None:
    with db.session() as session:
        found = session.scalars(select(Conversation).where(Conversation.platform == members[0].platform,
                                                           Conversation.members_key == members_key(members))).first()
        return dict(found.reference) if found else None
