"""The Teams adapter: botbuilder's CloudAdapter at /api/messages, the bot's turn handling, and the
sender the delivery worker uses for proactive messages."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import urllib.parse
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, Attachment, ConversationReference
from msrest.exceptions import ClientRequestError, DeserializationError

from adapters import uploads
from adapters.teams import auth as teams_auth
from adapters.teams import conversations, inbound, render
from adapters.teams.calendar import CalendarLinks
from bot.capabilities import FORMS
from bot.config import TeamsSettings
from bot.core import Pairbot
from bot.events import Address, Command, Joined, Profile, Upload
from bot.health import Health
from bot.messages import Link, Message, Recipient
from bot.sending import RetryLater, Sent, Unreachable

log = logging.getLogger(__name__)

PLATFORM = "teams"
SOMETHING_WENT_WRONG = Message("Sorry, something went wrong on my side and nothing was saved. "
                               "Please try again in a minute.", intent="error")
# Answers Teams gives when it is busy or briefly unwell; the delivery is tried again later.
BUSY = {412, 429, 500, 502, 503, 504}
# Without a token nothing can be sent; a refused one (a wrong secret) needs the operator.
NO_TOKEN_RETRY_SECONDS = 30.0
TOKEN_REFUSED_RETRY_SECONDS = 600.0
# In a personal chat: the person removed or blocked the app (403), or the chat no longer exists
# (404). The delivery worker asks again hours later before it counts them as gone. In a group
# chat both mean the bot is no longer in that chat, not that its members are gone.
GONE = {403, 404}
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
FILE_CONSENT_INVOKE = "fileConsent/invoke"
# The activity as Teams posted it: read once, because re-serialising botbuilder's Activity
# costs more than the rest of a turn's own work.
_POSTED: ContextVar[dict[str, Any] | None] = ContextVar("teams_posted_activity", default=None)


@dataclass(frozen=True)
class Staff:
    """The organisation's name and the coordinators and facilitators the config names (emails)."""

    organisation_name: str = "My NHS Trust"
    coordinators: frozenset[str] = frozenset()
    facilitators: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings) -> "Staff":
        """From [organisation]: Teams knows people by email only, so Slack user ids are left out."""
        return cls(settings.name, _emails(settings.coordinators), _emails(settings.facilitators))


def _emails(names: list[str]) -> frozenset[str]:
    return frozenset(n.strip().lower() for n in names if "@" in n)


@dataclass
class TeamsAdapter:
    adapter: CloudAdapter
    bot: "PairbotTeamsBot"
    sender: "TeamsSender"
    auth: teams_auth.TeamsAuth | None = None
    calendar: CalendarLinks | None = None  # what GET /calendar/<token>.ics checks tokens with

    async def process(self, request: web.Request) -> web.Response | None:
        """One POST to /api/messages. A body that is not an activity gets 400 here; CloudAdapter
        checks the Bot Framework token (when an app id is set): 401 when it is missing or wrong,
        503 when the signing keys cannot be read just now. The body is never logged."""
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _refused(400, "expected an activity as JSON")
        try:
            posted = await request.json()  # CloudAdapter reads it again from aiohttp's cache
        except ValueError:
            return _refused(400, "the body is not JSON")
        if not isinstance(posted, dict) or not isinstance(posted.get("type"), str) or not posted["type"]:
            return _refused(400, "the body is not an activity")
        token = _POSTED.set(posted)
        try:
            return await self.adapter.process(request, self.bot)
        except teams_auth.ValidationUnavailable as unavailable:
            log.warning("Teams: a request could not be authenticated: %s", unavailable)
            return _refused(503, "cannot check tokens just now", {"Retry-After": "30"})
        except (DeserializationError, AttributeError, TypeError) as unreadable:
            # msrest could not read the activity's fields (a string where an object belongs)
            log.info("Teams: a malformed activity (%s)", type(unreadable).__name__)
            return _refused(400, "the body is not an activity")
        finally:
            _POSTED.reset(token)

    async def close(self) -> None:
        if self.auth is not None:
            self.auth.close()


def _refused(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


def build(core: Pairbot, settings: TeamsSettings, staff: Staff | None = None,
          health: Health | None = None, calendar: CalendarLinks | None = None) -> TeamsAdapter:
    if not settings.app_id:
        log.warning("Teams: [teams] app_id is empty, so requests to /api/messages are NOT authenticated. "
                    "Use this only on a developer machine.")
    # Every app type, a managed identity's too, fetches its tokens and signing keys off the loop.
    auth = teams_auth.build(settings, health or Health())
    adapter = CloudAdapter(auth.authentication)
    adapter.on_turn_error = _on_turn_error
    core.capabilities.register(PLATFORM, TeamsSender.capabilities)
    core.capabilities.contact_links.register(PLATFORM, contact_links)
    staff = staff or Staff()
    if not staff.coordinators:
        log.warning("Teams: no coordinator is named by email in [organisation] coordinators, so the first "
                    "person to add Pairbot in a tenant becomes its coordinator.")
    credentials = auth.credentials
    sender = TeamsSender(adapter, settings.app_id, core, credentials,
                         seconds_between_sends=settings.seconds_between_sends,
                         messages_per_second=settings.messages_per_second, calendar=calendar)
    return TeamsAdapter(adapter, PairbotTeamsBot(core, staff), sender, auth, calendar)


async def _on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    log.error("Teams turn failed: %s", type(error).__name__, exc_info=error)
    try:
        await turn_context.send_activity(_activity(SOMETHING_WENT_WRONG))
    except Exception as failure:  # Teams still gets its answer to the request
        log.warning("could not tell the person about it either: %s", _reason(failure))


def contact_links(me: Profile, others: list[Profile], topic: str) -> list[Link]:
    """A Teams bot cannot start a group chat, so the introduction carries deep links that open a
    chat with the others and a new meeting with everyone invited (Teams deep links, 2026-11: they
    take sign-in names, which in NHS tenants are the work email addresses)."""
    emails = [p.email for p in others if p.email]
    if not emails:
        return []
    topic_q = urllib.parse.quote(topic)
    chat = f"https://teams.microsoft.com/l/chat/0/0?users={','.join(emails)}&topicName={topic_q}"
    attendees = ",".join(emails + ([me.email] if me.email else []))
    meeting = (f"https://teams.microsoft.com/l/meeting/new?subject={topic_q}"
               f"&attendees={urllib.parse.quote(attendees, safe=',@')}")
    names = " and ".join(p.name.split(" ")[0] for p in others)
    return [Link(f"Chat with {names}", chat), Link("Set up a meeting", meeting)]


def _activity(message: Message, delivery_key: str = "") -> Activity:
    card = render.message_card(message, delivery_key)
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    activity.summary = render.cut(message.text, 200)  # the notification preview
    return activity


class PairbotTeamsBot:
    """One turn: remember how to reach the sender, turn the activity into a core event, answer."""

    def __init__(self, core: Pairbot, staff: "Staff | None" = None):
        self.core = core
        self.staff = staff or Staff()
        self._known: dict[str, dict] = {}  # members key -> the reference last stored

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        raw = _POSTED.get()
        if raw is None or raw.get("id") != activity.id:
            raw = activity.serialize()
        installed = await self._remember(turn_context, raw)
        if activity.type == ActivityTypes.message:
            await self._on_message(turn_context, raw)
        elif activity.type == ActivityTypes.invoke and activity.name == FILE_CONSENT_INVOKE:
            await self._on_file_consent(turn_context, raw)
        elif activity.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
            await self._on_installed(turn_context, raw, welcome=installed)

    async def _remember(self, turn_context: TurnContext, raw: dict[str, Any]) -> bool:
        """Store how to reach the sender; True when their personal chat with Pairbot is new (the
        app was just added), which is when they are welcomed."""
        conversation = raw.get("conversation") or {}
        reference = inbound.reference(raw)
        now = self.core.clock.now()
        tenant = inbound.tenant_of(raw)
        if conversation.get("conversationType") in (None, "personal"):
            if not (raw.get("from") or {}).get("id"):
                return False
            person = inbound.who(raw)
            if _removed(raw):
                self._known.pop(person.key(), None)
                await asyncio.to_thread(conversations.forget_person, self.core.db, person)
                return False
            # Written only when it changes; an install always asks the database, which another
            # replica may have changed (an uninstall there).
            if _is_install(raw) or self._known.get(person.key()) != reference:
                new = await asyncio.to_thread(conversations.remember, self.core.db, tenant, [person], reference,
                                              False, now)
                self._known[person.key()] = reference
                return new
            return False
        if conversation.get("conversationType") == "groupChat":
            if _bot_removed(raw):
                await asyncio.to_thread(conversations.forget_group, self.core.db, PLATFORM, conversation.get("id"))
                return
            members = await self._members(turn_context, tenant)
            if len(members) >= 2:
                await asyncio.to_thread(conversations.remember, self.core.db, tenant, members, reference, True, now)
        return False

    async def _members(self, turn_context: TurnContext, tenant: str) -> list[Address]:
        from botbuilder.core.teams import TeamsInfo

        try:
            found = await TeamsInfo.get_members(turn_context)
        except Exception as problem:  # a chat we cannot list: treat it as not a pair's chat
            log.info("could not list the members of a group chat: %s", problem)
            return []
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else ""
        return [Address(PLATFORM, tenant, m.id) for m in found if m.id != bot_id]

    async def _on_installed(self, turn_context: TurnContext, raw: dict[str, Any], welcome: bool) -> None:
        """Adding the app brings a conversationUpdate and an installationUpdate, in either order
        (Teams, 2026-11): both record the person, and the one that first stores their chat welcomes them."""
        conversation = raw.get("conversation") or {}
        if conversation.get("conversationType") not in (None, "personal") or not _is_install(raw):
            return
        profile = await self._profile(turn_context, raw)
        if profile is not None:
            await asyncio.to_thread(self.core.arrived, profile, self.staff.organisation_name,
                                    self.staff.coordinators, self.staff.facilitators)
        # Handling Joined also marks a person who had removed the app reachable again.
        replies, _ = await self._handle(Joined(inbound.who(raw), event_id=raw.get("id")))
        if welcome:
            await self._reply(turn_context, raw, replies)

    async def _profile(self, turn_context: TurnContext, raw: dict[str, Any]) -> Profile | None:
        """Who added the app, with their work email (Teams' member API: the activity has no email)."""
        from botbuilder.core.teams import TeamsInfo

        person = inbound.who(raw)
        try:
            member = await TeamsInfo.get_member(turn_context, person.user)
        except Exception as problem:  # without the email they can still be reached; not enrolled by email
            log.info("could not read the profile of %s: %s", person.key(), problem)
            return None
        email = getattr(member, "email", None) or getattr(member, "user_principal_name", None)
        return Profile(mention="", address=person, name=member.name or person.user, email=email)

    async def _on_message(self, turn_context: TurnContext, raw: dict[str, Any]) -> None:
        event = inbound.event(raw)
        if event is None:
            return
        files = inbound.attached_files(raw) if isinstance(event, Command) else []
        if files:
            fetched = await _download(files)
            if isinstance(fetched, str):
                await turn_context.send_activity(_activity(Message(fetched, intent="error")))
                return
            event = dataclasses.replace(event, uploads=fetched)
        value = raw.get("value") if isinstance(raw.get("value"), dict) else None
        # One unit of work: the answer, and the card it answers (the core also marks the person
        # reachable again).
        replies, original = await self._handle(event, str((value or {}).get("key") or ""))
        refused = any(r.intent in ("error", "reask") for r in replies)
        if value and not refused and raw.get("replyToId"):
            # Plain acknowledgements go into the redrawn card instead of a message of their own: the
            # chat stays short and the turn makes one call to Teams. Anything to answer is sent anew.
            notes = [r for r in replies if _is_plain(r)]
            replies = [r for r in replies if not _is_plain(r)]
            already = next((r for r in notes if r.intent == "already"), None)
            updated = await self._replace_answered(turn_context, original, value, raw["replyToId"],
                                                   [n for n in notes if n is not already], already)
            if not updated:
                replies = notes + replies  # the card could not be redrawn: say it the usual way
        await self._reply(turn_context, raw, replies, getattr(event, "text", ""))

    async def _reply(self, turn_context: TurnContext, raw: dict[str, Any], replies: list[Message],
                     command: str = "") -> None:
        """Answer in the turn; when Teams is busy (429, 5xx) or there is no token, the replies not
        yet sent go through the outbox to the person's own chat, and Teams still gets its 200."""
        conversation = (raw.get("conversation") or {}).get("id", "")
        posted = []
        for n, reply in enumerate(replies):
            try:
                answer = await turn_context.send_activity(_document_offer(reply, command) if reply.document
                                                          else _activity(reply))
            except Exception as failure:
                problem = _classify(failure)
                if not isinstance(problem, RetryLater):
                    raise
                key = f"teams:{raw.get('id') or uuid.uuid4().hex}:{conversation}"
                await asyncio.to_thread(self.core.reply_later, inbound.who(raw), replies[n:], key)
                log.warning("Teams would not take a reply (%s); it goes through the outbox", problem)
                break
            if reply.reply_key and getattr(answer, "id", None) and not inbound.in_group(raw):
                posted.append((reply, f"{conversation}:{answer.id}"))
        if posted:  # kept as the outbox keeps what it sends, so a later message can redraw them
            try:
                await asyncio.to_thread(self.core.replied, inbound.who(raw), posted)
            except Exception:  # the person has the reply; only its later redraw is lost
                log.exception("could not keep %d replies for redrawing", len(posted))

    async def _on_file_consent(self, turn_context: TurnContext, raw: dict[str, Any]) -> None:
        """The person allowed (or declined) the file we offered. A bot may put a file in a personal
        chat only this way: Teams gives an upload URL in their OneDrive, we PUT the bytes there and
        send a file info card. The file is made again now, so it holds what is true at this moment
        and the command's role check runs again."""
        value = raw.get("value") or {}
        await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200)))
        command = str((value.get("context") or {}).get("command") or "")
        if value.get("action") != "accept" or not command:
            await turn_context.send_activity(_activity(Message("OK, I haven't sent the file.", intent="status")))
            return
        replies, _ = await self._handle(Command(inbound.who(raw), command, event_id=raw.get("id")))
        document = next((r.document for r in replies if r.document is not None), None)
        upload = value.get("uploadInfo") or {}
        if document is None or not upload.get("uploadUrl"):
            await turn_context.send_activities([_activity(r) for r in replies if r.document is None] or
                                               [_activity(SOMETHING_WENT_WRONG)])
            return
        data = document.content.encode("utf-8")
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                async with session.put(upload["uploadUrl"], data=data, headers={
                        "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}) as response:
                    if response.status not in (200, 201):
                        raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as problem:
            log.warning("could not upload %s to OneDrive: %s", document.name, _reason(problem))
            await turn_context.send_activity(_activity(Message(
                f"I couldn't put {document.name} in your OneDrive; please ask again in a minute.", intent="error")))
            return
        info = Attachment(content_type=FILE_INFO, content_url=upload.get("contentUrl"), name=upload.get("name"),
                          content={"uniqueId": upload.get("uniqueId"), "fileType": upload.get("fileType")})
        await turn_context.send_activity(MessageFactory.attachment(info))

    async def _replace_answered(self, turn_context: TurnContext, original: Message | None, value: dict,
                                card_id: str, notes: list[Message], already: Message | None = None) -> bool:
        """Replace the card that was answered, so it cannot be answered twice; False if Teams refused.
        A stale or repeated tap shows what is actually arranged, not the choice that was tapped."""
        card = render.answered_card(original, already.text if already else inbound.chosen(value),
                                    [n.text for n in notes])
        update = MessageFactory.attachment(CardFactory.adaptive_card(card))
        update.id = card_id
        try:
            await turn_context.update_activity(update)
        except Exception as problem:  # the answer is saved; a stale card is only cosmetic
            log.warning("could not update the answered card: %s", problem)
            return False
        return True

    async def _handle(self, event, answered_key: str = "") -> tuple[list[Message], Message | None]:
        try:
            return await asyncio.to_thread(self.core.answer, event, answered_key)
        except Exception:
            log.exception("the core failed on %s from %s", type(event).__name__, event.who.key())
            return [SOMETHING_WENT_WRONG], None


async def _download(files: list[tuple[str, str]]) -> tuple[Upload, ...] | str:
    """The files sent with a command, as text (Teams' download URLs need no token); or what is
    wrong with one."""
    fetched = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for name, url in files:
            upload = await uploads.fetch_text(session, name, url, "Teams")
            if isinstance(upload, str):
                return upload
            fetched.append(upload)
    return tuple(fetched)


def _document_offer(reply: Message, command: str) -> Activity:
    """A file consent card for a reply that carries a file (an export). Accepting it brings an
    invoke that runs `command` to make the file again (see _on_file_consent), so nothing personal
    waits in memory."""
    data = reply.document.content.encode("utf-8")
    consent = Attachment(content_type=FILE_CONSENT, name=reply.document.name, content={
        "description": render.cut(reply.text, 1000), "sizeInBytes": len(data),
        "acceptContext": {"command": command}, "declineContext": {}})
    return MessageFactory.attachment(consent)


def _is_plain(message: Message) -> bool:
    return not (message.choices or message.form or message.links)


def _is_install(raw: dict[str, Any]) -> bool:
    """The app was added: a conversationUpdate that adds the bot, or an installationUpdate "add"."""
    if raw.get("type") == ActivityTypes.conversation_update:
        bot_id = (raw.get("recipient") or {}).get("id")
        return any(m.get("id") == bot_id for m in raw.get("membersAdded") or [])
    return raw.get("type") == ActivityTypes.installation_update and raw.get("action") != "remove"


def _removed(raw: dict[str, Any]) -> bool:
    """The app was removed: a conversationUpdate that removes the bot, or an installationUpdate "remove"."""
    if raw.get("type") == ActivityTypes.installation_update:
        return raw.get("action") == "remove"
    return raw.get("type") == ActivityTypes.conversation_update and _bot_removed(raw)


def _bot_removed(raw: dict[str, Any]) -> bool:
    bot_id = (raw.get("recipient") or {}).get("id")
    return any(m.get("id") == bot_id for m in raw.get("membersRemoved") or [])


# Teams' limits for bots (learn.microsoft.com "Optimize your bot with rate limiting in Teams",
# 2026-12): per bot per chat 7 requests in 1 s, 8 in 2 s, 60 in 30 s and 1800 in an hour; and 50
# requests a second per app per tenant. Half a second apart keeps one chat within the first three
# (the hourly one only binds past 1800 messages an hour to one chat). The app sends at 45 a
# second: at exactly 50, arrival jitter put about 3% of requests in a full second (429).
SECONDS_BETWEEN_SENDS = 0.5
MESSAGES_PER_SECOND = 45.0


class TeamsSender:
    """Proactive messages through continue_conversation with the stored reference (and its
    service URL). It states Teams' limits (above): the delivery worker keeps to them, spacing
    each chat's messages and all of the app's."""

    platform = PLATFORM
    capabilities = frozenset({FORMS})  # no GROUP_CONVERSATION: a bot cannot create a group chat

    def __init__(self, adapter: CloudAdapter, app_id: str, core: Pairbot,
                 credentials: teams_auth.AppCredentials | None = None,
                 seconds_between_sends: float = SECONDS_BETWEEN_SENDS,
                 messages_per_second: float = MESSAGES_PER_SECOND, calendar: CalendarLinks | None = None):
        self.adapter = adapter
        self.calendar = calendar  # a message's calendar invitation becomes links (adapters/teams/calendar.py)
        self.app_id = app_id
        self.core = core
        self.credentials = credentials
        self.seconds_between_sends = seconds_between_sends  # per chat (the worker's pacing key)
        self.messages_per_second = messages_per_second  # app-wide

    def pacing_key(self, recipient: Recipient) -> str:
        return ",".join(m.key() for m in recipient.members)

    async def send(self, recipient: Recipient, message: Message, key: str = "") -> Sent:
        reference = await asyncio.to_thread(conversations.reference_for, self.core.db, recipient.members)
        if reference is None:
            raise Unreachable("they have not installed Pairbot in Teams yet", ask_again=False)
        try:
            return await self._send_to(reference, message, key)
        except Unreachable:
            if len(recipient.members) < 2:
                raise
        # 403 / 404 in a group chat: the bot was removed from that chat, which says nothing about
        # its members. Pair messages go to each member's personal chat from now on.
        await asyncio.to_thread(conversations.forget_group, self.core.db, PLATFORM,
                                (reference.get("conversation") or {}).get("id"))
        refs, gone = [], []
        for member in recipient.members:
            try:
                refs.append((await self.send(Recipient.person(member), message, key)).ref)
            except Unreachable:
                gone.append(member)
        if not refs:
            raise Unreachable("nobody in this group chat can be reached", tuple(gone))
        return Sent(ref=refs[0], unreachable=tuple(gone))

    async def update(self, recipient: Recipient, ref: str, message: Message) -> Sent:
        """Redraw a card sent earlier (update_activity); if Teams cannot, send it as a new one."""
        reference = await asyncio.to_thread(conversations.reference_for, self.core.db, recipient.members)
        _conversation, _, activity_id = ref.rpartition(":")
        if reference is None or not activity_id:
            return await self.send(recipient, message)
        failed: list[Exception] = []

        async def redraw(turn_context: TurnContext) -> None:
            try:
                activity = _activity(message)
                activity.id = activity_id
                await turn_context.update_activity(activity)
            except Exception as failure:  # classified below
                failed.append(failure)

        await self._token_ready()
        try:
            await self.adapter.continue_conversation(ConversationReference().deserialize(reference), redraw,
                                                     self.app_id)
        except Exception as failure:
            failed.append(failure)
        if failed:
            problem = _classify(failed[0])
            if isinstance(problem, RetryLater):
                raise problem from None
            log.info("could not redraw a card (%s); sending it anew", failed[0])
            return await self.send(recipient, message)
        return Sent(ref=ref)

    async def _token_ready(self) -> None:
        """Fetch the bot's token off the loop before botbuilder signs a request with it."""
        if self.credentials is None:
            return
        try:
            await self.credentials.ready()
        except teams_auth.TokenUnavailable as missing:
            raise _classify(missing) from None

    async def _with_calendar_links(self, message: Message) -> Message:
        """A calendar invitation as "Add to calendar" and "Open in Teams" links on the card; without
        links (or once the copy is gone) the text goes alone."""
        if message.invitation is None:
            return message
        found = None
        if self.calendar is not None:
            found = await asyncio.to_thread(self.core.calendar, message.invitation)
        links = self.calendar.links(message.invitation, found) if found is not None else ()
        return dataclasses.replace(message, links=message.links + links, invitation=None)

    async def _send_to(self, reference: dict, message: Message, key: str) -> Sent:
        await self._token_ready()
        message = await self._with_calendar_links(message)
        sent: dict[str, Any] = {}

        async def deliver(turn_context: TurnContext) -> None:
            # Caught here: an error escaping the turn would go to the adapter's on_turn_error,
            # which answers the conversation instead of telling the worker what happened.
            try:
                # A file (asked for in a group chat) is offered here, and made again once accepted.
                activity = (_document_offer(message, message.document.command) if message.document
                            else _activity(message, key))
                response = await turn_context.send_activity(activity)
                sent["id"] = response.id if response else ""
            except Exception as failure:  # classified below
                sent["failure"] = failure

        conversation_reference = ConversationReference().deserialize(reference)
        try:
            await self.adapter.continue_conversation(conversation_reference, deliver, self.app_id)
        except Exception as failure:
            raise _classify(failure) from None
        if "failure" in sent:
            raise _classify(sent["failure"]) from None
        return Sent(ref=f"{conversation_reference.conversation.id}:{sent.get('id', '')}")


def _classify(failure: Exception) -> Exception:
    """botbuilder's exception as RetryLater / Unreachable, or itself when it is neither."""
    if isinstance(failure, teams_auth.TokenUnavailable):
        return RetryLater(str(failure), after_seconds=TOKEN_REFUSED_RETRY_SECONDS if failure.refused
                          else NO_TOKEN_RETRY_SECONDS)
    if isinstance(failure, (ClientRequestError, asyncio.TimeoutError)):
        # No answer in time, or no connection: msrest's requests call gave up (CONNECTOR_TIMEOUT).
        return RetryLater(f"Teams did not answer: {_reason(failure)}", after_seconds=5.0)
    response = getattr(failure, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    if status in GONE:
        return Unreachable(f"Teams answered {status}")
    if status in BUSY:
        headers = getattr(response, "headers", None) or {}
        try:
            wait = float(headers.get("Retry-After", "") or 0)
        except ValueError:
            wait = 0.0
        # No Retry-After: back off by default; the worker adds jitter.
        return RetryLater(f"Teams answered {status}", after_seconds=max(wait, 2.0))
    return failure



def _reason(failure: BaseException) -> str:
    return f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
