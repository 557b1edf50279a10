"""Config that means what it says: [programme] file, [scheduler] timezone and [scheduler] speed
change what people see in `pairbot serve` (Slack on loopback) and at the console."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from adapters import runtime
from adapters.cli import main
from bot import enrolment, migrate
from bot.clock import ManualClock, ScaledClock
from bot.config import (ConfigError, DatabaseSettings, OrganisationSettings, ProgrammeSettings, SchedulerSettings,
                        ServerSettings, Settings, SlackSettings, load_settings)
from bot.db import Database
from bot.models import Cohort
from fake_slack import FakeSlack
from processes import write_config
from slack_harness import PEOPLE, SECRET, TEAM, SlackBot, free_port, stop_bot

WARD = """[programme]
name = "Ward rehearsal"

[[steps]]
id = "welcome"
week = 0
day = 0
time = "{at}"
intent = "enrol"
audience = "each_member"
text = "Welcome to the ward rehearsal, {{first_name}}!"
"""


def ward_programme(path, at: str = "09:00"):
    path.write_text(WARD.format(at=at))
    return path


async def start_configured(tmp_path, clock, **sections) -> SlackBot:
    fake = FakeSlack(team_id=TEAM)
    await fake.start()
    for user, (name, email) in PEOPLE.items():
        fake.add_user(user, name, email=email, tz="Europe/London")  # the coordinator's own zone
    settings = Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'pairbot.sqlite'}"),
                        server=ServerSettings(host="127.0.0.1", port=free_port()),
                        slack=SlackSettings(enabled=True, bot_token=fake.bot_token, signing_secret=SECRET,
                                            api_url=fake.api_url),
                        organisation=OrganisationSettings(coordinators=["U0RITA"]), **sections)
    running = await runtime.start(settings, clock)
    for worker in running.workers:
        worker.sender.seconds_between_sends = 0.0
    return SlackBot(fake, running, aiohttp.ClientSession(), running.core.clock)


def test_a_cohort_created_in_slack_gets_the_configured_programme_and_time_zone(tmp_path):
    async def main_():
        bot = await start_configured(
            tmp_path, ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)),
            programme=ProgrammeSettings(file=str(ward_programme(tmp_path / "ward.toml"))),
            scheduler=SchedulerSettings(timezone="Pacific/Auckland"))
        try:
            assert (await bot.command("U0RITA", 'cohort create "Ward 7" --start 2027-01-04')).status == 200
            await bot.until(lambda: bot.fake.responses)
            reply = bot.fake.responses[-1]["text"]
            assert "Created Ward 7 (Ward rehearsal, 1 steps, starting Mon 4 Jan 2027, Pacific/Auckland)" in reply
            with bot.db.session() as session:
                cohort = session.scalars(select(Cohort)).one()
                assert cohort.timezone == "Pacific/Auckland"
            # The coordinator sees the cohort in its zone, not in their own (Europe/London).
            assert (await bot.command("U0RITA", 'cohort show "Ward 7"')).status == 200
            await bot.until(lambda: len(bot.fake.responses) == 2)
            assert "starts Mon 4 Jan 2027 (Pacific/Auckland)" in bot.fake.responses[-1]["text"]
        finally:
            await stop_bot(bot)

    asyncio.run(main_())


def test_a_rehearsal_runs_programme_time_faster_and_says_so_in_the_log(tmp_path, caplog):
    speed = 20000.0  # an hour of programme time in 0.18 s
    zone = ZoneInfo("Europe/London")
    step_at = (datetime.now(zone) + timedelta(hours=3)).replace(second=0, microsecond=0)
    programme = ward_programme(tmp_path / "ward.toml", at=f"{step_at:%H:%M}")

    async def main_():
        with caplog.at_level(logging.WARNING, logger="adapters.runtime"):
            bot = await start_configured(tmp_path, None, programme=ProgrammeSettings(file=str(programme)),
                                         scheduler=SchedulerSettings(speed=speed))
        try:
            assert isinstance(bot.clock, ScaledClock) and bot.clock.speed == speed
            warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert any("runs 20000 times faster" in m and "not for real cohorts" in m for m in warning), warning
            for command in (f'cohort create Rehearsal --start {step_at:%Y-%m-%d}', "enrol <@U0ASHA|asha> clinician",
                            "start Rehearsal"):
                assert (await bot.command("U0RITA", command)).status == 200
            await bot.until(lambda: len(bot.fake.responses) == 3)
            assert "Started Rehearsal" in bot.fake.responses[-1]["text"], bot.fake.responses[-1]["text"]
            began = time.monotonic()
            # Due three programme hours after start-up: well under a second of wall time at this speed.
            await bot.until(lambda: any("Welcome to the ward rehearsal" in m["text"] for m in bot.inbox("U0ASHA")),
                            seconds=10)
            assert bot.clock.now() >= step_at.astimezone(timezone.utc)
            assert time.monotonic() - began < 10
        finally:
            await stop_bot(bot)

    asyncio.run(main_())


def test_speed_below_real_time_is_refused(tmp_path):
    (tmp_path / "pairbot.toml").write_text("[scheduler]\nspeed = 0.5\n")
    with pytest.raises(ConfigError, match=r"\[scheduler\] speed: 0.5 is out of range"):
        load_settings(tmp_path / "pairbot.toml", {})


def test_console_commands_give_new_cohorts_the_configured_programme_and_zone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    store = Database(url)
    migrate.upgrade(store.engine)
    with store.session() as session:
        enrolment.organisation(session, "slack", TEAM, "Test Trust", datetime(2026, 12, 1, tzinfo=timezone.utc))
    store.dispose()
    config = write_config(tmp_path / "pairbot.toml", {"database": {"url": url},
                                                       "programme": {"file": "ward.toml"},
                                                       "scheduler": {"timezone": "America/Toronto"}})
    ward_programme(tmp_path / "ward.toml")
    result = CliRunner().invoke(main, ["command", "cohort create Spring --start 2027-01-04", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "Created Spring (Ward rehearsal, 1 steps, starting Mon 4 Jan 2027, America/Toronto)" in result.output


def test_a_bad_programme_file_stops_serve_and_check_config_naming_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "ward.toml"
    bad.write_text(WARD.format(at="25:00"))
    config = write_config(tmp_path / "pairbot.toml", {"programme": {"file": str(bad)}})
    result = CliRunner().invoke(main, ["check-config", str(config)])
    assert result.exit_code == 1 and "Config OK." not in result.output
    assert f"[programme] file = '{bad}'" in result.output and "ward.toml" in result.output and "time" in result.output

    missing = write_config(tmp_path / "missing.toml", {"programme": {"file": "nowhere/ward.toml"}})
    result = CliRunner().invoke(main, ["check-config", str(missing)])
    assert result.exit_code == 1 and "nowhere/ward.toml: no such file" in result.output

    settings = Settings(slack=SlackSettings(enabled=True, bot_token="xoxb-1", signing_secret="s"),
                        programme=ProgrammeSettings(file=str(bad)))
    with pytest.raises(runtime.StartupError, match="ward.toml") as stopped:
        asyncio.run(runtime.start(settings))
    assert "[programme] file" in str(stopped.value)
