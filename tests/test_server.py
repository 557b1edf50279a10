"""The web server's own routes: /healthz says why a replica cannot do its work, within seconds."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

from aiohttp.test_utils import TestClient, TestServer
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from adapters.monitoring import Monitor, Watched
from adapters.server import web_app
from adapters.slack.sender import SlackSender
from bot import migrate, outbox
from bot.clock import ManualClock
from bot.core import Pairbot
from bot.db import Database
from bot.events import Address
from bot.health import Health
from bot.messages import Message, Recipient
from bot.metrics import Metrics
from scheduler.delivery import DeliveryWorker
from scheduler.timeline import Timeline

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def test_healthz_answers_503_when_the_database_cannot_be_reached():
    async def main():
        db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
        async with TestClient(TestServer(web_app(db))) as client:
            response = await client.get("/healthz")
            assert response.status == 503
            body = await response.json()
            assert body["status"] == "unavailable" and body["database"] == "unreachable"
            assert [r["part"] for r in body["reasons"]] == ["database"]
            assert body["reasons"][0]["reason"].startswith("OperationalError")
            assert (await client.post("/slack/events", data=b"{}")).status in (404, 405)  # Slack not enabled
        db.dispose()

    asyncio.run(main())


def test_healthz_answers_within_seconds_while_the_database_hangs():
    """A database that accepts the connection and never answers (a hung server, a dropped route)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]

    async def main():
        db = Database(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none")
        async with TestClient(TestServer(web_app(db))) as client:
            began = time.monotonic()
            response = await client.get("/healthz")
            took = time.monotonic() - began
            body = await response.json()
            assert response.status == 503 and took < 3.5, took
            assert body["reasons"][0]["part"] == "database"
            assert "has not answered" in body["reasons"][0]["reason"]
            # A scrape meanwhile waits on the same hung question (until the 5 s connect timeout):
            # no second thread piles up behind it.
            scrape = asyncio.create_task(client.get("/metrics"))
            await asyncio.sleep(0)
            assert [t.name for t in threading.enumerate()].count("pairbot-health-probe") == 1
            began = time.monotonic()
            metrics = await scrape
            assert metrics.status == 200 and time.monotonic() - began < 3.5
            assert "pairbot_database_up 0.0" in await metrics.text()
        db.dispose()

    try:
        asyncio.run(main())
    finally:
        silent.close()  # the hung connection ends and its probe thread with it


def test_healthz_names_every_part_that_cannot_work_and_is_200_again_once_they_do(tmp_path):
    async def main():
        db = Database(f"sqlite:///{tmp_path / 'pairbot.sqlite'}")
        migrate.upgrade(db.engine)
        clock = ManualClock(NOW)
        core = Pairbot(db, clock)
        health, metrics = Health(), Metrics()
        worker = DeliveryWorker(core, SlackSender(None, "http://127.0.0.1:9/"), metrics=metrics)  # never run
        timeline = Timeline(core, AsyncIOScheduler(timezone=timezone.utc))

        async def broken_worker():
            raise RuntimeError("database is locked")

        dead = asyncio.create_task(broken_worker(), name="delivery:teams")
        await asyncio.gather(dead, return_exceptions=True)
        watched = Watched(db, clock, health, metrics, [worker], [dead], timeline, asyncio.Event(), "host-a:1",
                          timedelta(minutes=15))
        async with TestClient(TestServer(web_app(db, monitor=Monitor(watched)))) as client:
            async def healthz():
                response = await client.get("/healthz")
                return response.status, await response.json()

            status, body = await healthz()
            assert status == 503 and body["replica"] == "host-a:1" and body["database"] == "reachable"
            assert [r["part"] for r in body["reasons"]] == ["delivery:teams"]
            assert "RuntimeError: database is locked" in body["reasons"][0]["reason"]

            watched.tasks.clear()
            health.trouble("token:slack", "invalid_auth: the bot token was revoked")
            worker.last_progress = time.monotonic() - 600  # stuck in a round for ten minutes
            metrics.leader.set(1)  # leads, but its scheduler never started
            with db.session() as session:
                outbox.record(session, [outbox.Outgoing("k1", Recipient.person(Address("slack", "T1", "U1")),
                                                        Message("hello"))], clock.now())
            clock.advance(minutes=20)
            status, body = await healthz()
            reasons = {r["part"]: r for r in body["reasons"]}
            assert status == 503 and body["leads_timeline"] is True
            assert sorted(reasons) == ["delivery:slack", "outbox", "timeline", "token:slack"]
            assert "revoked" in reasons["token:slack"]["reason"]
            assert "no delivery round has finished for 600 s" in reasons["delivery:slack"]["reason"]
            assert "waited 20 min" in reasons["outbox"]["reason"]
            assert body["outbox"] == {"slack": {"depth": 1, "oldest_due_seconds": 1200.0}}
            # A load balancer asks about this replica only: the outbox and the token are everyone's.
            response = await client.get("/healthz?scope=replica")
            assert response.status == 503
            assert sorted(r["part"] for r in (await response.json())["reasons"]) == ["delivery:slack", "timeline"]
            assert (await client.get("/healthz?scope=everything")).status == 400

            health.fine("token:slack")
            worker.last_progress = time.monotonic()
            timeline.start()
            with db.session() as session:
                outbox.mark_sent(session, {d.id: "ts" for d in outbox.claim(session, "slack", clock.now(), 10)},
                                 clock.now())
            status, body = await healthz()
            assert (status, body["status"], body["reasons"]) == (200, "ok", [])
            assert body["outbox"] == {"slack": {"depth": 0, "oldest_due_seconds": 0.0}}
            timeline.shutdown(wait=False)
        db.dispose()

    asyncio.run(main())


def test_healthz_answers_503_while_another_process_holds_the_sqlite_lock_and_200_once_it_lets_go(tmp_path):
    import sqlite3

    path = tmp_path / "pairbot.sqlite"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db.engine)
    holder = sqlite3.connect(path, isolation_level=None)

    async def main():
        async with TestClient(TestServer(web_app(db))) as client:
            holder.execute("BEGIN EXCLUSIVE")  # as a backup tool or a stuck process would
            began = time.monotonic()
            response = await client.get("/healthz")
            assert response.status == 503 and time.monotonic() - began < 3.5
            assert "has not answered" in (await response.json())["reasons"][0]["reason"]
            holder.execute("ROLLBACK")
            response = await client.get("/healthz")
            assert response.status == 200 and (await response.json())["status"] == "ok"

    try:
        asyncio.run(main())
    finally:
        holder.close()
        db.dispose()
