"""The Slack app manifest asks for exactly what the code uses: no missing scope, no spare one."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from adapters.slack import app

SLACK = Path(app.__file__).parent
MANIFEST = yaml.safe_load((SLACK / "manifest.yml").read_text())

# The bot scope each Web API method needs (Slack's method reference, 2026-11).
SCOPE_OF = {
    "chat_postMessage": "chat:write", "chat_update": "chat:write", "chat_postEphemeral": "chat:write",
    "conversations_open": None, "users_info": "users:read", "users_lookupByEmail": "users:read.email",
    "views_open": None, "views_publish": None, "auth_test": None, "users_list": "users:read",
    "files_upload_v2": "files:write",
}


def methods_called() -> set[str]:
    source = "\n".join(p.read_text() for p in SLACK.glob("*.py"))
    return set(re.findall(r"\bclient\.(\w+)\(", source))


def test_every_web_api_method_the_code_calls_is_known_here():
    assert methods_called() <= set(SCOPE_OF), methods_called() - set(SCOPE_OF)


def test_manifest_scopes_are_exactly_the_ones_the_code_needs():
    needed = {SCOPE_OF[m] for m in methods_called()} - {None}
    needed |= {"commands"}  # the slash command
    needed |= {"im:history"}  # message.im events: people typing to the bot
    needed |= {"im:write", "mpim:write"}  # conversations.open for a DM and for a pair's group DM
    needed |= {"files:read"}  # fetching url_private_download of a CSV sent with 'import'
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed == set(app.BOT_SCOPES)


def test_manifest_events_command_and_interactivity_match_the_listeners():
    settings = MANIFEST["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == set(app.BOT_EVENTS) | set(app.OAUTH_EVENTS)
    assert settings["interactivity"]["is_enabled"] is True
    assert [c["command"] for c in MANIFEST["features"]["slash_commands"]] == [app.COMMAND]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    urls = {settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"],
            MANIFEST["features"]["slash_commands"][0]["url"]}
    assert {u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in urls} == {"slack/events"}
