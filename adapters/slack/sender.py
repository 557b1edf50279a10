"""The Slack adapter's sending side, used by the delivery worker: a pair's messages go to a group DM
of its members, personal ones to a DM; Slack's answers become Sent / RetryLater / Unreachable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.conversations import StoredConversations
from adapters.slack.installs import NotInstalled, TokenSource
from adapters.slack.render import message_payload
from adapters.slack.token_health import TokenHealth
from bot.capabilities import FORMS, GROUP_CONVERSATION
from bot.events import Address
from bot.invitations import CalendarFile
from bot.messages import Invitation, Message, Recipient
from bot.sending import RetryLater, Sent, Unreachable

log = logging.getLogger(__name__)

PLATFORM = "slack"

# Answers that say this person is gone or has turned the app off (Slack Web API docs for
# conversations.open and chat.postMessage, 2026-11).
GONE = {"user_not_found", "user_disabled", "user_not_visible", "cannot_dm_bot", "messages_tab_disabled",
        "users_not_found"}
# Answers about the conversation, not the person: a stored DM or group DM id that is stale. The
# conversation is opened afresh; only if the person is gone too (users.info) do they count as gone.
STALE_CONVERSATION = {"channel_not_found", "is_archived", "not_in_channel"}
STALE_RETRY_SECONDS = 15 * 60.0
# The workspace as a whole: the app was removed or its token revoked; no point retrying soon.
WORKSPACE_GONE = {"invalid_auth", "token_revoked", "account_inactive", "not_authed", "team_access_not_granted"}
BUSY_RETRY_SECONDS = 30.0
WEB_API_TIMEOUT_SECONDS = 10  # each Web API call (slack_sdk's default is 30 s)

# Slack's documented pace for chat.postMessage (Web API docs, "Rate limits" and the method's own
# page, 2026-12): about one message a second to one channel, short bursts tolerated, and a
# workspace-wide limit of "several hundred messages per minute". 300 a minute is the low end of
# that; Slack may disable an app that keeps posting past its limits, so the default errs low.
SECONDS_BETWEEN_SENDS = 1.0
MESSAGES_PER_SECOND = 5.0
# conversations.open and chat.update are Tier 3 methods: "50+ per minute" per workspace, with
# occasional bursts (Web API docs, "Rate limits", 2026-12). A first step to a new cohort opens a
# conversation per person, so those calls keep to this pace instead of drawing 429s.
TIER3_PER_MINUTE = 50.0
TIER3_BURST = 3


class MethodPace:
    """Spaces one kind of Web API call per workspace: each call takes the next free slot, with up
    to `burst` calls at once after a quiet spell (a token bucket's behaviour, kept as the time the
    next slot is free)."""

    def __init__(self, per_minute: float = TIER3_PER_MINUTE, burst: int = TIER3_BURST):
        self.interval = 60.0 / per_minute
        self.burst = max(1, burst)
        self._next: dict[str, float] = {}  # workspace -> when (monotonic) its next slot is free

    async def wait(self, workspace: str) -> None:
        now = time.monotonic()
        earliest = now - (self.burst - 1) * self.interval
        at = max(self._next.get(workspace, earliest), earliest)
        self._next[workspace] = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


class SlackSender:
    platform = PLATFORM
    capabilities = frozenset({GROUP_CONVERSATION, FORMS})

    def __init__(self, tokens: TokenSource, api_url: str, session=None, conversation_cache_size: int = 20_000,
                 stored: StoredConversations | None = None, seconds_between_sends: float = SECONDS_BETWEEN_SENDS,
                 messages_per_second: float = MESSAGES_PER_SECOND,
                 calendar: Callable[[Invitation], CalendarFile | None] | None = None,
                 tier3: MethodPace | None = None):
        self.tokens = tokens
        self.api_url = api_url
        self.session = session  # an aiohttp.ClientSession shared with the rest of the adapter
        # Per conversation (the delivery worker spaces sends with the same pacing key) and per
        # workspace (the worker's app-wide rate); both from [slack] in the config.
        self.seconds_between_sends = seconds_between_sends
        self.messages_per_second = messages_per_second
        # DM ids the database holds (None: this process's memory only), with the recent ones cached.
        self.stored = stored
        self._conversations: OrderedDict[tuple[str, ...], str] = OrderedDict()
        self._cache_size = conversation_cache_size
        self.token_health = TokenHealth()  # the adapter gives it the process's Health
        # Makes a message's calendar invitation (.ics) when it goes out (`Pairbot.calendar`).
        self.calendar = calendar
        self.tier3 = tier3 or MethodPace()  # conversations.open and chat.update

    def pacing_key(self, recipient: Recipient) -> str:
        return ",".join(m.key() for m in recipient.members)

    async def client(self, team_id: str) -> AsyncWebClient:
        return AsyncWebClient(token=await self.tokens.token_for(team_id), base_url=self.api_url, session=self.session,
                              timeout=WEB_API_TIMEOUT_SECONDS)

    async def update(self, recipient: Recipient, ref: str, message: Message) -> Sent:
        """Redraw a message sent earlier (chat.update); if Slack cannot, send it as a new one."""
        channel, _, ts = ref.partition(":")
        try:
            client = await self.client(recipient.members[0].workspace)
            await self.tier3.wait(recipient.members[0].workspace)
            await client.chat_update(channel=channel, ts=ts, **message_payload(message))
            self.token_health.worked()
            return Sent(ref=ref)
        except NotInstalled as missing:
            raise RetryLater(str(missing), after_seconds=BUSY_RETRY_SECONDS * 10) from None
        except SlackApiError as failure:
            error = _error(failure)
            self.token_health.refused(error)
            self._raise_if_busy(failure, error)
            log.info("could not redraw a message (%s); sending it anew", error)
            return await self.send(recipient, message)

    async def send(self, recipient: Recipient, message: Message, key: str = "") -> Sent:
        team = recipient.members[0].workspace
        try:
            client = await self.client(team)
        except NotInstalled as missing:
            raise RetryLater(str(missing), after_seconds=BUSY_RETRY_SECONDS * 10) from None
        members = list(recipient.members)
        gone: list[Address] = []
        reopened = False
        while members:
            try:
                channel = await self._open(client, members)
                if message.document is not None:
                    ref = await self._upload(client, channel, message)
                    self.token_health.worked()
                    return Sent(ref=ref, unreachable=tuple(gone))
                if message.invitation is not None and (ics := await self._calendar_file(message)) is not None:
                    ref = await self._send_invitation(client, channel, message, ics, key)
                    self.token_health.worked()
                    return Sent(ref=ref, unreachable=tuple(gone))
                response = await client.chat_postMessage(channel=channel, **message_payload(message, key))
                self.token_health.worked()
                return Sent(ref=f"{response['channel']}:{response['ts']}", unreachable=tuple(gone))
            except SlackApiError as failure:
                error = _error(failure)
                if error in STALE_CONVERSATION:
                    await self._forget(members)  # the stale id is opened afresh, and stored anew
                if error in WORKSPACE_GONE:
                    self.tokens.forget(team)  # a revoked or rotated-away token is read afresh
                    self.token_health.refused(error)
                self._raise_if_busy(failure, error)
                if error in STALE_CONVERSATION and not reopened:
                    reopened = True  # open the conversation again (conversations.open) and retry once
                    continue
                if error not in GONE and error not in STALE_CONVERSATION:
                    raise
                if len(members) == 1 and error in GONE:
                    raise Unreachable(f"Slack says {error}", tuple(gone + members)) from None
                # Find who is gone (users.info) and send to the others.
                missing = await self._gone_members(client, members)
                if not missing:
                    if error in STALE_CONVERSATION:
                        # Everybody is still there: not a reason to drop anyone; try again later.
                        raise RetryLater(f"Slack says {error} though everyone is still in the workspace",
                                         after_seconds=STALE_RETRY_SECONDS) from None
                    raise
                gone += missing
                members = [m for m in members if m not in missing]
                reopened = False
        raise Unreachable("nobody in this conversation can be reached", tuple(gone))

    @staticmethod
    async def _upload(client: AsyncWebClient, channel: str, message: Message) -> str:
        """A file (a copy of someone's data asked for in a group DM) with the message as its comment."""
        document = message.document
        response = await client.files_upload_v2(channel=channel, filename=document.name, title=document.name,
                                                content=document.content, initial_comment=message.text)
        files = response.get("files") or [response.get("file") or {}]
        return f"{channel}:file:{files[0].get('id', '')}"

    async def _calendar_file(self, message: Message) -> CalendarFile | None:
        if self.calendar is None:
            return None
        return await asyncio.to_thread(self.calendar, message.invitation)

    @staticmethod
    async def _send_invitation(client: AsyncWebClient, channel: str, message: Message, ics: CalendarFile,
                               key: str) -> str:
        """The .ics as a file in the conversation: tapping it on a phone offers to add it to the
        calendar. A plain message is the file's comment (one message); one with buttons goes first
        and the file after it, since a file's comment cannot carry buttons. If the upload fails
        after the message went, a retry sends the message again: a duplicate, never a loss."""
        ref = ""
        if message.choices or message.form or message.links:
            response = await client.chat_postMessage(channel=channel, **message_payload(message, key))
            ref = f"{response['channel']}:{response['ts']}"
        uploaded = await client.files_upload_v2(channel=channel, filename=ics.name, title=ics.event.summary,
                                                content=ics.content, initial_comment=None if ref else message.text)
        files = uploaded.get("files") or [uploaded.get("file") or {}]
        return ref or f"{channel}:file:{files[0].get('id', '')}"

    @staticmethod
    def _cache_key(members: list[Address]) -> tuple[str, ...]:
        return (members[0].workspace, *sorted(m.user for m in members))

    async def _forget(self, members: list[Address]) -> None:
        self._conversations.pop(self._cache_key(members), None)
        if self.stored is not None:
            await self.stored.forget(members)

    async def _open(self, client: AsyncWebClient, members: list[Address]) -> str:
        cache_key = self._cache_key(members)
        channel = self._conversations.get(cache_key)
        if channel is not None:
            self._conversations.move_to_end(cache_key)
            return channel
        if self.stored is not None:
            channel = await self.stored.channel_for(members)
        if channel is None:
            await self.tier3.wait(cache_key[0])
            response = await client.conversations_open(users=",".join(cache_key[1:]))
            channel = response["channel"]["id"]
            if self.stored is not None:
                await self.stored.remember(members, channel)
        self._conversations[cache_key] = channel
        if len(self._conversations) > self._cache_size:
            self._conversations.popitem(last=False)
        return channel

    async def _gone_members(self, client: AsyncWebClient, members: list[Address]) -> list[Address]:
        missing = []
        for member in members:
            try:
                info = await client.users_info(user=member.user)
                if info["user"].get("deleted"):
                    missing.append(member)
            except SlackApiError as failure:
                error = _error(failure)
                self._raise_if_busy(failure, error)
                if error in GONE:
                    missing.append(member)
                else:
                    raise
        return missing

    @staticmethod
    def _raise_if_busy(failure: SlackApiError, error: str) -> None:
        status = failure.response.status_code
        if status == 429 or error == "ratelimited":
            wait = float(failure.response.headers.get("Retry-After", failure.response.headers.get("retry-after", 1)))
            raise RetryLater("Slack rate limit (429)", after_seconds=max(wait, 1.0)) from None
        if status >= 500 or error in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
            raise RetryLater(f"Slack answered {status} {error}", after_seconds=5.0) from None
        if error in WORKSPACE_GONE:
            raise RetryLater(f"Slack refused the bot token ({error})", after_seconds=BUSY_RETRY_SECONDS * 10) from None


def _error(failure: SlackApiError) -> str:
    data = failure.response.data if isinstance(failure.response.data, dict) else {}
    return str(data.get("error", ""))
