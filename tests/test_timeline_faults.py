"""The timeline under faults: two real `pairbot serve` replicas on one PostgreSQL schema with the
leader killed (-9), a step whose database fails while it runs, and a second server refused on one
SQLite file. Every wait is for a condition, with a bound."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from click.testing import CliRunner
from sqlalchemy import func, select

from adapters.cli import main
from bot import enrolment, migrate
from bot.core import Pairbot
from bot.db import Database
from bot.events import Address
from bot.models import Delivery, StepRun
from bot.programme import parse_programme
from fake_slack import FakeSlack
from harness import START, TZ, make_harness
from processes import ServeProcess, TcpProxy, write_config
from scheduler.jobs import step_job_id
from scheduler.timeline import Timeline
from slack_harness import SECRET, free_port

TEAM = "T1"
LEADS = "this replica leads the programme timeline"
TWO_STEPS = """
[programme]
name = "Two steps"

[[steps]]
id = "hello"
week = 0
day = 0
time = "00:00"
intent = "pair_intro"
audience = "pair"
text = "Meet your learning pair: {buddy_names}."

[[steps]]
id = "later"
week = 1
day = 0
time = "00:00"
intent = "enrol"
audience = "each_member"
text = "Welcome, {first_name}: when are you usually free?"
"""
PAIRS = [("U0A1", "U0B1"), ("U0A2", "U0B2"), ("U0A3", "U0B3")]
MEMBERS = [user for pair in PAIRS for user in pair]


def _seed(url: str, fake: FakeSlack) -> None:
    """A running cohort of three pairs whose first step is due now and the second next week."""
    db = Database(url)
    migrate.upgrade(db.engine)
    now = datetime.now(timezone.utc)
    fake.add_user("U0RITA", "Rita Coordinator", email="rita@trust.example", tz="UTC")
    with db.session() as session:
        org = enrolment.organisation(session, "slack", TEAM, "Test Trust", now)
        cohort = enrolment.create_cohort(session, org, "Spring", now.date(), parse_programme(TWO_STEPS, "two.toml"),
                                         "UTC", now)
        for n, (clinician, manager) in enumerate(PAIRS, 1):
            members = []
            for user, role in ((clinician, "clinician"), (manager, "manager")):
                fake.add_user(user, f"Person {user}", email=f"{user.lower()}@trust.example", tz="UTC")
                members.append(enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                    address=Address("slack", TEAM, user), name=f"Person {user}", role=role,
                    email=f"{user.lower()}@trust.example"), now))
            enrolment.make_pair(session, cohort, members, now)
        cohort.status = "running"
    db.dispose()


def _config(tmp_path, name: str, url: str, fake: FakeSlack):
    port = free_port()
    path = write_config(tmp_path / f"{name}.toml", {
        "database": {"url": url},
        "server": {"host": "127.0.0.1", "port": port},
        "slack": {"enabled": True, "bot_token": fake.bot_token, "signing_secret": SECRET, "api_url": fake.api_url},
        "organisation": {"coordinators": ["U0RITA"]},
    })
    return ServeProcess(path, port, tmp_path / f"{name}.log")


def _texts(fake: FakeSlack, *users: str) -> list[str]:
    channel = fake._conversations.get(frozenset(users))
    return [m.get("text", "") for _ts, m in sorted(fake.messages.get(channel, {}).items())] if channel else []


def _hellos(fake: FakeSlack) -> list[int]:
    return [sum(t.startswith("Meet your learning pair") for t in _texts(fake, *pair)) for pair in PAIRS]


def _welcomes(fake: FakeSlack) -> list[int]:
    return [sum(t.startswith("Welcome, ") for t in _texts(fake, user)) for user in MEMBERS]


def _outbox_empty(url: str) -> bool:
    db = Database(url)
    try:
        with db.session() as session:
            return not session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.status.in_(("pending", "sending"))))
    finally:
        db.dispose()


def test_two_replicas_one_leads_and_the_other_takes_over_when_it_is_killed(tmp_path, postgres_url):
    async def main_():
        async with FakeSlack(team_id=TEAM) as fake:
            _seed(postgres_url, fake)
            first, second = _config(tmp_path, "a", postgres_url, fake), _config(tmp_path, "b", postgres_url, fake)
            with first.start(), second:
                await first.answering()
                await first.until(lambda: LEADS in first.log_text(), 30, "the first replica to lead")
                second.start()
                await second.answering()
                # The first step goes to every pair once, with both replicas up; only one leads.
                await first.until(lambda: _hellos(fake) == [1, 1, 1], 30, "the first step to reach every pair")
                await first.until(lambda: _outbox_empty(postgres_url), 30, "the outbox to empty")
                assert LEADS not in second.log_text()

                first.kill()
                killed = time.monotonic()
                await second.until(lambda: LEADS in second.log_text(), 20, "the second replica to take over")
                takeover = time.monotonic() - killed
                assert takeover < 10, f"takeover took {takeover:.1f} s"

                # A later step, due now after a shift typed at the console, reaches everyone once.
                shifted = await asyncio.to_thread(CliRunner().invoke, main, [
                    "command", "--database", postgres_url, "--", "timeline", "shift", "-1"])
                assert shifted.exit_code == 0, shifted.output
                await second.until(lambda: all(_welcomes(fake)), 30, "the later step to reach every member")
                await second.until(lambda: _outbox_empty(postgres_url), 30, "the outbox to empty")
                assert _welcomes(fake) == [1] * len(MEMBERS)
                assert _hellos(fake) == [1, 1, 1]
            db = Database(postgres_url)
            with db.session() as session:
                assert sorted(session.scalars(select(StepRun.step_id))) == ["hello", "later"]
            db.dispose()
            print(f"takeover after kill -9: {takeover:.2f} s")

    asyncio.run(main_())


def test_a_step_whose_database_fails_stays_due_and_runs_once_when_it_is_back(postgres_url, caplog):
    async def main_():
        h = make_harness(postgres_url)
        proxy = await TcpProxy("127.0.0.1", 5432).accept()
        proxied = Database(postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
        core = Pairbot(proxied, h.clock, h.core.capabilities)
        timeline = Timeline(core, AsyncIOScheduler(timezone=timezone.utc))
        timeline.start(lead=False)
        await asyncio.to_thread(timeline.lead)  # off the loop: the proxy runs on it
        try:
            await proxy.refuse()
            # The enrolment step's time comes while the database refuses connections.
            h.clock.set(_due("enrol") + timedelta(minutes=1))
            timeline.retry(step_job_id(h.cohort_id, "enrol"), timeline.jobs.run_step, [h.cohort_id, "enrol"], 0)
            await _until(lambda: timeline.metrics.step_failures._value.get() >= 2, 20, "the step to fail twice")
            assert "timeline" in timeline.health.troubles()
            assert step_job_id(h.cohort_id, "enrol") in timeline.cohort_job_ids(h.cohort_id)  # still due
            await proxy.accept()
            await _until(lambda: _step_runs(h) == 1, 30, "the step to run once the database is back")
            await _until(lambda: "timeline" not in timeline.health.troubles(), 10, "the timeline to be fine")
            assert _deliveries(h) == 2  # the availability question to each member, once
            assert timeline.metrics.step_runs._value.get() == 1
        finally:
            await timeline.stop()
            await proxy.close()
            proxied.dispose()
            h.db.dispose()
        outage = [r for r in caplog.records if r.name == "scheduler.timeline" and "cannot work" in r.getMessage()]
        assert len(outage) == 1  # one line per outage, not one per retry
        assert any("works again" in r.getMessage() for r in caplog.records if r.name == "scheduler.timeline")

    caplog.set_level(logging.INFO)
    asyncio.run(main_())


def test_a_second_server_on_one_sqlite_file_refuses_to_start(tmp_path):
    async def main_():
        async with FakeSlack(team_id=TEAM) as fake:
            url = f"sqlite:///{tmp_path / 'pairbot.sqlite'}"
            first, second = _config(tmp_path, "a", url, fake), _config(tmp_path, "b", url, fake)
            with first.start(), second:
                await first.answering()
                second.start()
                code = await asyncio.to_thread(second.process.wait, 60)
                assert code == 1
                said = second.log_text()
                assert f"{tmp_path / 'pairbot.sqlite'}" in said and "SQLite supports one server process" in said
                # Console commands still work while the server runs.
                listed = await asyncio.to_thread(CliRunner().invoke, main, ["command", "cohort", "list",
                                                                            "--database", url])
                assert listed.exit_code == 0, listed.output
                assert first.process.poll() is None and first.health() is not None

    asyncio.run(main_())


def _due(step_id: str) -> datetime:
    from bot.programme import default_programme

    return default_programme().step(step_id).due_at(START, TZ)


def _step_runs(h) -> int:
    with h.db.session() as session:
        return session.scalar(select(func.count()).select_from(StepRun).where(StepRun.cohort_id == h.cohort_id))


def _deliveries(h) -> int:
    with h.db.session() as session:
        return session.scalar(select(func.count()).select_from(Delivery))


async def _until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)
