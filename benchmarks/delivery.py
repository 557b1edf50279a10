"""Delivery benchmark: one programme step to 10,000 people through the real Slack and Teams
adapters, against loopback fakes that answer each call after 150 ms and enforce the platforms'
documented limits (HTTP 429 with Retry-After beyond them).

    python benchmarks/delivery.py [--people 10000] [--latency 0.15] [--platform both|slack|teams]
                                  [--slack-rate 5] [--teams-rate 45]

For each platform: a new SQLite database with a cohort of --people, each already reachable as
after their welcome (Slack: their DM id stored, so the step measures chat.postMessage and not
conversations.open; Teams: their conversation reference stored); the adapter built as `pairbot
serve` builds it (adapters/slack/app.py `build`, adapters/teams/app.py `build`, with the default
[slack] / [teams] limits) and the real DeliveryWorker (scheduler/delivery.py) running as it runs
in `pairbot serve`, on a clock that runs at wall speed (so Retry-After waits are real).
The fakes (tests/fake_slack.py, tests/fake_connector.py) enforce the limits: Slack chat.postMessage
per channel and per workspace, at the rate the sender is configured with (Slack documents no exact
workspace figure); Teams per conversation and Teams' documented 50 requests a second per app,
whatever the sender is configured with (45 by default, for headroom). --slack-rate / --teams-rate
set the senders' app-wide rate (messages a second); the defaults are the [slack] / [teams] defaults.

Timed: from running the step (recording its deliveries) until the outbox is empty. The floor is
what the platform's app-wide limit allows: people / 50 for Teams (its documented limit, so sending
below it for headroom counts against us; a --teams-rate above 50 raises the fake's limit to it),
people / messages_per_second for Slack. Lost: people who got no message;
doubled: people who got more than one. 429s: calls the fake refused, of all the calls it took.
The last line carries both ratios. Target (issue 12): at most 1.25x the floor, nothing lost or
doubled, under 1% of calls answered 429.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bot import enrolment, migrate, outbox  # noqa: E402
from bot.capabilities import Capabilities  # noqa: E402
from bot.clock import ScaledClock  # noqa: E402
from bot.config import DeliverySettings, SlackSettings, TeamsSettings  # noqa: E402
from adapters.runtime import widen_thread_pool  # noqa: E402
from bot.context import members_key  # noqa: E402
from bot.core import Pairbot  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.events import Address  # noqa: E402
from bot.models import Conversation  # noqa: E402
from bot.programme import default_programme  # noqa: E402
from fake_connector import FakeConnector, TeamsLimits  # noqa: E402
from fake_slack import FakeSlack, SlackLimits  # noqa: E402
from scheduler.delivery import DeliveryWorker  # noqa: E402

START = date(2027, 1, 4)
STEP = "group-meeting-2"  # one invitation with an RSVP to each member
TEAM, TENANT = "T1", "tenant-1"
TEAMS_BOT = {"id": "28:pairbot", "name": "Pairbot"}


@dataclass
class Result:
    platform: str
    people: int
    seconds: float
    floor: float
    lost: int
    doubled: int
    refused: int
    calls: int
    pending: int

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor

    def line(self) -> str:
        share = 100 * self.refused / max(self.calls, 1)
        return (f"{self.platform}: {self.people} people in {self.seconds:.1f} s; floor {self.floor:.1f} s "
                f"= {self.ratio:.2f}x; lost {self.lost}, doubled {self.doubled}, "
                f"429s {self.refused} of {self.calls} calls ({share:.2f}%)"
                + (f"; {self.pending} still pending" if self.pending else ""))


def user_of(platform: str, n: int) -> str:
    return f"U{n:06d}" if platform == "slack" else f"29:p{n:06d}"


def build_cohort(db: Database, platform: str, workspace: str, people: int, now: datetime) -> int:
    with db.session() as session:
        org = enrolment.organisation(session, platform, workspace, "Benchmark Trust", now)
        cohort = enrolment.create_cohort(session, org, "Benchmark", START, default_programme(), "Europe/London", now)
        members = []
        for n in range(people):
            members.append(enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                address=Address(platform, workspace, user_of(platform, n)), name=f"Person {n}",
                role="clinician" if n % 2 == 0 else "manager"), now))
            if len(members) == 2:
                enrolment.make_pair(session, cohort, members, now)
                members = []
        cohort.status = "running"
        return cohort.id


def store_conversations(db: Database, platform: str, workspace: str, references: dict[str, dict],
                        now: datetime) -> None:
    """Each person's conversation as the adapter stores it after their welcome."""
    with db.session() as session:
        session.add_all(Conversation(platform=platform, workspace=workspace, is_group=False, reference=reference,
                                     members_key=members_key([Address(platform, workspace, user)]), updated_at=now)
                        for user, reference in references.items())


async def deliver(db: Database, core: Pairbot, sender, cohort_id: int, deadline_seconds: float) -> tuple[float, int]:
    """Run the step and the delivery worker until the outbox is empty; wall seconds, and what is left."""
    delivery = DeliverySettings()
    # As `pairbot serve` builds it (adapters/runtime.delivery_worker), with the default settings.
    widen_thread_pool(delivery.concurrency)
    worker = DeliveryWorker(core, sender, batch_size=delivery.batch_size, concurrency=delivery.concurrency,
                            give_up_after=timedelta(hours=delivery.give_up_after_hours))
    stop = asyncio.Event()
    started = time.perf_counter()
    await asyncio.to_thread(core.run_step, cohort_id, STEP)
    task = asyncio.create_task(worker.run(stop))

    def pending() -> int:
        with db.session() as session:
            return outbox.pending_count(session, sender.platform)

    left = await asyncio.to_thread(pending)
    while left and time.perf_counter() - started < deadline_seconds and not task.done():
        await asyncio.sleep(0.2)
        left = await asyncio.to_thread(pending)
    seconds = time.perf_counter() - started
    stop.set()
    await task
    return seconds, left


def counted(per_person: Counter, people: int) -> tuple[int, int]:
    return people - len([n for n in per_person.values() if n]), len([n for n in per_person.values() if n > 1])


async def bench_slack(people: int, latency: float, rate: float, folder: str) -> Result:
    from adapters.slack import app as slack

    settings = SlackSettings(enabled=True, bot_token="xoxb-bench", signing_secret="bench", messages_per_second=rate)
    fake = FakeSlack(team_id=TEAM, bot_token=settings.bot_token, latency=latency, enforce_limits=True,
                     limits=SlackLimits(post_per_channel=1 / settings.seconds_between_sends,
                                        post_per_workspace=settings.messages_per_second))
    await fake.start()
    db = Database(f"sqlite:///{os.path.join(folder, 'slack.sqlite')}")
    try:
        migrate.upgrade(db.engine)
        core = Pairbot(db, clock_at_step(), Capabilities())
        cohort_id = build_cohort(db, "slack", TEAM, people, core.clock.now())
        channels = {}
        for n in range(people):
            user = user_of("slack", n)
            fake.add_user(user, f"Person {n}")
            channels[user] = fake.open_conversation(user)
        store_conversations(db, "slack", TEAM, {u: {"channel": c} for u, c in channels.items()}, core.clock.now())
        adapter = slack.build(core, settings.model_copy(update={"api_url": fake.api_url}), db.engine)
        core.capabilities.register(adapter.sender.platform, adapter.sender.capabilities)
        floor = people / adapter.sender.messages_per_second
        try:
            seconds, left = await deliver(db, core, adapter.sender, cohort_id, floor * 10 + 60)
        finally:
            await adapter.close()
        per_person = Counter({user: len(fake.messages.get(channel, {})) for user, channel in channels.items()})
        lost, doubled = counted(per_person, people)
        return Result("slack", people, seconds, floor, lost, doubled, fake.throttled_total,
                      len(fake.calls_to("chat.postMessage")), left)
    finally:
        db.dispose()
        await fake.stop()


async def bench_teams(people: int, latency: float, rate: float, folder: str) -> Result:
    from adapters.teams import app as teams

    settings = TeamsSettings(enabled=True, messages_per_second=rate)
    allowed = max(TEAMS_PER_APP_PER_SECOND, round(rate))  # a smoke test may allow more
    limits = TeamsLimits(per_app=((allowed, 1.0),))
    connector = FakeConnector(latency=latency, enforce_limits=True, limits=limits)
    await connector.start()
    db = Database(f"sqlite:///{os.path.join(folder, 'teams.sqlite')}")
    try:
        migrate.upgrade(db.engine)
        core = Pairbot(db, clock_at_step(), Capabilities())
        cohort_id = build_cohort(db, "teams", TENANT, people, core.clock.now())
        conversations = {user_of("teams", n): f"a:p{n:06d}" for n in range(people)}
        store_conversations(db, "teams", TENANT, {user: {
            "user": {"id": user, "name": user}, "bot": TEAMS_BOT, "channelId": "msteams",
            "conversation": {"id": conversation, "conversationType": "personal", "tenantId": TENANT},
            "serviceUrl": connector.service_url} for user, conversation in conversations.items()}, core.clock.now())
        adapter = teams.build(core, settings)
        floor = people / allowed
        seconds, left = await deliver(db, core, adapter.sender, cohort_id, floor * 10 + 60)
        sent = Counter(s.conversation_id for s in connector.sent if s.method == "POST")
        per_person = Counter({user: sent.get(conversation, 0) for user, conversation in conversations.items()})
        lost, doubled = counted(per_person, people)
        calls = len([r for r in connector.requests if r.path.startswith("/v3/")])
        return Result("teams", people, seconds, floor, lost, doubled, connector.throttled, calls, left)
    finally:
        db.dispose()
        await connector.stop()


def clock_at_step() -> ScaledClock:
    """Programme time from the step's due moment, at wall speed."""
    due = default_programme().step(STEP).due_at(START, ZoneInfo("Europe/London"))
    return ScaledClock(due, 1.0)


# Teams' documented global limit: requests a second per app per tenant.
TEAMS_PER_APP_PER_SECOND = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.15, help="seconds each fake takes to answer a call")
    parser.add_argument("--platform", choices=("both", "slack", "teams"), default="both")
    parser.add_argument("--slack-rate", type=float, default=SlackSettings().messages_per_second,
                        help="Slack messages a second per workspace (sender and fake)")
    parser.add_argument("--teams-rate", type=float, default=TeamsSettings().messages_per_second,
                        help="Teams requests a second per app (the sender's; the fake allows 50)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the worker's retry lines would drown the figures

    platforms = ("slack", "teams") if args.platform == "both" else (args.platform,)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for platform in platforms:
            bench, rate = (bench_slack, args.slack_rate) if platform == "slack" else (bench_teams, args.teams_rate)
            result = asyncio.run(bench(args.people, args.latency, rate, folder))
            print(result.line(), flush=True)
            results.append(result)
    print("delivery: " + ", ".join(f"{r.platform} {r.ratio:.2f}x floor" for r in results))
    return 1 if any(r.lost or r.doubled or r.pending for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
