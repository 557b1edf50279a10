"""What a platform can and cannot do, asked by the core instead of testing which platform it is."""

from __future__ import annotations

from typing import Mapping

# The bot can open one conversation with all members of a pair (a Slack group DM, a console room).
GROUP_CONVERSATION = "group_conversation"
# The platform shows a form with several fields at once (Slack modal, Teams card); without it the
# core asks one question at a time in chat.
FORMS = "forms"


class Capabilities:
    def __init__(self, by_platform: Mapping[str, frozenset[str]] | None = None):
        self._by_platform = dict(by_platform or {})
        self.contact_links = ContactLinks()

    def has(self, platform: str, capability: str) -> bool:
        return capability in self._by_platform.get(platform, frozenset())

    def register(self, platform: str, capabilities: frozenset[str]) -> None:
        self._by_platform[platform] = frozenset(capabilities)


class ContactLinks:
    """Links that let one member open a chat or a meeting with the others, where the bot cannot
    create a group conversation itself. Adapters register a builder for their platform."""

    def __init__(self):
        self._builders = {}

    def register(self, platform: str, builder) -> None:
        self._builders[platform] = builder

    def links(self, platform: str, me, others: list, topic: str) -> tuple:
        """`me` and `others` are `bot.events.Profile` values (address, name, email)."""
        builder = self._builders.get(platform)
        return tuple(builder(me, others, topic)) if builder else ()
