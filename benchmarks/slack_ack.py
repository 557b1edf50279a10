"""Slack acknowledgement latency: how long Slack waits for Pairbot's HTTP answer to a button click
and to a slash command, next to a bare slack-bolt app that only acknowledges.

    python benchmarks/slack_ack.py [--requests 400] [--warmup 50]

Pairbot is started as in the Slack scenario tests (tests/slack_harness.py `start_bot`): the real
runtime (aiohttp server, bolt app, APScheduler timeline, delivery worker) on loopback, SQLite in a
temporary directory and the fake Slack Web API (tests/fake_slack.py). A pair is enrolled and the
launch workshop invitation sent, so each click is a real RSVP, which Pairbot records after its ack
(and then edits the message and replies, through the fake). `/pairbot help` comes from the
coordinator. The bare app is slack-bolt's AsyncApp with listeners that only call `await ack()`, on its
own aiohttp server, receiving the same signed requests.

Timed: from just before the POST (body built and signed) to the end of the response, i.e. the ack
as Slack sees it, at concurrency 1 and 50 (50 requests kept in flight over one ClientSession). The
client, both servers and the fake share one event loop, as in the scenario tests. The timed requests
are split into --rounds rounds (default 4) that alternate the two apps (A B, B A, ...), so a slow
spell of the machine falls on both; background work is left to settle and a full garbage
collection is run before each round.
p50 / p99 come from statistics.quantiles(n=100, inclusive). The last line carries the figures.
Targets: Pairbot's p99 under 1.5x the bare app's and under 100 ms at 50 concurrent requests.
Exits 1 if any response was not HTTP 200.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from aiohttp import web  # noqa: E402
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request  # noqa: E402
from slack_bolt.async_app import AsyncApp  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402

import latency  # noqa: E402
import slack_harness  # noqa: E402
from bot import enrolment, outbox  # noqa: E402
from bot.events import Address  # noqa: E402
from bot.models import Cohort, Organisation  # noqa: E402

SECRET = slack_harness.SECRET
TEAM = slack_harness.TEAM
CLICKER = "U0ASHA"
COORDINATOR = "U0RITA"
LEVELS = (1, 50)
KINDS = ("click", "command")
APPS = ("bare", "pairbot")
EVENTS_PATH = "/slack/events"


# --- the requests, as Slack sends them -------------------------------------------------------------
class Requests:
    """Fresh bodies for each request (unique action_ts and trigger_id, fresh signatures). The
    response URLs come from a fixed pool: FakeSlack checks a response URL against every one it has
    issued, a cost of the fixture (on the shared event loop) that would grow through the run and
    fall on Pairbot's replies only."""

    def __init__(self, fake, message: dict, button: dict, response_urls: int = 50):
        self.fake = fake
        self.message = message
        self.button = button
        self.verifier = SignatureVerifier(SECRET)
        self._n = itertools.count(1)
        self._response_urls = itertools.cycle([fake.new_response_url() for _ in range(response_urls)])

    def click(self) -> str:
        n = next(self._n)
        stamp = f"{int(time.time())}.{n:06d}"  # the action timestamp makes each click its own event
        action = {"type": "button", "action_id": self.button["action_id"], "block_id": "b",
                  "text": self.button["text"], "value": self.button["value"], "action_ts": stamp}
        payload = {
            "type": "block_actions", "team": {"id": TEAM, "domain": "trust"},
            "user": {"id": CLICKER, "team_id": TEAM}, "api_app_id": "A1", "trigger_id": f"trigger-{stamp}",
            "container": {"type": "message", "message_ts": self.message["ts"], "channel_id": self.message["channel"]},
            "channel": {"id": self.message["channel"], "name": "directmessage"},
            "message": {"ts": self.message["ts"], "text": self.message["text"], "blocks": self.message["blocks"]},
            "response_url": next(self._response_urls), "actions": [action]}
        return urlencode({"payload": json.dumps(payload)})

    def command(self) -> str:
        n = next(self._n)
        return urlencode({"token": "legacy", "team_id": TEAM, "team_domain": "trust", "channel_id": "C0GENERAL",
                          "user_id": COORDINATOR, "user_name": "rita", "command": "/pairbot", "text": "help",
                          "api_app_id": "A1", "response_url": next(self._response_urls),
                          "trigger_id": f"{int(time.time())}.{n}.cmd"})

    def headers(self, body: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp, body=body)}

    def signed(self, make_body: Callable[[], str]) -> Callable[[], latency.Request]:
        """For latency.drive: a fresh body from `make_body`, encoded, with its signed headers."""
        def make() -> latency.Request:
            body = make_body()
            return body.encode(), self.headers(body)
        return make


# --- the apps ------------------------------------------------------------------------------------
async def start_bare(fake) -> tuple[web.AppRunner, str, AsyncApp]:
    bolt = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url))

    @bolt.action("pairbot_choice_0")
    async def on_choice(ack):
        await ack()

    @bolt.command("/pairbot")
    async def on_command(ack):
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    runner, url = await latency.serve(EVENTS_PATH, events)
    return runner, url, bolt


async def prepare_pairbot(bot) -> tuple[dict, dict]:
    """A cohort with one pair, and the launch workshop invitation in the clinician's DM: returns the
    message and its 'yes' button (action_id pairbot_choice_0, value group:rsvp|<meeting id>:yes,
    render.choice_value of the flow's choice)."""
    cohort_id = bot.make_cohort()
    now = bot.clock.now()
    with bot.db.session() as session:
        cohort = session.get(Cohort, cohort_id)
        org = session.get(Organisation, cohort.organisation_id)
        for user, role in ((CLICKER, "clinician"), ("U0BEN", "manager")):
            name, email = slack_harness.PEOPLE[user]
            enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                address=Address("slack", TEAM, user), name=name, role=role, email=email), now)
    bot.pair_up(cohort_id, [CLICKER, "U0BEN"])
    bot.run_step(cohort_id, "launch-workshop")

    def invitation() -> tuple[dict, dict] | None:
        for message in bot.inbox(CLICKER):
            for block in message.get("blocks") or []:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element.get("type") == "button" and element.get("value", "").startswith("group:rsvp|"):
                        return message, element
        return None

    await bot.until(lambda: invitation() is not None, seconds=15)
    message, button = invitation()
    if button["action_id"] != "pairbot_choice_0" or not button["value"].endswith(":yes"):
        raise SystemExit(f"unexpected invitation button: {button}")
    return message, button


def listener_tasks() -> int:
    """bolt's listener tasks still running (Pairbot's slow part after the ack)."""
    return sum(1 for task in asyncio.all_tasks()
               if "run_ack_function_asynchronously" in getattr(task.get_coro(), "__qualname__", ""))


async def settle(bot, quiet: float = 0.3, limit: float = 60.0) -> None:
    """Until no listener is still working, the outbox is empty and the fake has heard nothing new
    for `quiet` seconds."""
    def snapshot() -> tuple[int, int, int, int]:
        with bot.db.session() as session:
            pending = outbox.pending_count(session, "slack")
        return len(bot.fake.calls), len(bot.fake.responses), listener_tasks(), pending

    await latency.settle(snapshot, lambda last: last[2] == 0 and last[3] == 0,
                         lambda last: f"listeners {last[2]}, outbox {last[3]}", quiet, limit)


# --- the run -------------------------------------------------------------------------------------
async def run(args) -> int:
    counter = latency.count_logs()
    async with latency.bench("pairbot-slack-ack-", slack_harness.start_bot, slack_harness.stop_bot) as bench:
        bot = bench.bot
        for worker in bot.running.workers:  # pacing 0: seconds_between_sends = 0
            worker.sender.seconds_between_sends = 0
        message, button = await prepare_pairbot(bot)
        await settle(bot)
        bench.bare, bare_url, _ = await start_bare(bot.fake)
        urls = {"bare": bare_url, "pairbot": f"{bot.url}{EVENTS_PATH}"}
        requests = Requests(bot.fake, message, button)
        bodies = {"click": requests.click, "command": requests.command}
        makers = {kind: requests.signed(bodies[kind]) for kind in KINDS}
        phases = await latency.run_phases(bench.http, urls, makers, LEVELS, APPS, args, lambda: settle(bot))
        fake = bot.fake
        answers = latency.rsvp_answers(bot, CLICKER)
        work = (f"pairbot's work after the acks: RSVP recorded {answers}, {len(fake.calls_to('chat.update'))} "
                f"chat.update, {len(fake.calls_to('chat.postMessage'))} chat.postMessage, "
                f"{len(fake.responses)} response_url replies")

    by_key = {(p.app, p.kind, p.concurrency): p for p in phases}

    def ratio(kind: str, level: int) -> float:
        return by_key["pairbot", kind, level].p99() / by_key["bare", kind, level].p99()

    return latency.finish(phases, 200, work, counter,
                          f"slack_ack: p99 ratio pairbot/bare click c=1 {ratio('click', 1):.2f}x, "
                          f"c=50 {ratio('click', 50):.2f}x; "
                          f"command c=1 {ratio('command', 1):.2f}x, c=50 {ratio('command', 50):.2f}x; "
                          f"pairbot p99 at c=50: click {by_key['pairbot', 'click', 50].p99():.1f} ms, "
                          f"command {by_key['pairbot', 'command', 50].p99():.1f} ms")


if __name__ == "__main__":
    latency.main(run, __doc__, 400, "app, kind and concurrency level")
