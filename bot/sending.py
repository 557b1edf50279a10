"""The port through which the delivery worker hands a message to a platform adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.messages import Message, Recipient


@dataclass(frozen=True)
class Sent:
    """A message the platform accepted; `ref` lets the adapter update it later (Slack ts, Teams id)."""

    ref: str = ""


class RetryLater(Exception):
    """The platform is busy (429, 5xx): try again after `after_seconds`."""

    def __init__(self, reason: str, after_seconds: float = 1.0):
        super().__init__(reason)
        self.after_seconds = after_seconds


class Unreachable(Exception):
    """This recipient cannot be reached (left the workspace, blocked the app)."""


class Sender(Protocol):
    platform: str
    capabilities: frozenset[str]

    async def send(self, recipient: Recipient, message: Message) -> Sent: ...

    def pacing_key(self, recipient: Recipient) -> str:
        """Deliveries with the same key are spaced by `seconds_between_sends`."""
        ...

    seconds_between_sends: float
