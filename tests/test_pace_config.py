"""The platforms' pace is configurable: [slack] and [teams] seconds_between_sends (per
conversation) and messages_per_second (app-wide) default to the documented limits and reach the
senders the delivery workers use."""

from __future__ import annotations

import asyncio

import pytest

import slack_harness
import teams_harness
from bot.config import ConfigError, load_settings


def _load(tmp_path, body: str, env=None):
    path = tmp_path / "pairbot.toml"
    path.write_text(body)
    return load_settings(path, env or {})


def test_the_defaults_are_the_documented_limits_and_can_be_changed(tmp_path):
    settings = _load(tmp_path, "")
    assert (settings.slack.seconds_between_sends, settings.slack.messages_per_second) == (1.0, 5.0)
    assert (settings.teams.seconds_between_sends, settings.teams.messages_per_second) == (0.5, 45.0)
    settings = _load(tmp_path, "[slack]\nmessages_per_second = 8\n[teams]\nseconds_between_sends = 1.0\n",
                     {"PAIRBOT_TEAMS_MESSAGES_PER_SECOND": "20.5"})
    assert settings.slack.messages_per_second == 8.0
    assert (settings.teams.seconds_between_sends, settings.teams.messages_per_second) == (1.0, 20.5)
    with pytest.raises(ConfigError, match=r"\[slack\] messages_per_second: 0 is out of range"):
        _load(tmp_path, "[slack]\nmessages_per_second = 0\n")
    assert settings.slack.tier3_calls_per_minute == 50.0
    assert _load(tmp_path, "[slack]\ntier3_calls_per_minute = 20\n").slack.tier3_calls_per_minute == 20.0
    with pytest.raises(ConfigError, match=r"\[slack\] tier3_calls_per_minute: 0 is out of range"):
        _load(tmp_path, "[slack]\ntier3_calls_per_minute = 0\n")


def test_the_configured_pace_reaches_the_slack_and_teams_senders(tmp_path):
    async def main():
        slack = await slack_harness.start_bot(tmp_path / "slack", pacing=None, messages_per_second=7.0,
                                              seconds_between_sends=2.0)
        try:
            sender = slack.running.workers[0].sender
            assert (sender.seconds_between_sends, sender.messages_per_second) == (2.0, 7.0)
            assert sender.tier3.interval == pytest.approx(60 / 50)  # Tier 3's documented 50 a minute
        finally:
            await slack_harness.stop_bot(slack)
        teams = await teams_harness.start_bot(tmp_path / "teams", pacing=None)
        try:
            sender = teams.running.workers[0].sender
            assert (sender.seconds_between_sends, sender.messages_per_second) == (0.5, 45.0)
        finally:
            await teams_harness.stop_bot(teams)

    (tmp_path / "slack").mkdir()
    (tmp_path / "teams").mkdir()
    asyncio.run(main())
