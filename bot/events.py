"""Inbound events: what an adapter tells the core that a person did.

Every event names its author by an `Address`, a plain value; no Slack or Teams object crosses into
the core. `event_id` is the platform's own id where it has one, so a retried delivery of the same
event is processed once. `in_group` says the event came from a conversation other people can read
(a pair's group chat, a channel), where nothing personal may be answered or shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union


@dataclass(frozen=True, order=True)
class Address:
    """Where a person lives on a platform: platform name, workspace or tenant, user id."""

    platform: str
    workspace: str
    user: str

    def key(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.user}"

    @classmethod
    def parse(cls, key: str) -> "Address":
        platform, workspace, user = key.split(":", 2)
        return cls(platform, workspace, user)


@dataclass(frozen=True)
class Said:
    """Free text typed to the bot."""

    who: Address
    text: str
    event_id: str | None = None
    in_group: bool = False


@dataclass(frozen=True)
class Clicked:
    """A button or choice picked on a message the bot sent."""

    who: Address
    action: str
    value: str
    event_id: str | None = None
    in_group: bool = False


@dataclass(frozen=True)
class Submitted:
    """A form (modal, card) sent back with its answers, keyed by field id."""

    who: Address
    form: str
    answers: Mapping[str, str] = field(default_factory=dict)
    event_id: str | None = None
    in_group: bool = False


@dataclass(frozen=True)
class Profile:
    """A person named in a command (a mention or an email address), as the platform's directory
    knows them. The adapter looks them up before the command reaches the core."""

    mention: str  # as it appears in the command's text
    address: Address
    name: str
    email: str | None = None
    timezone: str = "Europe/London"


@dataclass(frozen=True)
class Upload:
    """A file that came with a command (a Slack upload, a Teams attachment, a path at the console),
    already fetched and decoded by the adapter."""

    name: str
    text: str


@dataclass(frozen=True)
class Command:
    """A coordinator command (`/pairbot ...` in Slack, a typed command in Teams or the console).
    `people` are the people it names, looked up by the adapter; `unknown` the names it could not find."""

    who: Address
    text: str
    event_id: str | None = None
    people: tuple[Profile, ...] = ()
    unknown: tuple[str, ...] = ()
    uploads: tuple[Upload, ...] = ()
    in_group: bool = False


@dataclass(frozen=True)
class Joined:
    """The bot was installed for, or first reached by, a person."""

    who: Address
    event_id: str | None = None


InboundEvent = Union[Said, Clicked, Submitted, Command, Joined]
