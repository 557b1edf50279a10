"""Teams turn latency: how long the Bot Connector waits for Pairbot's HTTP answer to an Adaptive
Card submission, next to a bare botbuilder echo bot.

    python benchmarks/teams_turn.py [--requests 300] [--warmup 50]

Pairbot is started as in the Teams scenario tests (tests/teams_harness.py `start_bot`): the real
runtime (aiohttp server, botbuilder CloudAdapter at /api/messages, APScheduler timeline, delivery
worker) on loopback, SQLite in a temporary directory, the fake Bot Connector service
(tests/fake_connector.py) as every activity's serviceUrl, an empty app id (no authentication) and
no sender pacing. A pair is enrolled, both install the app and the launch workshop invitation is
sent, so each request is the clinician's Action.Submit of "Yes, I'll be there" on that card (a
message activity whose value is the action's data and whose replyToId is the card's activity id, as
tests/test_teams.py `submit` posts it), with a fresh activity id each time. CloudAdapter answers 201
only after the bot's turn, so the latency holds Pairbot's whole turn: the core recording the RSVP,
the card update (PUT) and the reply (POST) to the fake connector. The bare bot is botbuilder's
CloudAdapter with ConfigurationBotFrameworkAuthentication (empty APP_ID) and a bot that replies
MessageFactory.text("echo") to each message, on its own aiohttp server, receiving the same
activities (so its reply goes to the same fake connector over HTTP).

Timed: from just before the POST (activity built and serialised) to the end of the response, at
concurrency 1 and 10 (10 requests kept in flight over one ClientSession). The client, both servers
and the fake share one event loop, as in the scenario tests. The timed requests
are split into --rounds rounds (default 4) that alternate the two apps (A B, B A, ...), so a slow
spell of the machine falls on both; background work is left to settle and a full garbage
collection is run before each round.
p50 / p99 come from statistics.quantiles(n=100, inclusive). The last line carries the figures.
Target: Pairbot's p99 under 1.5x the bare bot's.
Exits 1 if any response was not HTTP 201.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from aiohttp import web  # noqa: E402
from botbuilder.core import MessageFactory, TurnContext  # noqa: E402
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication  # noqa: E402
from botbuilder.schema import ActivityTypes  # noqa: E402

import latency  # noqa: E402
import teams_harness  # noqa: E402
from bot import outbox  # noqa: E402

CLICKER = "29:asha"
LEVELS = (1, 10)
APPS = ("bare", "pairbot")
MESSAGES_PATH = "/api/messages"
HEADERS = {"Content-Type": "application/json"}
YES = "Yes, I'll be there"
ACK = "Thanks, you're down as coming"


# --- the requests, as Teams sends them -------------------------------------------------------------
class Requests:
    """Fresh activities for each request: the clinician's submission of the invitation card's "yes",
    exactly as teams_harness `submit` builds it, each with a new activity id (and timestamp)."""

    def __init__(self, bot, card_id: str, data: dict):
        self.bot = bot
        self.card_id = card_id
        self.data = data

    def submission(self) -> bytes:
        activity = self.bot._activity("message", CLICKER, {"id": teams_harness.personal(CLICKER),
                                                           "conversationType": "personal"},
                                      value=dict(self.data), replyToId=self.card_id, text="")
        return json.dumps(activity).encode()

    def request(self) -> latency.Request:
        """For latency.drive: a fresh submission and the JSON content type."""
        return self.submission(), HEADERS


# --- the apps ------------------------------------------------------------------------------------
class BareConfig:
    """What ConfigurationBotFrameworkAuthentication reads; no app id, so no authentication."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class EchoBot:
    async def on_turn(self, turn_context: TurnContext) -> None:
        if turn_context.activity.type == ActivityTypes.message:
            await turn_context.send_activity(MessageFactory.text("echo"))


async def start_bare() -> tuple[web.AppRunner, str]:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(BareConfig()))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        response = await adapter.process(request, bot)
        return response if response is not None else web.Response(status=201)

    return await latency.serve(MESSAGES_PATH, messages)


async def prepare_pairbot(bot) -> tuple[str, dict]:
    """A cohort with one pair who both installed the app, and the launch workshop invitation in the
    clinician's personal chat: returns the card's activity id and the Action.Submit data of its
    "Yes, I'll be there" (action group:rsvp, value <meeting id>:yes)."""
    cohort_id = bot.enrol_pair()
    for user in (CLICKER, "29:ben"):
        status = await bot.install(user)
        if status != 201:
            raise SystemExit(f"installing for {user} answered HTTP {status}")
    bot.run_step(cohort_id, "launch-workshop")

    def invitation() -> tuple[str, dict] | None:
        for card_id, card in reversed(bot.cards(teams_harness.personal(CLICKER))):
            for action in card.get("actions") or []:
                if action.get("type") == "Action.Submit" and action.get("title") == YES:
                    return card_id, action["data"]
        return None

    await bot.until(lambda: invitation() is not None, seconds=15)
    card_id, data = invitation()
    if data.get("action") != "group:rsvp" or not str(data.get("value", "")).endswith(":yes"):
        raise SystemExit(f"unexpected invitation action data: {data}")
    return card_id, data


async def settle(bot, quiet: float = 0.3, limit: float = 60.0) -> None:
    """Until the outbox is empty and the fake connector has heard nothing new for `quiet` seconds."""
    def snapshot() -> tuple[int, int]:
        with bot.db.session() as session:
            pending = outbox.pending_count(session, "teams")
        return len(bot.connector.requests), pending

    await latency.settle(snapshot, lambda last: last[1] == 0, lambda last: f"outbox {last[1]}", quiet, limit)


def work_done(bot, card_id: str) -> str:
    """What the turns did at the fake connector, and the RSVP as stored."""
    conversation = teams_harness.personal(CLICKER)
    sent = bot.connector.to(conversation)
    updates = sum(1 for s in sent if s.method == "PUT" and s.activity_id == card_id)
    replies = [s for s in sent if s.method == "POST" and s.activity_id and s.activity_id.startswith("in-")]
    echoes = sum(1 for s in replies if s.activity.get("text") == "echo")
    texts = [str(a.get("content", {}).get("body", [{}])[0].get("text", ""))
             for s in replies for a in s.activity.get("attachments") or []]
    acks = sum(1 for text in texts if text.startswith(ACK))
    answers = latency.rsvp_answers(bot, CLICKER)
    line = (f"work in the turns: pairbot RSVP recorded {answers}, {updates} card updates (PUT), "
            f"{acks} acknowledgement replies (POST); bare {echoes} echo replies (POST)")
    others = Counter(text for text in texts if not text.startswith(ACK))
    if others:
        line += f"; other pairbot replies: {dict(others)}"
    return line


# --- the run -------------------------------------------------------------------------------------
async def run(args) -> int:
    counter = latency.count_logs()
    async with latency.bench("pairbot-teams-turn-", teams_harness.start_bot, teams_harness.stop_bot) as bench:
        bot = bench.bot  # app id empty, pacing 0
        card_id, data = await prepare_pairbot(bot)
        await settle(bot)
        counter.records.clear()  # the empty app id warning at start-up is expected
        bench.bare, bare_url = await start_bare()
        urls = {"bare": bare_url, "pairbot": bot.url}
        requests = Requests(bot, card_id, data)
        phases = await latency.run_phases(bench.http, urls, {"": requests.request}, LEVELS, APPS, args,
                                          lambda: settle(bot))
        work = work_done(bot, card_id)

    by_key = {(p.app, p.concurrency): p for p in phases}

    def p99(app: str, level: int) -> float:
        return by_key[app, level].p99()

    return latency.finish(phases, 201, work, counter,
                          f"teams_turn: p99 ratio pairbot/bare c=1 {p99('pairbot', 1) / p99('bare', 1):.2f}x, "
                          f"c=10 {p99('pairbot', 10) / p99('bare', 10):.2f}x; "
                          f"pairbot p99 c=1 {p99('pairbot', 1):.1f} ms, c=10 {p99('pairbot', 10):.1f} ms")


if __name__ == "__main__":
    latency.main(run, __doc__, 300, "app and concurrency level")
