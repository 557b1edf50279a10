"""A fake platform for conversation tests: what the bot sends lands in per-person inboxes, and
people answer through the same inbound events a real adapter produces (after errbot's test backend)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot import enrolment, migrate
from bot.capabilities import FORMS, GROUP_CONVERSATION, Capabilities
from bot.clock import ManualClock
from bot.core import Pairbot
from bot.db import Database
from bot.events import Address, Clicked, Said, Submitted
from bot.messages import Message, Recipient
from bot.programme import default_programme
from bot.sending import RetryLater, Sent, Unreachable
from scheduler.delivery import DeliveryWorker

PLATFORM = "fake"
START = date(2027, 1, 4)  # a Monday
TZ = ZoneInfo("Europe/London")


class RecordingSender:
    platform = PLATFORM
    seconds_between_sends = 0.0

    def __init__(self, capabilities: frozenset[str]):
        self.capabilities = capabilities
        self.sent: list[tuple[Recipient, Message]] = []
        self.failures: dict[str, list[Exception]] = {}  # user id -> exceptions to raise, in order

    def pacing_key(self, recipient: Recipient) -> str:
        return ",".join(m.key() for m in recipient.members)

    async def send(self, recipient: Recipient, message: Message, key: str = "") -> Sent:
        for member in recipient.members:
            queue = self.failures.get(member.user)
            if queue:
                raise queue.pop(0)
        self.sent.append((recipient, message))
        return Sent(ref=str(len(self.sent)))


@dataclass
class Harness:
    db: Database
    clock: ManualClock
    core: Pairbot
    sender: RecordingSender
    cohort_id: int
    users: dict[str, Address] = field(default_factory=dict)

    # --- the bot's side -------------------------------------------------------------------------
    def deliver(self) -> int:
        worker = DeliveryWorker(self.core, self.sender)
        return asyncio.run(worker.drain())

    def run_step(self, step_id: str) -> int | None:
        programme = default_programme()
        step = programme.step(step_id)
        due = step.due_at(START, TZ)
        if self.clock.now() < due:
            self.clock.set(due)
        result = self.core.run_step(self.cohort_id, step_id)
        self.deliver()
        return result

    def inbox(self, user: str) -> list[Message]:
        return [m for r, m in self.sender.sent if any(a.user == user for a in r.members)]

    def last(self, user: str) -> Message:
        return self.inbox(user)[-1]

    def group_messages(self) -> list[tuple[Recipient, Message]]:
        return [(r, m) for r, m in self.sender.sent if r.group]

    # --- a person's side ------------------------------------------------------------------------
    def click(self, user: str, label: str, message: Message | None = None) -> list[Message]:
        message = message or next(m for m in reversed(self.inbox(user)) if any(c.label == label for c in m.choices))
        picked = next(c for c in message.choices if c.label == label)
        replies = self.core.handle(Clicked(self.users[user], picked.action, picked.value))
        self.deliver()
        return replies

    def say(self, user: str, text: str) -> list[Message]:
        replies = self.core.handle(Said(self.users[user], text))
        self.deliver()
        return replies

    def submit(self, user: str, form: str, answers: dict) -> list[Message]:
        replies = self.core.handle(Submitted(self.users[user], form, answers))
        self.deliver()
        return replies


PEOPLE = {
    # user: (name, role, availability)
    "ben": ("Ben Okafor", "manager", [{"day": 0, "start": "12:00", "end": "15:00"},
                                       {"day": 2, "start": "16:00", "end": "18:00"},
                                       {"day": 4, "start": "12:00", "end": "14:00"},
                                       {"day": 3, "start": "09:00", "end": "11:00"}]),
    "asha": ("Dr Asha Patel", "clinician", [{"day": 0, "start": "12:30", "end": "14:00"},
                                            {"day": 2, "start": "17:00", "end": "19:00"},
                                            {"day": 4, "start": "12:00", "end": "13:30"},
                                            {"day": 1, "start": "07:00", "end": "09:00"}]),
}


def make_harness(url: str, capabilities: frozenset[str] = frozenset({GROUP_CONVERSATION}),
                 people: dict | None = None, start_at: datetime | None = None) -> Harness:
    db = Database(url)
    migrate.upgrade(db.engine)
    clock = ManualClock(start_at or datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    sender = RecordingSender(capabilities)
    core = Pairbot(db, clock, Capabilities({PLATFORM: capabilities}))
    users = {}
    now = clock.now()
    with db.session() as session:
        org = enrolment.organisation(session, PLATFORM, "T1", "Test Trust", now)
        rita = enrolment.person(session, org, Address(PLATFORM, "T1", "rita"), "Rita Coordinator", now)
        enrolment.grant(session, org, rita, "coordinator", now)
        users["rita"] = Address(PLATFORM, "T1", "rita")
        cohort = enrolment.create_cohort(session, org, "Spring 2027", START, default_programme(), "Europe/London", now)
        members = []
        for user, (name, role, availability) in (people or PEOPLE).items():
            address = Address(PLATFORM, "T1", user)
            users[user] = address
            members.append(enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                address=address, name=name, role=role, availability=availability, profession=role.title()), now))
        enrolment.make_pair(session, cohort, members, now)
        cohort.status = "running"
        cohort_id = cohort.id
    return Harness(db, clock, core, sender, cohort_id, users)


__all__ = ["make_harness", "Harness", "FORMS", "GROUP_CONVERSATION", "RetryLater", "Unreachable", "timedelta"]
