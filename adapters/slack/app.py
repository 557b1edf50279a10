"""The Slack app: slack-bolt's AsyncApp with Pairbot's listeners.

Every listener acknowledges first (Slack wants an answer within 3 seconds) and then does the slow
part: the core's database work runs in a thread, replies go out through the Web API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters import uploads
from adapters.slack import inbound, render
from adapters.slack.conversations import StoredConversations
from adapters.slack.installs import (ROTATE_MINUTES_BEFORE_EXPIRY, FixedToken, InstalledTokens,
                                     ThreadedInstallationStore, ThreadedStateStore)
from adapters.slack.sender import WEB_API_TIMEOUT_SECONDS, MethodPace, SlackSender
from adapters.slack.token_health import REFUSED, TokenHealth, error_of
from bot.config import SlackSettings
from bot.core import Pairbot
from bot.events import Address, Command, InboundEvent, Profile, Upload
from bot.health import Backoff, Health
from bot.messages import Message

log = logging.getLogger(__name__)


class _WithoutBodies(logging.Filter):
    """bolt logs the whole body of a request with a wrong signature (INFO, slack-bolt 1.30): anyone
    could put anything in our log that way, personal data included. The line stays, the body goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if ", body: " in message:
            record.msg, record.args = message.split(", body: ", 1)[0] + ", body not logged)", ()
        return True


for _verifier in ("slack_bolt.AsyncRequestVerification", "slack_bolt.RequestVerification"):
    logging.getLogger(_verifier).addFilter(_WithoutBodies())

SOMETHING_WENT_WRONG = Message("Sorry, something went wrong on my side and nothing was saved. "
                               "Please try again in a minute.", intent="error")
# What the code uses; adapters/slack/manifest.yml lists the same (a test keeps them equal).
# files:read fetches a CSV sent with 'import'; files:write sends the 'export' CSV.
BOT_SCOPES = ("chat:write", "commands", "files:read", "files:write", "im:history", "im:write", "mpim:write",
              "users:read", "users:read.email")
BULK_LOOKUP_FROM = 20  # more emails than this: one users.list walk instead of one lookup each
COMMAND = "/pairbot"
BOT_EVENTS = ("app_home_opened", "message.im")
OAUTH_EVENTS = ("app_uninstalled", "tokens_revoked")  # bolt's token revocation listeners
# Anything else on the shared HTTP session (file downloads, response URLs) gives up within this.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)
# Slack is busy or unwell: a reply that meets these goes through the outbox instead.
BUSY_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


@dataclass
class SlackAdapter:
    app: AsyncApp
    sender: SlackSender
    session: aiohttp.ClientSession
    installation_store: ThreadedInstallationStore | None = None

    async def close(self) -> None:
        stored = getattr(self.sender, "stored", None)
        if stored is not None:
            try:  # DM ids written behind the sends: keep them for the next start, if the database lets us
                await asyncio.wait_for(stored.saved(), timeout=5)
            except asyncio.TimeoutError:
                pass
        await self.session.close()


def build(core: Pairbot, settings: SlackSettings, engine=None, health: Health | None = None) -> SlackAdapter:
    """The bolt app and the sender for one Pairbot process, from the [slack] settings. Call it in
    the running event loop: every Web API call shares one HTTP session (a connection pool)."""
    session = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
    # Calls made while answering a person retry a 429 once, after Slack's Retry-After; the
    # delivery worker's sends do not, it reschedules the delivery instead of waiting.
    client = AsyncWebClient(base_url=settings.api_url, session=session, timeout=WEB_API_TIMEOUT_SECONDS,
                            retry_handlers=[AsyncRateLimitErrorRetryHandler(1)])
    token_health = TokenHealth(health)
    store = None
    if settings.client_id:
        if engine is None:
            raise ValueError("installing into many workspaces needs the database engine")
        store = ThreadedInstallationStore(settings.client_id, engine,
                                          on_installed=lambda found: _installed(core, client, found))
        oauth = AsyncOAuthSettings(
            client_id=settings.client_id, client_secret=settings.client_secret,
            scopes=list(settings.scopes or BOT_SCOPES), installation_store=store,
            state_store=ThreadedStateStore(engine), install_path="/slack/install",
            redirect_uri_path="/slack/oauth_redirect",
            # The consent page lives beside the Web API (slack.com, or GovSlack's own domain).
            authorization_url=settings.api_url.removesuffix("/").removesuffix("api") + "oauth/v2/authorize",
        )
        # bolt's default authorizer refreshes rotating tokens against slack.com; use our API URL.
        oauth.authorize = AsyncInstallationStoreAuthorize(
            client_id=settings.client_id, client_secret=settings.client_secret, installation_store=store,
            token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE_EXPIRY, client=client, logger=log)
        app = AsyncApp(signing_secret=settings.signing_secret, client=client, oauth_settings=oauth)
        app.enable_token_revocation_listeners()
        tokens = InstalledTokens(store, settings.client_id, settings.client_secret, settings.api_url, session)
    else:
        client.token = settings.bot_token  # bolt takes the token from the client it is given
        app = AsyncApp(signing_secret=settings.signing_secret, client=client)
        tokens = FixedToken(settings.bot_token)
    sender = SlackSender(tokens, settings.api_url, session=session, stored=StoredConversations(core.db, core.clock),
                         seconds_between_sends=settings.seconds_between_sends,
                         messages_per_second=settings.messages_per_second, calendar=core.calendar,
                         tier3=MethodPace(per_minute=settings.tier3_calls_per_minute))
    sender.token_health = token_health
    Listeners(core, session, token_health=token_health).register(app)
    return SlackAdapter(app, sender, session, store)


def profile_of(team: str, user: dict, mention: str = "") -> Profile:
    """A Slack user (users.info / users.lookupByEmail) as the core's Profile."""
    profile = user.get("profile") or {}
    return Profile(mention=mention, address=inbound.address(team, user["id"]),
                   name=user.get("real_name") or profile.get("real_name") or user.get("name", user["id"]),
                   email=profile.get("email"), timezone=user.get("tz") or "Europe/London")


async def look_up_emails(client: AsyncWebClient, team: str, emails: list[str]) -> tuple[tuple[Profile, ...], tuple[str, ...]]:
    """Many people named by email (a CSV import): walk the directory once (users.list, 200 a
    page) rather than calling users.lookupByEmail for each, which Slack limits per minute."""
    wanted = {e.lower(): e for e in emails}
    found: dict[str, dict] = {}
    cursor = None
    while True:
        page = await client.users_list(limit=200, cursor=cursor) if cursor else await client.users_list(limit=200)
        for user in page.get("members") or []:
            email = ((user.get("profile") or {}).get("email") or "").lower()
            if email in wanted and not user.get("deleted") and not user.get("is_bot"):
                found[email] = user
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    people = tuple(profile_of(team, found[e], mention=wanted[e]) for e in wanted if e in found)
    return people, tuple(wanted[e] for e in wanted if e not in found)


async def look_up_people(client: AsyncWebClient, team: str, text: str,
                         raw_ids: bool = False) -> tuple[tuple[Profile, ...], tuple[str, ...]]:
    """The people a text names (mentions, emails, and with `raw_ids` bare user ids as in the
    config), from Slack's directory; and the names it could not find."""
    people, unknown = [], []
    for token in text.split():
        token = token.strip(",;")
        users = inbound.mentioned_users(token) or ([token] if raw_ids and inbound.USER_ID.fullmatch(token) else [])
        emails = [] if users else inbound.mentioned_emails(token)
        if not users and not emails:
            continue
        try:
            if users:
                found = (await client.users_info(user=users[0]))["user"]
            else:
                found = (await client.users_lookupByEmail(email=emails[0]))["user"]
        except SlackApiError as failure:
            log.info("could not look up %s: %s", token, failure.response.get("error"))
            unknown.append(token)
            continue
        if found.get("deleted") or found.get("is_bot"):
            unknown.append(token)
        else:
            people.append(profile_of(team, found, mention=token))
    return tuple(people), tuple(unknown)


async def _installed(core: Pairbot, app_client: AsyncWebClient, installation) -> None:
    """A workspace installed Pairbot through OAuth: it becomes an organisation, the installer its
    first coordinator."""
    client = AsyncWebClient(token=installation.bot_token, base_url=app_client.base_url, session=app_client.session)
    installer, _ = await look_up_people(client, installation.team_id, installation.user_id or "", raw_ids=True)
    await asyncio.to_thread(core.install, "slack", installation.team_id, installation.team_name or
                            installation.team_id, installer)


async def single_workspace(core: Pairbot, adapter: SlackAdapter, coordinators: list[str],
                           facilitators: list[str] = ()) -> str:
    """At start-up with one bot token: the workspace becomes an organisation and the coordinators
    and facilitators named in the config (user ids or emails) get their roles. Returns the workspace id."""
    client = adapter.app.client
    me = await client.auth_test()
    team = me["team_id"]
    found = {}
    for role, names in (("coordinators", coordinators), ("facilitators", facilitators)):
        found[role], unknown = await look_up_people(client, team, " ".join(names), raw_ids=True)
        for name in unknown:
            log.warning("[organisation] %s: %s is not a person in Slack workspace %s", role, name, team)
    await asyncio.to_thread(core.install, "slack", team, me.get("team") or team, found["coordinators"],
                            found["facilitators"])
    return team


def token_refused(problem: Exception) -> bool:
    """Slack answered and refused the bot token: the operator must fix the config."""
    return isinstance(problem, SlackApiError) and problem.response.get("error") in REFUSED


async def until_slack_answers(part: str, attempt, explain, health: Health, stop: asyncio.Event,
                              first_problem: Exception):
    """Start-up work whose first try failed with `first_problem` (Slack out of reach), retried with
    capped backoff until it works, so an outage at deploy time stops neither Pairbot nor Teams
    beside it. Said once in the log and in /healthz (as `part`) until it works; returns what
    `attempt()` returned, or None if Pairbot stops first."""
    backoff = Backoff(health, part, log, first=1.0, cap=60.0)
    problem: Exception | None = first_problem
    while problem is not None:
        wait = backoff.failed(explain(problem))
        try:
            await asyncio.wait_for(stop.wait(), wait)
            return None
        except asyncio.TimeoutError:
            pass
        try:
            result = await attempt()
            problem = None
        except Exception as again:
            problem = again
    backoff.worked()
    return result


SOCKET_MODE = "slack:socket-mode"
SOCKET_MODE_GRACE_SECONDS = 5.0  # connecting takes a moment; only a socket closed for longer is trouble


async def watch_socket_mode(socket, health: Health, stop: asyncio.Event, every: float = 1.0) -> None:
    """While the Socket Mode connection is not open (Slack out of reach, or a refused app-level
    token), /healthz says so as part "slack:socket-mode" and the log says it once, and once when
    it is open again. slack_sdk does the reconnecting."""
    closed_since: float | None = None
    while not stop.is_set():
        now = asyncio.get_running_loop().time()
        if await socket.is_connected():  # slack_sdk's SocketModeClient
            closed_since = None
            ended = health.fine(SOCKET_MODE)
            if ended is not None:
                log.warning("%s works again after %.0f s", SOCKET_MODE, time.time() - ended.since)
        else:
            closed_since = now if closed_since is None else closed_since
            if now - closed_since >= SOCKET_MODE_GRACE_SECONDS and health.trouble(
                    SOCKET_MODE, "the Socket Mode connection to Slack is not open; retrying every 10 s"):
                log.error("%s cannot work: the Socket Mode connection to Slack is not open (Slack out of "
                          "reach, or [slack] app_token refused); retrying", SOCKET_MODE)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass


def explain_start_failure(problem: Exception, api_url: str) -> str:
    if token_refused(problem):
        error = problem.response.get("error")
        return (f"Slack refused the bot token ({error}): check [slack] bot_token / PAIRBOT_SLACK_BOT_TOKEN "
                f"and that the app is installed in the workspace")
    if isinstance(problem, SlackApiError):
        return (f"Slack's Web API at {api_url} answered HTTP {problem.response.status_code} "
                f"({problem.response.get('error') or 'no error named'})")
    return f"could not reach Slack's Web API at {api_url}: {problem.__class__.__name__}: {problem}"


class Listeners:
    """Each listener acknowledges at once; the work after the ack waits its turn, a few at a time.
    Database writes are serial anyway (SQLite takes one writer), and letting a burst of fifty run
    at once would starve the next requests' acknowledgements of the event loop."""

    def __init__(self, core: Pairbot, session: aiohttp.ClientSession, parallel_after_ack: int = 2,
                 token_health: TokenHealth | None = None):
        self.core = core
        self.session = session
        self.after_ack = asyncio.Semaphore(parallel_after_ack)
        self.token_health = token_health or TokenHealth()

    def register(self, app: AsyncApp) -> None:
        app.command(COMMAND)(self.on_command)
        app.action(re.compile(rf"^{render.CHOICE_ACTION}_\d+$"))(self.on_choice)
        app.action(render.SELECT_ACTION)(self.on_choice)
        app.action(render.FORM_ACTION)(self.on_form_button)
        app.action(re.compile(rf"^{render.LINK_ACTION}_\d+$"))(self.on_link)
        app.view(render.FORM_CALLBACK)(self.on_form_submitted)
        app.event("message")(self.on_message)
        app.event("app_home_opened")(self.on_home_opened)

    async def handle(self, event: InboundEvent) -> list[Message]:
        try:
            return await asyncio.to_thread(self.core.handle, event)
        except Exception:
            log.exception("the core failed on %s from %s", type(event).__name__, event.who.key())
            return [SOMETHING_WENT_WRONG]

    # --- coordinators -------------------------------------------------------------------------
    async def on_command(self, ack, body, client) -> None:
        await ack()
        async with self.after_ack:
            command = inbound.command(body)
            replies = await self._command(client, command, [])
            # The response URL answers only the person who typed the command (ephemeral); a file
            # (an export) cannot go that way, so it goes to their DM with the bot.
            webhook = AsyncWebhookClient(url=body["response_url"], session=self.session,
                                         timeout=WEB_API_TIMEOUT_SECONDS)
            for n, reply in enumerate(replies):
                if reply.document is not None:
                    await self._send_document(client, command.who.user, reply)
                    reply = Message(f"{reply.text}\nI've sent the file to our direct messages.", intent=reply.intent)
                try:
                    answered = await webhook.send(response_type="ephemeral", **render.message_payload(reply))
                    busy = answered.status_code == 429 or answered.status_code >= 500
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    busy = True
                if busy:
                    rest = [reply, *[r for r in replies[n + 1:]]]
                    await self._later(command.who, rest, body.get("trigger_id") or command.event_id)
                    break

    async def _command(self, client, command: Command, files: list) -> list[Message]:
        """A command with its files fetched and the people it names looked up."""
        fetched = []
        for shared in files:
            upload = await self._download(client, shared)
            if isinstance(upload, str):
                return [Message(upload, intent="error")]
            fetched.append(upload)
        # People named in a CSV are looked up; a rota's calendar names colleagues nobody asked about.
        emails = [e for u in fetched if not u.name.lower().endswith(".ics")
                  for e in inbound.mentioned_emails(" ".join(re.split(r"[,;\t\"']", u.text)))]
        if len(emails) > BULK_LOOKUP_FROM:
            people, unknown = await look_up_emails(client, command.who.workspace, emails)
            named, not_found = await look_up_people(client, command.who.workspace, command.text)
            people, unknown = people + named, unknown + not_found
        else:
            people, unknown = await look_up_people(client, command.who.workspace,
                                                   " ".join([command.text, *emails]))
        return await self.handle(dataclasses.replace(command, people=people, unknown=unknown, uploads=tuple(fetched)))

    async def _download(self, client: AsyncWebClient, shared: dict) -> Upload | str:
        """A file someone sent, as text (its private URL takes the bot token); or what is wrong."""
        name = shared.get("name") or "the file"
        if int(shared.get("size") or 0) > uploads.MAX_UPLOAD_BYTES:
            return uploads.too_big(name)
        return await uploads.fetch_text(self.session, name, shared["url_private_download"], "Slack",
                                        headers={"Authorization": f"Bearer {client.token}"})

    async def _send_document(self, client: AsyncWebClient, user: str, reply: Message, channel: str = "") -> None:
        try:
            if not channel:
                channel = (await client.conversations_open(users=user))["channel"]["id"]
            await client.files_upload_v2(channel=channel, filename=reply.document.name, title=reply.document.name,
                                         content=reply.document.content, initial_comment=reply.text)
        except SlackApiError as failure:
            log.warning("Slack refused a file: %s", failure.response.get("error"))

    # --- participants -------------------------------------------------------------------------
    async def on_choice(self, ack, body, action, client) -> None:
        await ack()
        async with self.after_ack:
            try:
                event = inbound.clicked(body, action)
            except ValueError:
                log.warning("a click with a value that is not ours: %r", action.get("value"))
                return
            replies = await self.handle(event)
            refused = any(r.intent == "error" for r in replies)
            channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
            message = body.get("message") or {}
            if not refused and channel and message.get("ts"):
                # Show the choice in place of the buttons, so the question cannot be answered twice; a
                # stale or repeated tap shows what is actually arranged instead of what was tapped.
                already = next((r for r in replies if r.intent == "already"), None)
                blocks = render.answered_blocks(message.get("blocks", []), "" if already else event.who.user,
                                                already.text if already else inbound.chosen_label(action))
                await self._quietly(client.chat_update(channel=channel, ts=message["ts"], blocks=blocks,
                                                       text=message.get("text", "")))
            await self._reply(client, body, event.who.user, channel, replies, event.event_id)

    async def on_form_button(self, ack, body, action, client) -> None:
        await ack()
        who = inbound.address(inbound.team_of(body), body["user"]["id"])
        channel = (body.get("channel") or {}).get("id", "")
        key = action.get("value", "")
        sent = await asyncio.to_thread(self.core.delivered, who, key)
        if sent is None or sent.form is None:
            await self._reply(client, body, who.user, channel,
                              [Message("That form is no longer open.", intent="error")], body.get("trigger_id"))
            return
        form = sent.form
        meta = {"form": form.id, "key": key, "channel": channel, "ts": (body.get("message") or {}).get("ts", "")}
        await client.views_open(trigger_id=body["trigger_id"], view=render.form_view(form, meta))

    async def on_link(self, ack) -> None:
        await ack()  # a URL button opens in the browser; Slack still sends us the click

    async def on_form_submitted(self, ack, body, client) -> None:
        await ack()
        async with self.after_ack:
            event = inbound.submitted(body)
            replies = await self.handle(event)
            meta = inbound.form_metadata(body["view"])
            if not any(r.intent in ("error", "reask") for r in replies) and meta.get("channel") and meta.get("ts"):
                # The form's message loses its button, so the form is not filled in twice.
                original = await asyncio.to_thread(self.core.delivered, event.who, meta.get("key", ""))
                if original is not None:
                    shown = render.message_payload(original)
                    blocks = render.answered_blocks(shown["blocks"], "", "Sent, thank you")
                    await self._quietly(client.chat_update(channel=meta["channel"], ts=meta["ts"], blocks=blocks,
                                                           text=shown["text"]))
            await self._reply(client, body, event.who.user, "", replies, event.event_id)

    async def on_message(self, body, event, client) -> None:
        async with self.after_ack:
            if not inbound.is_person_message(event):
                return
            command = inbound.typed_command(body)
            files = inbound.shared_files(event)
            if command is not None:
                replies = await self._command(client, command, files)
            elif files and not event.get("text"):
                calendar = all(str(f.get("name") or "").lower().endswith(".ics") for f in files)
                replies = [] if inbound.from_group(event) else [Message(
                    "Thanks for the file. To use it as your rota, send it again with the message 'rota'." if calendar
                    else "Thanks for the file. To import people from it, send it again with the message 'import'.",
                    intent="help")]
            else:
                replies = await self.handle(inbound.said(body))
            if inbound.from_group(event):
                # Only the person who wrote sees the bot's answer in a group DM or channel.
                await self._reply(client, body, event["user"], event["channel"], replies, body.get("event_id"))
                return
            who = inbound.address(inbound.team_of(body), event["user"])
            posted = []
            for n, reply in enumerate(replies):
                if reply.document is not None:
                    await self._send_document(client, event["user"], reply, event["channel"])
                    continue
                answer = await self._answered(client.chat_postMessage(channel=event["channel"],
                                                                      **render.message_payload(reply)))
                if answer is None:
                    await self._later(who, replies[n:], body.get("event_id"))
                    break
                posted.append((reply, answer))
            await self._keep(who, posted)

    async def on_home_opened(self, event, body, client) -> None:
        async with self.after_ack:
            if event.get("tab") not in (None, "home"):
                return
            who = inbound.address(inbound.team_of(body), event["user"])
            overview = await asyncio.to_thread(self.core.overview, who)
            await self._quietly(client.views_publish(user_id=who.user,
                                                     view=render.home_view(overview.title, list(overview.sections))))

    # --- answering ----------------------------------------------------------------------------
    async def _reply(self, client: AsyncWebClient, body: dict, user: str, channel: str,
                     replies: list[Message], event_key: str | None) -> None:
        """Replies to the person who acted: in their DM, or only to them in a pair's group DM."""
        is_group = inbound.is_group_channel(channel)
        who = inbound.address(inbound.team_of(body), user)
        posted = []
        for n, reply in enumerate(replies):
            if is_group:
                call = client.chat_postEphemeral(channel=channel, user=user, **render.message_payload(reply))
            else:
                call = client.chat_postMessage(channel=channel or user, **render.message_payload(reply))
            answer = await self._answered(call)
            if answer is None:
                await self._later(who, replies[n:], event_key)
                break
            if not is_group:  # an ephemeral message cannot be redrawn later
                posted.append((reply, answer))
        await self._keep(who, posted)

    async def _keep(self, who: Address, posted: list[tuple[Message, Any]]) -> None:
        """Replies that a later message may redraw (an offer of times the buddy books) are kept with
        their channel and ts, as the outbox keeps what it sends."""
        refs = [(reply, f"{answer.get('channel', '')}:{answer.get('ts', '')}") for reply, answer in posted
                if reply.reply_key and isinstance(answer, AsyncSlackResponse) and answer.get("ts")]
        if not refs:
            return
        try:
            await asyncio.to_thread(self.core.replied, who, refs)
        except Exception:  # the person has the reply; only its later redraw is lost
            log.exception("could not keep %d replies to %s for redrawing", len(refs), who.key())

    async def _answered(self, call):
        """Send one reply: Slack's answer, or None when Slack is busy or unwell (5xx, a 429 after
        bolt's one retry, no answer in time) or refuses the token: the reply should go through the
        outbox. A reply Slack refuses for good is logged (and its error answer returned); the
        person's answer is already saved."""
        try:
            answer = await call
        except SlackApiError as failure:
            error = error_of(failure)
            status = failure.response.status_code
            if self.token_health.refused(error) or status == 429 or status >= 500 or error in BUSY_ERRORS:
                return None
            log.warning("Slack refused a reply: %s", error)
            return failure.response
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return None
        self.token_health.worked()
        return answer

    async def _later(self, who: Address, replies: list[Message], event_key: str | None) -> None:
        """Replies Slack would not take now go to the person's DM through the outbox, keyed by the
        event (a retried event adds none)."""
        key = f"slack:{event_key or uuid.uuid4().hex}"
        try:
            await asyncio.to_thread(self.core.reply_later, who, replies, key)
        except Exception:
            log.exception("could not keep %d replies to %s for later", len(replies), who.key())
            return
        log.warning("Slack would not take a reply just now; %d go through the outbox", len(replies))

    async def _quietly(self, call) -> None:
        """A redrawn message or home tab that fails is logged; nothing is lost without it."""
        try:
            await call
        except SlackApiError as failure:
            self.token_health.failed(failure)
            log.warning("Slack refused an update: %s", error_of(failure))
        except (aiohttp.ClientError, asyncio.TimeoutError) as failure:
            log.warning("Slack did not answer an update: %s", type(failure).__name__)
