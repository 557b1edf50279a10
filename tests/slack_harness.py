"""A running Pairbot with Slack enabled, on loopback: the real bolt app behind our aiohttp server,
the real slack_sdk client talking to FakeSlack, and signed requests in, as Slack sends them."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from adapters import runtime
from adapters.slack.sender import MethodPace
from bot import enrolment
from bot.clock import ManualClock
from bot.config import DatabaseSettings, ServerSettings, Settings, SlackSettings
from bot.events import Address
from bot.models import Cohort, Participant, Person
from bot.programme import default_programme
from fake_slack import FakeSlack
from harness import START
from loopback_bot import LoopbackBot
from sqlalchemy import select

SECRET = "test-signing-secret"
TEAM = "T1"
PEOPLE = {
    # user id: (name, email)
    "U0RITA": ("Rita Coordinator", "rita@trust.example"),
    "U0ASHA": ("Dr Asha Patel", "asha@trust.example"),
    "U0BEN": ("Ben Okafor", "ben@trust.example"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sign(body: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)}


@dataclass
class SlackBot(LoopbackBot):
    PLATFORM = "slack"
    SETTLE_TAIL = 0.05  # replies posted after the acknowledgement

    fake: FakeSlack
    running: runtime.Running
    http: aiohttp.ClientSession
    clock: ManualClock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.running.port}"

    # --- requests as Slack sends them ------------------------------------------------------------
    async def post(self, body: str, content_type: str, headers: dict | None = None,
                   signed: dict | None = None) -> aiohttp.ClientResponse:
        all_headers = {"Content-Type": content_type, **(signed if signed is not None else sign(body)),
                       **(headers or {})}
        async with self.http.post(f"{self.url}/slack/events", data=body.encode(), headers=all_headers) as response:
            await response.read()
            return response

    async def event(self, event: dict, event_id: str, retry: int | None = None, **kw) -> aiohttp.ClientResponse:
        body = json.dumps({"token": "legacy", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
                           "event_id": event_id, "event_time": int(time.time()), "event": event})
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self.post(body, "application/json", headers, **kw)

    async def dm(self, user: str, text: str, event_id: str, retry: int | None = None) -> aiohttp.ClientResponse:
        channel = await self.dm_channel(user)
        return await self.event({"type": "message", "channel_type": "im", "channel": channel, "user": user,
                                 "text": text, "ts": f"{time.time():.6f}"}, event_id, retry)

    async def group_message(self, channel: str, user: str, text: str, event_id: str) -> aiohttp.ClientResponse:
        """Someone writes in a group DM the bot is in (Slack sends message.mpim events)."""
        return await self.event({"type": "message", "channel_type": "mpim", "channel": channel, "user": user,
                                 "text": text, "ts": f"{time.time():.6f}"}, event_id)

    def ephemerals(self, channel: str, user: str) -> list[str]:
        """Texts the bot showed only to `user` in a channel (chat.postEphemeral)."""
        return [c.args.get("text", "") for c in self.fake.calls_to("chat.postEphemeral")
                if c.args.get("channel") == channel and c.args.get("user") == user]

    async def command(self, user: str, text: str, channel: str = "C0GENERAL", **kw) -> aiohttp.ClientResponse:
        body = urlencode({"token": "legacy", "team_id": TEAM, "team_domain": "trust", "channel_id": channel,
                          "user_id": user, "user_name": user.lower(), "command": "/pairbot", "text": text,
                          "api_app_id": "A1", "response_url": self.fake.new_response_url(),
                          "trigger_id": "1.2.3"})
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    async def interact(self, payload: dict, **kw) -> aiohttp.ClientResponse:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    async def click(self, user: str, message: dict, label: str) -> aiohttp.ClientResponse:
        """Press the button (or pick the option) labelled `label` on a message the bot posted."""
        action = None
        for block in message["blocks"]:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element["type"] == "button" and element["text"]["text"] == label:
                    action = {"type": "button", "action_id": element["action_id"], "block_id": "b",
                              "text": element["text"], "value": element.get("value", ""),
                              "action_ts": f"{time.time():.6f}"}
                if element["type"] == "static_select":
                    for option in element["options"]:
                        if option["text"]["text"] == label:
                            action = {"type": "static_select", "action_id": element["action_id"], "block_id": "b",
                                      "selected_option": option, "action_ts": f"{time.time():.6f}"}
        assert action is not None, f"no '{label}' on {json.dumps(message['blocks'])[:500]}"
        return await self.interact({
            "type": "block_actions", "team": {"id": TEAM, "domain": "trust"},
            "user": {"id": user, "team_id": TEAM}, "api_app_id": "A1", "trigger_id": f"trigger-{time.time()}",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
            "channel": {"id": message["channel"], "name": "directmessage"},
            "message": {"ts": message["ts"], "text": message["text"], "blocks": message["blocks"]},
            "response_url": self.fake.new_response_url(), "actions": [action]})

    async def submit(self, user: str, view: dict, answers: dict[str, str]) -> aiohttp.ClientResponse:
        """Submit a modal the bot opened, with {block id: answer}."""
        values = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            element = block["element"]
            answer = answers.get(block["block_id"])
            if element["type"] == "static_select":
                picked = next((o for o in element["options"] if o["value"] == answer), None)
                values[block["block_id"]] = {"answer": {"type": "static_select", "selected_option": picked}}
            else:
                values[block["block_id"]] = {"answer": {"type": "plain_text_input", "value": answer}}
        return await self.interact({
            "type": "view_submission", "team": {"id": TEAM, "domain": "trust"},
            "user": {"id": user, "team_id": TEAM}, "api_app_id": "A1", "trigger_id": "t",
            "view": {**view, "id": "V1", "hash": f"h{time.time()}", "state": {"values": values}}})

    # --- what Slack received ---------------------------------------------------------------------
    async def dm_channel(self, user: str) -> str:
        from slack_sdk.web.async_client import AsyncWebClient

        client = AsyncWebClient(token=self.fake.bot_token, base_url=self.fake.api_url)
        return (await client.conversations_open(users=user))["channel"]["id"]

    def channel_of(self, *users: str) -> str | None:
        """The DM (one user) or group DM (several) the bot has opened with these users."""
        return self.fake._conversations.get(frozenset(users))

    def inbox(self, *users: str) -> list[dict]:
        channel = self.channel_of(*users)
        return self.messages_in(channel) if channel else []

    def last(self, *users: str) -> dict:
        messages = self.inbox(*users)
        assert messages, f"nothing was posted to {users}"
        return messages[-1]

    def newest(self, user: str, words: str) -> dict | None:
        """The newest message to `user` whose text or buttons hold `words` (replies after an ack and
        the outbox's sends may arrive in either order, so "the last one" is not always it)."""
        return next((m for m in reversed(self.inbox(user)) if words in m["text"] or words in str(m.get("blocks"))),
                    None)

    def messages_in(self, channel: str) -> list[dict]:
        """The channel as Slack holds it now (after updates), oldest first."""
        stored = self.fake.messages.get(channel, {})
        return [{"channel": channel, "ts": ts, **message} for ts, message in sorted(stored.items())]

    # --- programme -------------------------------------------------------------------------------
    def make_cohort(self) -> int:
        now = self.clock.now()
        with self.db.session() as session:
            org = enrolment.organisation(session, "slack", TEAM, "Test Trust", now)
            cohort = enrolment.create_cohort(session, org, "Spring 2027", START, default_programme(),
                                             "Europe/London", now)
            return cohort.id

    def pair_up(self, cohort_id: int, users: list[str]) -> None:
        now = self.clock.now()
        with self.db.session() as session:
            members = [session.scalars(select(Participant).join(Person).where(
                Person.user_id == user, Participant.cohort_id == cohort_id)).one() for user in users]
            enrolment.make_pair(session, session.get(Cohort, cohort_id), members, now)
            session.get(Cohort, cohort_id).status = "running"

async def start_bot(tmp_path, *, pacing: float | None = 0.0, users=PEOPLE, before_start=None,
                    **slack_settings) -> SlackBot:
    fake = FakeSlack(team_id=TEAM)
    await fake.start()
    if before_start is not None:  # e.g. make Slack fail before Pairbot first calls it
        before_start(fake)
    for user, (name, email) in users.items():
        fake.add_user(user, name, email=email, tz="Europe/London")
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'pairbot.sqlite'}"),
        server=ServerSettings(host="127.0.0.1", port=free_port()),
        slack=SlackSettings(**{"enabled": True, "bot_token": fake.bot_token, "signing_secret": SECRET,
                               "api_url": fake.api_url, **slack_settings}),
    )
    settings = settings.model_copy(update={"organisation": settings.organisation.model_copy(
        update={"coordinators": ["U0RITA"]})})
    clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    running = await runtime.start(settings, clock)
    if pacing is not None:  # None: the configured pacing
        for worker in running.workers:
            worker.sender.seconds_between_sends = pacing
            if "tier3_calls_per_minute" not in slack_settings:  # conversations open as fast as asked
                worker.sender.tier3 = MethodPace(per_minute=60_000, burst=50)
    return SlackBot(fake, running, aiohttp.ClientSession(), clock)


async def stop_bot(bot: SlackBot) -> None:
    await bot.http.close()
    await bot.running.close()
    await bot.fake.stop()


def address(user: str) -> Address:
    return Address("slack", TEAM, user)
