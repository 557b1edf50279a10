"""The port through which the delivery worker hands a message to a platform adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.events import Address
from bot.messages import Message, Recipient


@dataclass(frozen=True)
class Sent:
    """A message the platform accepted; `ref` lets the adapter update it later (Slack ts, Teams id).
    `unreachable` names members of a group recipient the platform could not reach (the message
    went to the others)."""

    ref: str = ""
    unreachable: tuple[Address, ...] = ()


class RetryLater(Exception):
    """The platform is busy (429, 5xx): try again after `after_seconds`. The worker pauses that
    conversation meanwhile; `app_wide`: the platform asks the whole app to wait."""

    def __init__(self, reason: str, after_seconds: float = 1.0, app_wide: bool = False):
        super().__init__(reason)
        self.after_seconds = after_seconds
        self.app_wide = app_wide


class Unreachable(Exception):
    """This recipient cannot be reached (left the workspace, blocked the app). `members` narrows
    it down to the people who are gone, when the adapter knows; otherwise the whole recipient.
    `ask_again`: the platform's answer may be stale, so the worker asks once more hours later; an
    adapter that knows for sure (no way to reach them was ever stored) says False."""

    def __init__(self, reason: str, members: tuple[Address, ...] = (), ask_again: bool = True):
        super().__init__(reason)
        self.members = members
        self.ask_again = ask_again


class Sender(Protocol):
    platform: str
    capabilities: frozenset[str]

    async def send(self, recipient: Recipient, message: Message, key: str = "") -> Sent:
        """Send one delivery; `key` is its outbox idempotency key (a form button can name it)."""
        ...

    def pacing_key(self, recipient: Recipient) -> str:
        """Deliveries with the same key are spaced by `seconds_between_sends`."""
        ...

    seconds_between_sends: float

    # Optional: `messages_per_second`, the platform's app-wide rate; the worker keeps under it.

    # Optional: `async def update(recipient, ref, message) -> Sent` redraws a message sent earlier
    # (`ref` from its Sent) for a message with `replaces`; without it the worker sends it anew.
