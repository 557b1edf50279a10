"""The console adapter's sending side: prints messages; a group conversation is one room."""

from __future__ import annotations

from typing import Awaitable, Callable

from bot.capabilities import GROUP_CONVERSATION
from bot.messages import Message, Recipient
from bot.sending import Sent

PLATFORM = "console"


class ConsoleSender:
    platform = PLATFORM
    capabilities = frozenset({GROUP_CONVERSATION})
    seconds_between_sends = 0.0

    def __init__(self, deliver: Callable[[Recipient, Message], Awaitable[None]]):
        self._deliver = deliver
        self._count = 0

    def pacing_key(self, recipient: Recipient) -> str:
        return ",".join(m.key() for m in recipient.members)

    async def send(self, recipient: Recipient, message: Message, key: str = "") -> Sent:
        self._count += 1
        await self._deliver(recipient, message)
        return Sent(ref=f"console-{self._count}")
