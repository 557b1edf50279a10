"""Teams activities as core events: pure converters (no network, no botbuilder objects kept)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from adapters.teams.render import CHOICE, FORM, PICK, PICK_INPUT, SUBMIT_KIND, submitted_form
from bot.commands import COMMAND_WORDS
from bot.events import Address, Clicked, Command, InboundEvent, Said, Submitted

PLATFORM = "teams"
MENTION = re.compile(r"<at>[^<]*</at>")


def tenant_of(activity: Mapping[str, Any]) -> str:
    conversation = activity.get("conversation") or {}
    channel_data = activity.get("channelData") or {}
    return str(conversation.get("tenantId") or (channel_data.get("tenant") or {}).get("id") or "")


def who(activity: Mapping[str, Any]) -> Address:
    return Address(PLATFORM, tenant_of(activity), str((activity.get("from") or {}).get("id", "")))


FILE_DOWNLOAD = "application/vnd.microsoft.teams.file.download.info"


def attached_files(activity: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, download URL) of each file a person sent in a personal chat (the app's manifest
    declares supportsFiles; Teams gives a short-lived, pre-authorised URL)."""
    found = []
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") == FILE_DOWNLOAD:
            url = (attachment.get("content") or {}).get("downloadUrl")
            if url:
                found.append((str(attachment.get("name") or "the file"), str(url)))
    return found


def reference(activity: Mapping[str, Any]) -> dict[str, Any]:
    """How to reach the activity's conversation again, in the JSON form of botbuilder's
    ConversationReference (the activity id is left out: it changes with every message)."""
    fields = {"user": activity.get("from"), "bot": activity.get("recipient"),
              "conversation": activity.get("conversation"), "channelId": activity.get("channelId"),
              "locale": activity.get("locale"), "serviceUrl": activity.get("serviceUrl")}
    return {name: value for name, value in fields.items() if value is not None}


def plain_text(text: str) -> str:
    """What was typed, without the bot's @mention (group chats) or stray markup."""
    return MENTION.sub("", text or "").replace("&nbsp;", " ").strip()


def in_group(activity: Mapping[str, Any]) -> bool:
    """Whether others read the conversation: a group chat or a team's channel, not the personal chat."""
    return (activity.get("conversation") or {}).get("conversationType") in ("groupChat", "channel")


def event(activity: Mapping[str, Any]) -> InboundEvent | None:
    """A message activity as the core's event: a card submission, a coordinator command or text."""
    person = who(activity)
    value = activity.get("value")
    group = in_group(activity)
    if isinstance(value, dict) and value.get(SUBMIT_KIND):
        found = submission(person, value, str(activity.get("id", "")))
        return dataclasses.replace(found, in_group=group) if found is not None else None
    text = plain_text(activity.get("text", ""))
    if not text:
        return None
    first = text.split(" ", 1)[0].lower()
    # Coordinators type their commands to the bot; "help" stays a chat message, which answers with
    # the same help for everybody (the guide plus the commands the person may use).
    if first in COMMAND_WORDS and first != "help":
        return Command(person, text, event_id=activity.get("id"), in_group=group)
    return Said(person, text, event_id=activity.get("id"), in_group=group)


def submission(person: Address, value: Mapping[str, Any], activity_id: str) -> InboundEvent | None:
    kind = value.get(SUBMIT_KIND)
    if kind == CHOICE:
        return Clicked(person, str(value.get("action", "")), str(value.get("value", "")), event_id=activity_id)
    if kind == PICK:
        picked = str(value.get(PICK_INPUT) or "")
        action, sep, rest = picked.partition("|")
        if not sep:
            return None
        return Clicked(person, action, rest, event_id=activity_id)
    if kind == FORM:
        return Submitted(person, str(value.get("form", "")), submitted_form(dict(value)), event_id=activity_id)
    return None


def chosen(value: Mapping[str, Any]) -> str:
    """What the person chose, in words, for the answered card."""
    kind = value.get(SUBMIT_KIND)
    if kind == CHOICE:
        return f"You chose: {value.get('label', '')}"
    if kind == PICK:
        picked = str(value.get(PICK_INPUT) or "")
        return f"You answered {picked.rsplit(':', 1)[-1]}"
    return "Sent, thank you"
