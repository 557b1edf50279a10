"""Slack payloads as core events: pure converters, one per payload kind (no network, no bolt)."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from adapters.slack.render import form_answers, parse_choice_value
from bot.commands import COMMAND_WORDS
from bot.events import Address, Clicked, Command, Said, Submitted

PLATFORM = "slack"
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
EMAIL = re.compile(r"<mailto:([^|>]+)\|[^>]*>|\b([^\s<>@]+@[^\s<>@]+\.[^\s<>@]+)\b")


def address(team_id: str, user_id: str) -> Address:
    return Address(PLATFORM, team_id, user_id)


def team_of(body: Mapping[str, Any]) -> str:
    """The workspace a payload comes from (events, commands and interactions put it differently)."""
    team = body.get("team_id") or (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    return str(team or "")


# Where a message was typed: the bot's DM with the person, or a conversation others read.
DIRECT = "im"
GROUP_TYPES = ("mpim", "channel", "group")  # a group DM, a public or a private channel


def is_group_channel(channel_id: str) -> bool:
    """Slack's conversation ids start with D for a DM, G or C for group DMs and channels."""
    return bool(channel_id) and not channel_id.startswith("D")


def is_person_message(event: Mapping[str, Any]) -> bool:
    """A person typing in a DM with the bot (perhaps with a file), or in a group DM or channel the
    bot is in; not an edit, a bot or a join notice."""
    return (event.get("channel_type") in (DIRECT, *GROUP_TYPES) and event.get("subtype") in (None, "file_share")
            and not event.get("bot_id") and bool(event.get("user")))


def from_group(event: Mapping[str, Any]) -> bool:
    return event.get("channel_type") != DIRECT


def typed_command(body: Mapping[str, Any]) -> Command | None:
    """A coordinator command typed in the DM rather than through /pairbot: the way to send a file
    with it (a CSV to import, a programme file), since slash commands cannot carry files."""
    event = body["event"]
    text = plain_text(event.get("text", ""))
    first = text.split(" ", 1)[0].lower() if text else ""
    if first not in COMMAND_WORDS or first == "help":
        return None
    return Command(address(team_of(body), event["user"]), text, event_id=body.get("event_id"),
                   in_group=from_group(event))


def shared_files(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in event.get("files") or [] if f.get("url_private_download")]


def said(body: Mapping[str, Any]) -> Said:
    event = body["event"]
    return Said(address(team_of(body), event["user"]), plain_text(event.get("text", "")),
                event_id=body.get("event_id"), in_group=from_group(event))


def clicked(body: Mapping[str, Any], action: Mapping[str, Any]) -> Clicked:
    raw = action.get("value") or (action.get("selected_option") or {}).get("value", "")
    verb, value = parse_choice_value(raw)
    # Slack does not retry interactions; the action timestamp still makes a double click one event.
    event_id = f"action:{body.get('container', {}).get('message_ts', '')}:{action.get('action_ts', '')}"
    return Clicked(address(team_of(body), body["user"]["id"]), verb, value, event_id=event_id,
                   in_group=is_group_channel(channel_of(body)))


def channel_of(body: Mapping[str, Any]) -> str:
    """The conversation a click came from."""
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")


def chosen_label(action: Mapping[str, Any]) -> str:
    if action.get("type") == "static_select":
        return (action.get("selected_option") or {}).get("text", {}).get("text", "")
    return (action.get("text") or {}).get("text", "")


def form_metadata(view: Mapping[str, Any]) -> dict[str, str]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def submitted(body: Mapping[str, Any]) -> Submitted:
    view = body["view"]
    meta = form_metadata(view)
    answers = form_answers(view.get("state", {}).get("values", {}))
    return Submitted(address(team_of(body), body["user"]["id"]), meta.get("form", ""), answers,
                     event_id=f"view:{view.get('id', '')}:{view.get('hash', '')}",
                     in_group=is_group_channel(meta.get("channel", "")))


def command(body: Mapping[str, Any]) -> Command:
    # /pairbot works in any conversation; one typed outside the DM counts as said in a group.
    return Command(address(team_of(body), body["user_id"]), plain_text(body.get("text", "")),
                   in_group=is_group_channel(str(body.get("channel_id") or "")))


def plain_text(text: str) -> str:
    """Slack escapes &, < and > in what people type; the core wants what they typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def mentioned_users(text: str) -> list[str]:
    return MENTION.findall(text)


def mentioned_emails(text: str) -> list[str]:
    return [a or b for a, b in EMAIL.findall(text)]


# The fields bolt and these converters read before any listener runs, and the shapes they expect.
_OBJECT_FIELDS = ("event", "view", "container", "message", "channel", "authorizations_url")
_OBJECT_OR_ID_FIELDS = ("team", "user", "enterprise")
_TEXT_FIELDS = ("type", "team_id", "user_id", "api_app_id", "command", "text", "trigger_id", "response_url",
                "event_id", "callback_id", "token")
_LIST_FIELDS = ("actions", "authorizations")


def is_slack_payload(body: Any) -> bool:
    """A body of the shape Slack sends (an event, a command, an interaction); anything else is
    refused with 400 before bolt reads it (bolt's middleware would fail on it with a 500)."""
    if not isinstance(body, dict) or not any(k in body for k in ("type", "command", "ssl_check")):
        return False  # every payload says what it is: an event or interaction type, a command
    if any(body.get(f) is not None and not isinstance(body[f], dict) for f in _OBJECT_FIELDS):
        return False
    if any(body.get(f) is not None and not isinstance(body[f], (dict, str)) for f in _OBJECT_OR_ID_FIELDS):
        return False
    if any(body.get(f) is not None and not isinstance(body[f], str) for f in _TEXT_FIELDS):
        return False
    if any(body.get(f) is not None and not (isinstance(body[f], list) and all(isinstance(i, dict) for i in body[f]))
           for f in _LIST_FIELDS):
        return False
    event = body.get("event") or {}
    return all(event.get(f) is None or isinstance(event[f], str) for f in ("type", "user", "channel", "bot_id",
                                                                            "subtype", "text", "channel_type"))
