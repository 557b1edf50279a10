"""Delivery under faults, with real `pairbot serve` processes on loopback (tests/processes.py):
a running cohort of a few hundred people whose first step is due, fanned out to FakeSlack (each
Web API call answered after a short delay, so delivery takes a few seconds), while the process is
killed (-9), stopped (SIGTERM), or loses its database. Counted per recipient from the fake."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot import enrolment, migrate
from bot.db import Database
from bot.events import Address
from bot.models import Delivery
from bot.programme import default_programme
from fake_slack import FakeSlack
from processes import ServeProcess, TcpProxy, write_config
from slack_harness import SECRET, free_port

TEAM = "T1"
PEOPLE = 300
CONCURRENCY = 16  # also the most a kill -9 may send twice
LATENCY = 0.1  # seconds for FakeSlack to answer each call
COORDINATOR = "U0RITA"


def seed(url: str) -> list[str]:
    """A running cohort whose first step (the welcome to each member) is due now and whose next is a
    week away, made with the core's own code. Returns the participants' Slack user ids."""
    db = Database(url)
    migrate.upgrade(db.engine)
    now = datetime.now(timezone.utc)
    users = [f"U{n:04d}" for n in range(PEOPLE)]
    with db.session() as session:
        org = enrolment.organisation(session, "slack", TEAM, "Test Trust", now)
        # The welcome goes two weeks before the start; pairs are announced one week before.
        start = date.today() + timedelta(days=10)
        cohort = enrolment.create_cohort(session, org, "Faults", start, default_programme(), "Europe/London", now)
        for n, user in enumerate(users):
            enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                address=Address("slack", TEAM, user), name=f"Person {n}",
                role="clinician" if n % 2 else "manager"), now)
        cohort.status = "running"
    db.dispose()
    return users


async def slack(users: list[str]) -> FakeSlack:
    fake = FakeSlack(team_id=TEAM)
    await fake.start()
    fake.add_user(COORDINATOR, "Rita Coordinator", email="rita@trust.example")
    for user in users:
        fake.add_user(user, f"Person {user}")
    fake.delay = LATENCY
    return fake


def serve(tmp_path: Path, fake: FakeSlack, url: str, name: str) -> ServeProcess:
    port = free_port()
    config = write_config(tmp_path / f"{name}.toml", {
        "database": {"url": url},
        "server": {"host": "127.0.0.1", "port": port},
        # The fake enforces no rate here: these tests are about faults, not pace (benchmarks/delivery.py is).
        "slack": {"enabled": True, "bot_token": fake.bot_token, "signing_secret": SECRET, "api_url": fake.api_url,
                  "messages_per_second": 500.0, "seconds_between_sends": 0.0, "tier3_calls_per_minute": 60_000.0},
        "organisation": {"coordinators": [COORDINATOR]},
        "delivery": {"concurrency": CONCURRENCY},
    })
    return ServeProcess(config, port, tmp_path / f"{name}.log")


def received(fake: FakeSlack, users: list[str]) -> Counter:
    """How many messages each participant got in their DM."""
    wanted = set(users)
    counts: Counter = Counter()
    for channel, messages in list(fake.messages.items()):
        members = fake._channels[channel].members - {fake.bot_user_id}
        if len(members) == 1 and (user := next(iter(members))) in wanted:
            counts[user] += len(messages)
    return counts


def everyone_has_one(fake: FakeSlack, users: list[str]):
    return lambda: len(received(fake, users)) == len(users)


def outbox_done(url: str):
    def check() -> bool:
        db = Database(url)
        try:
            with db.engine.connect() as connection:
                return connection.execute(select(func.count()).select_from(Delivery).where(
                    Delivery.status.in_(("pending", "sending")))).scalar() == 0
        except Exception:
            return False
        finally:
            db.dispose()
    return check


def run(coroutine_function):
    return asyncio.run(asyncio.wait_for(coroutine_function(), timeout=240))


def test_kill_9_mid_delivery_sends_at_most_the_in_flight_messages_twice_and_loses_none(tmp_path):
    url = f"sqlite:///{tmp_path / 'pairbot.sqlite'}"
    users = seed(url)

    async def scenario():
        fake = await slack(users)
        try:
            with serve(tmp_path, fake, url, "first").start() as first:
                await first.until(lambda: sum(received(fake, users).values()) >= PEOPLE // 4, 60,
                                  "a quarter of the welcomes to go out")
                first.kill()
            assert len(received(fake, users)) < PEOPLE, "the kill came too late to test anything"
            with serve(tmp_path, fake, url, "second").start() as second:
                await second.answering()
                restarted = asyncio.get_running_loop().time()
                await second.until(everyone_has_one(fake, users), 30, "everyone to get the welcome")
                caught_up = asyncio.get_running_loop().time() - restarted
                await second.until(outbox_done(url), 10, "the outbox to be empty")
            counts = received(fake, users)
            doubles = sum(n - 1 for n in counts.values())
            assert set(counts) == set(users)  # nobody lost
            assert doubles <= CONCURRENCY, f"{doubles} people got the welcome twice"
            assert caught_up < 30
        finally:
            await fake.stop()

    run(scenario)


def test_sigterm_mid_delivery_sends_nothing_twice_and_the_restart_sends_the_rest_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'pairbot.sqlite'}"
    users = seed(url)

    async def scenario():
        fake = await slack(users)
        try:
            first = serve(tmp_path, fake, url, "first").start()
            await first.until(lambda: sum(received(fake, users).values()) >= PEOPLE // 4, 60,
                              "a quarter of the welcomes to go out")
            code = await asyncio.to_thread(first.terminate, 30)
            assert code == 0, first.log_tail()
            assert "gave back" in first.log_text()
            sent_before = len(received(fake, users))
            assert sent_before < PEOPLE, "SIGTERM came too late to test anything"
            with serve(tmp_path, fake, url, "second").start() as second:
                await second.answering()
                restarted = asyncio.get_running_loop().time()
                # The rest go at once: no lease to wait for (the fan-out itself takes a few seconds).
                await second.until(everyone_has_one(fake, users), 15, "everyone to get the welcome")
                assert asyncio.get_running_loop().time() - restarted < 15
            counts = received(fake, users)
            assert set(counts) == set(users)
            assert [user for user, n in counts.items() if n > 1] == []
        finally:
            await fake.stop()

    run(scenario)


def test_the_worker_survives_a_sqlite_lock_held_longer_than_its_busy_timeout_and_catches_up(tmp_path):
    path = tmp_path / "pairbot.sqlite"
    url = f"sqlite:///{path}"
    users = seed(url)
    release = threading.Event()
    locked = threading.Event()

    def hold_the_lock() -> None:
        connection = sqlite3.connect(path, isolation_level=None, timeout=60)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            locked.set()
            release.wait(90)
            connection.execute("COMMIT")
        finally:
            connection.close()

    async def scenario():
        fake = await slack(users)
        holder = threading.Thread(target=hold_the_lock, daemon=True)
        try:
            with serve(tmp_path, fake, url, "only").start() as process:
                await process.until(lambda: sum(received(fake, users).values()) >= PEOPLE // 4, 60,
                                    "a quarter of the welcomes to go out")
                holder.start()
                await asyncio.to_thread(locked.wait, 30)
                # Longer than the 30 s busy timeout: the worker's writes fail with "database is locked".
                await process.until(lambda: "delivery:slack cannot work" in process.log_text(), 60,
                                    "the worker to say it cannot work")
                release.set()
                freed = asyncio.get_running_loop().time()
                await process.until(everyone_has_one(fake, users), 30, "everyone to get the welcome")
                assert asyncio.get_running_loop().time() - freed < 30
                await process.until(lambda: "delivery:slack works again" in process.log_text(), 30,
                                    "the worker to say it works again")
                assert process.process.poll() is None  # still running
                log = process.log_text()
                assert log.count("delivery:slack cannot work") == 1
            counts = received(fake, users)
            assert set(counts) == set(users)
            assert [user for user, n in counts.items() if n > 1] == []
        finally:
            release.set()
            await fake.stop()

    run(scenario)


def test_postgresql_refusing_connections_for_20_s_mid_delivery_loses_nothing(tmp_path, postgres_url):
    users = seed(postgres_url)

    async def scenario():
        target = make_url(postgres_url)
        proxy = await TcpProxy(target.host or "127.0.0.1", target.port or 5432).accept()
        through_proxy = target.set(port=proxy.port).render_as_string(hide_password=False)
        fake = await slack(users)
        try:
            with serve(tmp_path, fake, through_proxy, "only").start() as process:
                await process.until(lambda: sum(received(fake, users).values()) >= PEOPLE // 4, 60,
                                    "a quarter of the welcomes to go out")
                await proxy.refuse()
                await process.until(lambda: "delivery:slack cannot work" in process.log_text(), 20,
                                    "the worker to say it cannot work")
                outage = asyncio.get_running_loop().time()
                while asyncio.get_running_loop().time() - outage < 20:  # the outage lasts 20 s
                    assert process.process.poll() is None, process.log_tail()
                    await asyncio.sleep(0.5)
                await proxy.accept()
                back = asyncio.get_running_loop().time()
                await process.until(everyone_has_one(fake, users), 30, "everyone to get the welcome")
                assert asyncio.get_running_loop().time() - back < 30
                await process.until(lambda: "delivery:slack works again" in process.log_text(), 30,
                                    "the worker to say it works again")
                assert process.log_text().count("delivery:slack cannot work") == 1
            counts = received(fake, users)
            assert set(counts) == set(users)
            assert sum(n - 1 for n in counts.values()) <= CONCURRENCY
        finally:
            await fake.stop()
            await proxy.close()

    run(scenario)
