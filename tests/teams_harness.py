"""A running Pairbot with Teams enabled, on loopback: the real CloudAdapter at /api/messages,
activities posted in as Teams posts them, everything the bot sends going to a fake Bot Connector."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone

import aiohttp
from sqlalchemy import select

from adapters import runtime
from bot import enrolment
from bot.clock import ManualClock
from bot.config import DatabaseSettings, ServerSettings, Settings, TeamsSettings
from bot.events import Address
from bot.models import Cohort, Participant, Person
from bot.programme import default_programme
from fake_connector import FakeConnector
from loopback_bot import LoopbackBot
from harness import START
from slack_harness import free_port

TENANT = "tenant-1"
BOT = "28:pairbot"
PEOPLE = {
    # user id: (name, email, role, availability)
    "29:rita": ("Rita Coordinator", "rita@trust.example", None, []),
    "29:asha": ("Dr Asha Patel", "asha@trust.example", "clinician",
                [{"day": 0, "start": "12:30", "end": "14:00"}, {"day": 2, "start": "17:00", "end": "19:00"},
                 {"day": 4, "start": "12:00", "end": "13:30"}]),
    "29:ben": ("Ben Okafor", "ben@trust.example", "manager",
               [{"day": 0, "start": "12:00", "end": "15:00"}, {"day": 2, "start": "16:00", "end": "18:00"},
                {"day": 4, "start": "12:00", "end": "14:00"}]),
}


def personal(user: str) -> str:
    return f"a:personal-{user.split(':')[1]}"


@dataclass
class TeamsBot(LoopbackBot):
    PLATFORM = "teams"

    connector: FakeConnector
    running: runtime.Running
    http: aiohttp.ClientSession
    clock: ManualClock
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.running.port}/api/messages"

    # --- activities as Teams sends them ----------------------------------------------------------
    def _activity(self, kind: str, user: str, conversation: dict, **extra) -> dict:
        return {"type": kind, "id": f"in-{next(self.ids)}", "channelId": "msteams",
                "serviceUrl": self.connector.service_url, "timestamp": datetime.now(timezone.utc).isoformat(),
                "from": {"id": user, "name": PEOPLE.get(user, (user,))[0]}, "recipient": {"id": BOT, "name": "Pairbot"},
                "conversation": {"tenantId": TENANT, **conversation},
                "channelData": {"tenant": {"id": TENANT}}, **extra}

    async def post(self, activity: dict, headers: dict | None = None) -> int:
        async with self.http.post(self.url, json=activity, headers=headers or {}) as response:
            await response.read()
            return response.status

    async def install(self, user: str, via: str = "conversationUpdate") -> int:
        """The user adds Pairbot: Teams sends conversationUpdate (bot added) or installationUpdate."""
        if user in PEOPLE:  # Teams' member API knows them, with their work email
            name, email, *_ = PEOPLE[user]
            self.connector.add_member(personal(user), {"id": user, "name": name, "email": email,
                                                       "userPrincipalName": email})
        extra = {"membersAdded": [{"id": BOT}]} if via == "conversationUpdate" else {"action": "add"}
        return await self.post(self._activity(via, user, {"id": personal(user), "conversationType": "personal"},
                                              **extra))

    async def say(self, user: str, text: str) -> int:
        return await self.post(self._activity("message", user, {"id": personal(user), "conversationType": "personal"},
                                              text=text))

    async def say_in_group(self, user: str, text: str, conversation_id: str = "19:pairchat@thread.v2") -> int:
        """Someone writes to the bot in a group chat (with an @mention, as Teams delivers it)."""
        return await self.post(self._activity("message", user, {"id": conversation_id, "conversationType": "groupChat",
                                                                "isGroup": True},
                                              text=f"<at>Pairbot</at> {text}"))

    async def submit(self, user: str, card_activity_id: str, data: dict, conversation: str | None = None) -> int:
        """An Action.Submit from a card the bot sent: Teams posts a message whose value is the data
        merged with the card's inputs, replying to the card's activity."""
        conversation_id = conversation or personal(user)
        kind = "groupChat" if conversation else "personal"
        return await self.post(self._activity("message", user, {"id": conversation_id, "conversationType": kind},
                                              value=data, replyToId=card_activity_id, text=""))

    async def add_to_group_chat(self, users: list[str], conversation_id: str = "19:pairchat@thread.v2") -> int:
        for user in users:
            name, email, *_ = PEOPLE[user]
            self.connector.add_member(conversation_id, {"id": user, "name": name, "email": email,
                                                        "userPrincipalName": email, "aadObjectId": user[3:]})
        return await self.post(self._activity(
            "conversationUpdate", users[0], {"id": conversation_id, "conversationType": "groupChat", "isGroup": True},
            membersAdded=[{"id": BOT}]))

    # --- what Teams received ---------------------------------------------------------------------
    def cards(self, conversation_id: str) -> list[tuple[str, dict]]:
        """(activity id, card) of every card the bot sent into a conversation, oldest first."""
        found = []
        for sent in self.connector.to(conversation_id):
            if sent.method != "POST":
                continue
            for attachment in sent.activity.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    found.append((sent.id, attachment["content"]))
        return found

    def newest_card(self, user: str, words: str) -> tuple[str, dict] | None:
        """The newest card to `user` whose first text holds `words` (a reply in the turn and the
        outbox's sends may arrive in either order, so "the last one" is not always it)."""
        return next(((i, c) for i, c in reversed(self.cards(personal(user))) if words in c["body"][0]["text"]), None)

    def last_card(self, user: str) -> tuple[str, dict]:
        cards = self.cards(personal(user))
        assert cards, f"no card was sent to {user}"
        return cards[-1]

    # --- programme -------------------------------------------------------------------------------
    def enrol_pair(self) -> int:
        now = self.clock.now()
        with self.db.session() as session:
            org = enrolment.organisation(session, "teams", TENANT, "Test Trust", now)
            rita = enrolment.person(session, org, Address("teams", TENANT, "29:rita"), "Rita Coordinator", now,
                                    email="rita@trust.example")
            enrolment.grant(session, org, rita, "coordinator", now)
            cohort = enrolment.create_cohort(session, org, "Spring 2027", START, default_programme(),
                                             "Europe/London", now)
            members = [enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                address=Address("teams", TENANT, user), name=name, role=role, email=email,
                availability=availability), now)
                for user, (name, email, role, availability) in PEOPLE.items() if role]
            enrolment.make_pair(session, cohort, members, now)
            cohort.status = "running"
            return cohort.id

    def person(self, user: str) -> Person:
        with self.db.session() as session:
            return session.scalars(select(Person).where(Person.user_id == user)).one()


async def start_bot(tmp_path, *, app_id: str = "", app_password: str = "", pacing: float | None = 0.0,
                    coordinators: tuple[str, ...] = ()) -> TeamsBot:
    connector = FakeConnector()
    await connector.start()
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'pairbot.sqlite'}"),
        server=ServerSettings(host="127.0.0.1", port=free_port()),
        teams=TeamsSettings(enabled=True, app_id=app_id, app_password=app_password),
    )
    settings = settings.model_copy(update={"organisation": settings.organisation.model_copy(
        update={"name": "Test Trust", "coordinators": list(coordinators)})})
    clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    running = await runtime.start(settings, clock)
    if pacing is not None:
        for worker in running.workers:
            worker.sender.seconds_between_sends = pacing
    return TeamsBot(connector, running, aiohttp.ClientSession(), clock)


async def stop_bot(bot: TeamsBot) -> None:
    await bot.http.close()
    await bot.running.close()
    await bot.connector.stop()


__all__ = ["Cohort", "Participant", "start_bot", "stop_bot", "personal", "TENANT"]
