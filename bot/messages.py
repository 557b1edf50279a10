"""Outbound messages: platform-neutral values that each adapter renders its own way.

A message is text plus, optionally, choices (buttons), a form (survey items, a reflection box),
links, a file and a calendar invitation. It round-trips through JSON because the outbox stores it until a delivery worker sends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.events import Address


@dataclass(frozen=True)
class Choice:
    label: str
    action: str
    value: str


@dataclass(frozen=True)
class Field:
    """One question of a form. kind: "scale" (1-5 with anchors), "text", or "choice"."""

    id: str
    label: str
    kind: str
    low_anchor: str = ""
    high_anchor: str = ""
    options: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class Form:
    id: str
    title: str
    fields: tuple[Field, ...]
    submit_label: str = "Send"


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Document:
    """A file for the reader to keep (a CSV export): adapters upload it beside the text. `command`
    makes it again, for a platform that offers a file first and sends it once accepted (Teams)."""

    name: str
    media_type: str
    content: str
    command: str = ""


@dataclass(frozen=True)
class Invitation:
    """A calendar invitation to one meeting for one participant. Only these ids travel: the .ics is
    made when the message goes out (`Pairbot.calendar`), from that person's copy as it is then, so
    the outbox holds nobody's email and a late message never carries a stale time."""

    meeting_id: int
    participant_id: int
    sequence: int
    cancelled: bool = False


@dataclass(frozen=True)
class Message:
    text: str
    choices: tuple[Choice, ...] = ()
    form: Form | None = None
    links: tuple[Link, ...] = ()
    intent: str = ""
    document: Document | None = None
    # The outbox key of an earlier message to the same recipient that this one redraws (its
    # buttons replaced by what happened); a platform that cannot redraw sends it as a new message.
    replaces: str = ""
    # What to count again when it goes out ("digest:<cohort id>:<heading>"): a digest held back by
    # quiet hours shows the figures of when it is read, not of when it was written.
    recount: str = ""
    # A calendar invitation (or cancellation) that goes with the text: a file in Slack, links in Teams.
    invitation: Invitation | None = None
    # For a direct reply: the outbox key it is kept under once posted (`Pairbot.replied`), so a
    # later message can redraw it (`replaces`) as it can one the outbox sent.
    reply_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies every value, and a step's fan-out writes
        # thousands of messages at once.
        form = self.form
        return {
            "text": self.text,
            "choices": [_plain(c) for c in self.choices],
            "form": None if form is None else {
                "id": form.id, "title": form.title, "fields": [_plain(f) for f in form.fields],
                "submit_label": form.submit_label},
            "links": [_plain(link) for link in self.links],
            "intent": self.intent,
            "document": None if self.document is None else _plain(self.document),
            "replaces": self.replaces,
            "recount": self.recount,
            "invitation": None if self.invitation is None else _plain(self.invitation),
            "reply_key": self.reply_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Message":
        form = data.get("form")
        return cls(
            text=data["text"],
            choices=tuple(Choice(**c) for c in data.get("choices", ())),
            form=Form(
                id=form["id"],
                title=form["title"],
                fields=tuple(
                    Field(**{**f, "options": tuple(f.get("options", ()))}) for f in form["fields"]
                ),
                submit_label=form.get("submit_label", "Send"),
            )
            if form
            else None,
            links=tuple(Link(**link) for link in data.get("links", ())),
            intent=data.get("intent", ""),
            document=Document(**data["document"]) if data.get("document") else None,
            replaces=data.get("replaces", ""),
            recount=data.get("recount", ""),
            invitation=Invitation(**data["invitation"]) if data.get("invitation") else None,
            reply_key=data.get("reply_key", ""),
        )


def _plain(value) -> dict[str, Any]:
    """A dataclass whose fields are plain values (or tuples of them) as a JSON-ready dict."""
    return {name: list(v) if isinstance(v, tuple) else v for name, v in value.__dict__.items()}


@dataclass(frozen=True)
class Recipient:
    """Who a delivery goes to: one person, or a pair's group conversation (all members at once)."""

    members: tuple[Address, ...]
    group: bool = False

    @classmethod
    def person(cls, address: Address) -> "Recipient":
        return cls((address,), False)

    @classmethod
    def pair_group(cls, addresses: tuple[Address, ...]) -> "Recipient":
        return cls(tuple(sorted(addresses)), True)

    def to_dict(self) -> dict[str, Any]:
        return {"members": [m.key() for m in self.members], "group": self.group}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Recipient":
        return cls(tuple(Address.parse(k) for k in data["members"]), bool(data["group"]))


@dataclass(frozen=True)
class Reply:
    """A message back to the person who caused an event, sent by the adapter in its own way
    (an ephemeral response to a slash command, an updated card after a click, a console line)."""

    message: Message
    replaces_prompt: bool = field(default=False)
