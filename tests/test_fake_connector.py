"""The fake Bot Connector service, driven by the REAL botbuilder stack.

Every test runs botbuilder's aiohttp ``CloudAdapter`` with ``ConfigurationBotFrameworkAuthentication``
behind a real aiohttp ``/api/messages`` endpoint on loopback. Inbound activities are POSTed to that
endpoint with ``serviceUrl`` set to the fake, so replies, proactive messages, updates, deletes,
conversation creation and member look-ups travel through botframework-connector's real HTTP client
(msrest + requests) to ``FakeConnector``.

Auth-disabled mode: ``APP_ID = ""`` (and ``APP_PASSWORD = ""``) with ``APP_TYPE = "MultiTenant"``.
``ConfigurationServiceClientCredentialFactory`` then builds a ``PasswordServiceClientCredentialFactory``
whose ``is_authentication_disabled()`` is ``not app_id``: inbound requests WITHOUT an Authorization
header get an anonymous identity, and outbound requests carry no Authorization header
(``MicrosoftAppCredentials.empty()``). An inbound Authorization header is still validated even in
this mode, so tests must not send one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
    ErrorResponseException,
)
from msrest.exceptions import HttpOperationError

from fake_connector import FakeConnector, Sent

BOT_APP_ID_SET = "00000000-1111-2222-3333-444444444444"


@dataclass
class BotConfig:
    """What ConfigurationBotFrameworkAuthentication reads (via getattr / hasattr)."""

    APP_ID: str = ""
    APP_PASSWORD: str = ""
    APP_TYPE: str = "MultiTenant"
    APP_TENANTID: str = ""


class EchoBot(ActivityHandler):
    def __init__(self) -> None:
        self.references: list[ConversationReference] = []
        self.reply_ids: list[str] = []

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        text = turn_context.activity.text or ""
        self.references.append(TurnContext.get_conversation_reference(turn_context.activity))
        if text == "edit":
            draft = await turn_context.send_activity(MessageFactory.text("draft"))
            final = MessageFactory.text("final")
            final.id = draft.id
            await turn_context.update_activity(final)
            return
        response = await turn_context.send_activity(MessageFactory.text("echo: " + text))
        self.reply_ids.append(response.id)


@dataclass
class Running:
    fake: FakeConnector
    adapter: CloudAdapter
    bot: EchoBot
    messages_url: str
    session: aiohttp.ClientSession
    raised: list[BaseException] = field(default_factory=list)  # what adapter.process raised

    async def post(self, activity: dict[str, Any], headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        async with self.session.post(self.messages_url, json=activity, headers=headers) as response:
            await response.read()
            return response

    async def proactive(self, reference: ConversationReference, logic: Callable[[TurnContext], Awaitable[Any]]) -> None:
        await self.adapter.continue_conversation(reference, logic, bot_app_id="")


@asynccontextmanager
async def running_bot(app_id: str = "", app_password: str = "", path_prefix: str = "") -> AsyncIterator[Running]:
    fake = FakeConnector(path_prefix=path_prefix)
    await fake.start()
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(BotConfig(APP_ID=app_id, APP_PASSWORD=app_password)))
    bot = EchoBot()
    raised: list[BaseException] = []

    async def messages(request: web.Request) -> web.StreamResponse:
        try:
            return await adapter.process(request, bot)
        except BaseException as problem:
            raised.append(problem)
            raise

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            yield Running(fake, adapter, bot, f"http://{host}:{port}/api/messages", session, raised)
    finally:
        await runner.cleanup()
        await fake.stop()


def inbound(fake: FakeConnector, text: str = "hello", conversation_id: str = "a:1", activity_id: str = "act-1") -> dict:
    return {
        "type": "message",
        "channelId": "msteams",
        "serviceUrl": fake.service_url,
        "conversation": {"id": conversation_id, "conversationType": "personal", "tenantId": "tenant-1"},
        "from": {"id": "29:user", "name": "Ada", "aadObjectId": "aad-user"},
        "recipient": {"id": "28:bot", "name": "Pairbot"},
        "id": activity_id,
        "text": text,
        "channelData": {"tenant": {"id": "tenant-1"}},
    }


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)


# ---------------------------------------------------------------------------------------- basics


def test_service_url_has_trailing_slash_and_needs_start() -> None:
    fake = FakeConnector()
    with pytest.raises(RuntimeError):
        _ = fake.service_url

    async def scenario() -> None:
        async with FakeConnector() as started:
            assert started.service_url.startswith("http://127.0.0.1:")
            assert started.service_url.endswith("/")

    run(scenario())


def test_reply_to_inbound_message_reaches_fake_without_authorization() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            response = await bot.post(inbound(bot.fake, "hello"))  # no Authorization header
            assert response.status == 201
            assert bot.raised == []

            [reply] = bot.fake.to("a:1")
            assert reply.method == "POST"
            assert reply.path == "/v3/conversations/a:1/activities/act-1"
            assert reply.raw_path == "/v3/conversations/a%3A1/activities/act-1"  # how botbuilder encodes ids
            assert reply.conversation_id == "a:1"
            assert reply.activity_id == "act-1"
            assert reply.activity["text"] == "echo: hello"
            assert reply.activity["replyToId"] == "act-1"
            assert reply.activity["from"]["id"] == "28:bot"
            assert reply.activity["recipient"]["id"] == "29:user"
            assert reply.auth is None  # auth disabled: no outbound token
            assert isinstance(reply.at, float)
            # The id the fake issued is what botbuilder handed back to the bot.
            assert bot.bot.reply_ids == [reply.id]
            assert [activity["text"] for activity in bot.fake.conversation("a:1")] == ["echo: hello"]

            await bot.post(inbound(bot.fake, "again", activity_id="act-2"))
            assert [sent.activity_id for sent in bot.fake.to("a:1")] == ["act-1", "act-2"]
            assert len(set(bot.bot.reply_ids)) == 2  # unique ids

    run(scenario())


@pytest.mark.parametrize(
    "conversation_id",
    ["19:abc123@thread.tacv2;messageid=1700000000000", "a:1Xy-Z_w@unq.gbl.spaces", "odd/id with space&?#%"],
)
def test_conversation_ids_are_decoded_exactly(conversation_id: str) -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            response = await bot.post(inbound(bot.fake, "hi", conversation_id=conversation_id, activity_id="1:2@x"))
            assert response.status == 201
            [reply] = bot.fake.to(conversation_id)
            assert reply.conversation_id == conversation_id
            assert reply.activity_id == "1:2@x"
            assert reply.activity["conversation"]["id"] == conversation_id

    run(scenario())


def test_service_url_with_a_path_like_teams_regional_urls() -> None:
    async def scenario() -> None:
        async with running_bot(path_prefix="emea") as bot:
            assert bot.fake.service_url.endswith("/emea/")
            assert (await bot.post(inbound(bot.fake, "hello"))).status == 201
            [reply] = bot.fake.to("a:1")
            assert reply.path == "/v3/conversations/a:1/activities/act-1"  # relative to the service URL

    run(scenario())


# ---------------------------------------------------------------------------------------- proactive


def test_proactive_continue_conversation_sends_to_fake() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            # A reference built from the activity alone, as if loaded from storage (no earlier turn).
            stored = Activity().deserialize(inbound(bot.fake, "hello"))
            reference = TurnContext.get_conversation_reference(stored)
            assert reference.service_url == bot.fake.service_url

            async def remind(turn_context: TurnContext) -> None:
                await turn_context.send_activity(MessageFactory.text("reminder"))

            await bot.proactive(reference, remind)

            [sent] = bot.fake.to("a:1")
            assert sent.method == "POST"
            assert sent.conversation_id == "a:1"
            assert sent.activity["text"] == "reminder"
            assert sent.activity["recipient"]["id"] == "29:user"
            # botbuilder sends a proactive message as a *reply* to the id of the synthetic
            # continueConversation event it creates (a fresh uuid1), not to act-1.
            assert sent.path == f"/v3/conversations/a:1/activities/{sent.activity_id}"
            assert sent.activity_id not in (None, "act-1")
            assert sent.activity["replyToId"] == sent.activity_id

            # The reference captured during a real turn works the same way.
            await bot.post(inbound(bot.fake, "hello", activity_id="act-9"))
            await bot.proactive(bot.bot.references[-1], remind)
            assert [s.activity["text"] for s in bot.fake.to("a:1")] == ["reminder", "echo: hello", "reminder"]

    run(scenario())


def test_update_activity_from_a_turn_is_a_put_with_the_right_id() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            response = await bot.post(inbound(bot.fake, "edit"))
            assert response.status == 201
            draft, update = bot.fake.to("a:1")
            assert (draft.method, draft.activity["text"]) == ("POST", "draft")
            assert update.method == "PUT"
            assert update.activity_id == draft.id
            assert update.path == f"/v3/conversations/a:1/activities/{draft.id}"
            assert update.activity["text"] == "final"
            assert update.activity["id"] == draft.id
            assert [(a["id"], a["text"]) for a in bot.fake.conversation("a:1")] == [(draft.id, "final")]

    run(scenario())


def test_update_and_delete_of_unknown_ids_are_404_and_delete_is_recorded() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            await bot.post(inbound(bot.fake, "hello"))
            [reply] = bot.fake.to("a:1")
            reference = bot.bot.references[0]

            async def edit_unknown(turn_context: TurnContext) -> None:
                activity = MessageFactory.text("nope")
                activity.id = "no-such-activity"
                await turn_context.update_activity(activity)

            with pytest.raises(ErrorResponseException) as caught:
                await bot.proactive(reference, edit_unknown)
            assert caught.value.response.status_code == 404

            async def delete_reply(turn_context: TurnContext) -> None:
                await turn_context.delete_activity(reply.id)

            await bot.proactive(reference, delete_reply)
            deleted = bot.fake.to("a:1")[-1]
            assert (deleted.method, deleted.activity_id, deleted.activity) == ("DELETE", reply.id, {})
            assert bot.fake.conversation("a:1") == []

    run(scenario())


# ---------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [(403, "ConversationBlockedByUser", None), (412, "PreconditionFailed", None), (502, "ServiceError", None),
     (429, "Throttled", 7), (404, "NotFound", None), (500, "InternalServerError", None), (504, "GatewayTimeout", None)],
)
def test_injected_error_on_send_surfaces_as_error_response_exception(
    status: int, code: str, retry_after: int | None
) -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            reference = TurnContext.get_conversation_reference(Activity().deserialize(inbound(bot.fake)))
            bot.fake.fail(status, retry_after=retry_after, when=lambda request: request.method == "POST")

            async def send(turn_context: TurnContext) -> None:
                await turn_context.send_activity("hello")

            with pytest.raises(ErrorResponseException) as caught:
                await bot.proactive(reference, send)
            problem = caught.value
            assert isinstance(problem, HttpOperationError)  # msrest base class
            assert problem.response.status_code == status  # .response is a requests.Response
            assert problem.error.error.code == code  # .error is botbuilder.schema.ErrorResponse
            assert problem.message == f"({code}) Injected failure (HTTP {status})"
            if retry_after is not None:
                assert problem.response.headers["Retry-After"] == str(retry_after)
            else:
                assert "Retry-After" not in problem.response.headers
            # POST is never retried by msrest/urllib3, whatever the status.
            assert [r.status for r in bot.fake.requests] == [status]
            assert bot.fake.sent == []
            assert bot.fake.pending_failures() == 0

            await bot.proactive(reference, send)  # the next one goes through
            assert len(bot.fake.to("a:1")) == 1

    run(scenario())


def test_error_in_inbound_turn_propagates_out_of_adapter_process() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            bot.fake.fail(403)
            response = await bot.post(inbound(bot.fake, "hello"))
            # No on_turn_error handler: the exception leaves adapter.process and aiohttp answers 500.
            assert response.status == 500
            [problem] = bot.raised
            assert isinstance(problem, ErrorResponseException)
            assert problem.response.status_code == 403

    run(scenario())


def test_put_is_retried_by_the_http_stack_on_502_and_on_429_with_retry_after() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            await bot.post(inbound(bot.fake, "hello"))
            [reply] = bot.fake.to("a:1")
            reference = bot.bot.references[0]
            is_put = lambda request: request.method == "PUT"  # noqa: E731

            async def edit(turn_context: TurnContext) -> None:
                activity = MessageFactory.text("edited")
                activity.id = reply.id
                await turn_context.update_activity(activity)

            # urllib3's Retry (msrest's ClientRetryPolicy) retries PUT/DELETE/GET - not POST - on
            # 500/502/503/504, and on 429 when Retry-After is present; the caller never sees the error.
            bot.fake.fail(502, when=is_put)
            bot.fake.fail(429, when=is_put, retry_after=0)
            started = time.monotonic()
            await bot.proactive(reference, edit)
            assert time.monotonic() - started < 2
            puts = [request for request in bot.fake.requests if request.method == "PUT"]
            assert [request.status for request in puts] == [502, 429, 200]
            assert bot.fake.conversation("a:1")[0]["text"] == "edited"

    run(scenario())


def test_fail_only_hits_matching_requests_and_counts_down() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            bot.fake.fail(403, times=2, when=lambda request: request.conversation_id == "a:2")
            assert (await bot.post(inbound(bot.fake, "one", conversation_id="a:1"))).status == 201
            assert (await bot.post(inbound(bot.fake, "two", conversation_id="a:2"))).status == 500
            assert (await bot.post(inbound(bot.fake, "three", conversation_id="a:2"))).status == 500
            assert (await bot.post(inbound(bot.fake, "four", conversation_id="a:2"))).status == 201
            assert [s.activity["text"] for s in bot.fake.sent] == ["echo: one", "echo: four"]
            assert [(r.conversation_id, r.status) for r in bot.fake.requests] == [
                ("a:1", 200), ("a:2", 403), ("a:2", 403), ("a:2", 200)
            ]

    run(scenario())


# ---------------------------------------------------------------------------------------- members, conversations


def test_members_come_from_add_member() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            ada = {"id": "29:user", "name": "Ada", "aadObjectId": "aad-user", "email": "ada@example.org",
                   "userPrincipalName": "ada@example.org"}
            bot.fake.add_member("a:1", ada)
            reference = TurnContext.get_conversation_reference(Activity().deserialize(inbound(bot.fake)))
            seen: dict[str, Any] = {}

            async def look_up(turn_context: TurnContext) -> None:
                # TeamsInfo reads activity.channel_data, which the synthetic continueConversation
                # activity of a proactive turn lacks (TypeError); give it the tenant, as Teams would.
                turn_context.activity.channel_data = {"tenant": {"id": "tenant-1"}}
                seen["all"] = await TeamsInfo.get_members(turn_context)
                seen["one"] = await TeamsInfo.get_member(turn_context, "29:user")
                connector = turn_context.turn_state[bot.adapter.BOT_CONNECTOR_CLIENT_KEY]
                seen["raw"] = await connector.conversations.get_conversation_members("a:1")

            await bot.proactive(reference, look_up)
            [member] = seen["all"]
            assert (member.id, member.name, member.aad_object_id, member.email, member.user_principal_name) == (
                "29:user", "Ada", "aad-user", "ada@example.org", "ada@example.org")
            assert seen["one"].email == "ada@example.org"
            paths = [request.path for request in bot.fake.requests]
            assert paths == ["/v3/conversations/a:1/members", "/v3/conversations/a:1/members/29:user",
                             "/v3/conversations/a:1/members"]
            assert [account.id for account in seen["raw"]] == ["29:user"]

            async def look_up_stranger(turn_context: TurnContext) -> None:
                turn_context.activity.channel_data = {"tenant": {"id": "tenant-1"}}
                await TeamsInfo.get_member(turn_context, "29:stranger")

            with pytest.raises(ErrorResponseException) as caught:
                await bot.proactive(reference, look_up_stranger)
            assert caught.value.response.status_code == 404

    run(scenario())


def test_create_conversation_returns_id_and_reuses_personal_conversations() -> None:
    async def scenario() -> None:
        async with running_bot() as bot:
            created: list[str] = []

            async def welcome(turn_context: TurnContext) -> None:
                created.append(turn_context.activity.conversation.id)
                await turn_context.send_activity("welcome")

            for _ in range(2):
                await bot.adapter.create_conversation(
                    "",
                    welcome,
                    ConversationParameters(
                        is_group=False,
                        bot=ChannelAccount(id="28:bot"),
                        members=[ChannelAccount(id="29:new-user")],
                        tenant_id="tenant-1",
                    ),
                    channel_id="msteams",
                    service_url=bot.fake.service_url,
                )
            assert created[0] == created[1]
            assert created[0].startswith("a:")
            assert [c.conversation_id for c in bot.fake.created] == created
            assert bot.fake.created[0].activity["members"] == [{"id": "29:new-user"}]
            assert [s.activity["text"] for s in bot.fake.to(created[0])] == ["welcome", "welcome"]
            assert [m["id"] for m in bot.fake.members[created[0]]] == ["29:new-user"]

    run(scenario())


# ---------------------------------------------------------------------------------------- authentication


def test_missing_authorization_is_401_when_app_id_is_set() -> None:
    async def scenario() -> None:
        async with running_bot(app_id=BOT_APP_ID_SET, app_password="secret") as bot:
            response = await bot.post(inbound(bot.fake, "hello"))
            assert response.status == 401
            # CloudAdapter.process turns JwtTokenValidation's PermissionError into a raised
            # aiohttp.web.HTTPUnauthorized (it does not return a response).
            [problem] = bot.raised
            assert isinstance(problem, web.HTTPUnauthorized)
            assert bot.fake.requests == []

    run(scenario())


def test_sent_records_authorization_header() -> None:
    async def scenario() -> None:
        async with FakeConnector() as fake:
            async with aiohttp.ClientSession() as session:
                url = f"{fake.service_url}v3/conversations/a%3A1/activities"
                async with session.post(url, json={"type": "message", "text": "x"},
                                        headers={"Authorization": "Bearer abc"}) as response:
                    assert response.status == 200
                    assert (await response.json()) == {"id": fake.sent[0].id}
            [sent] = fake.sent
            assert isinstance(sent, Sent)
            assert (sent.auth, sent.conversation_id, sent.activity_id) == ("Bearer abc", "a:1", None)

    run(scenario())
