"""The fake Slack Web API answers the real slack_sdk client the way Slack does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from fake_slack import FakeSlack


def run(scenario: Callable[[FakeSlack, AsyncWebClient], Awaitable[None]]) -> FakeSlack:
    """Run one scenario against a started fake with two users, Ada and Grace, and a bot client."""

    async def main() -> FakeSlack:
        async with FakeSlack() as fake:
            fake.add_user("U1", "Ada Lovelace", email="ada@example.org")
            fake.add_user("U2", "Grace Hopper", email="grace@example.org", tz="America/New_York")
            fake.add_user("U3", "Mary Seacole", email="mary@example.org")
            fake.add_user("UGONE", "Left Already", email="gone@example.org", deleted=True)
            client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
            await scenario(fake, client)
        return fake

    return asyncio.run(main())


def test_post_message_then_update_changes_the_stored_message() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        dm = (await client.conversations_open(users="U1"))["channel"]["id"]
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Did you meet?"}}]
        posted = await client.chat_postMessage(channel=dm, text="Did you meet?", blocks=blocks)
        assert posted["channel"] == dm
        assert posted["message"]["user"] == fake.bot_user_id
        assert posted["message"]["blocks"] == blocks

        second = await client.chat_postMessage(channel=dm, text="second")
        assert float(second["ts"]) > float(posted["ts"])

        updated = await client.chat_update(channel=dm, ts=posted["ts"], text="Thanks!", blocks=[])
        assert (updated["channel"], updated["ts"], updated["text"]) == (dm, posted["ts"], "Thanks!")
        stored = fake.messages[dm][posted["ts"]]
        assert stored["text"] == "Thanks!"
        assert stored["blocks"] == []
        assert fake.calls_to("chat.update")[0].args["ts"] == posted["ts"]

        with pytest.raises(SlackApiError) as missing:
            await client.chat_update(channel=dm, ts="1.000000", text="x")
        assert missing.value.response["error"] == "message_not_found"
        with pytest.raises(SlackApiError) as nowhere:
            await client.chat_postMessage(channel="CNOPE", text="x")
        assert nowhere.value.response["error"] == "channel_not_found"

    run(scenario)


def test_form_encoded_blocks_are_decoded() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        # slack_sdk sends some methods form-encoded, with blocks as JSON text; data= does the same.
        await client.api_call(
            "chat.postMessage",
            data={"channel": "U1", "text": "hi", "blocks": '[{"type": "divider"}]'},
        )
        call = fake.calls_to("chat.postMessage")[0]
        assert call.args["blocks"] == [{"type": "divider"}]
        assert call.token == fake.bot_token

    run(scenario)


def test_conversations_open_is_stable_per_set_of_users() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        im = (await client.conversations_open(users="U1"))["channel"]["id"]
        assert im.startswith("D")
        assert (await client.conversations_open(users=["U1"]))["channel"]["id"] == im

        group = (await client.conversations_open(users="U1,U2,U3"))["channel"]["id"]
        assert group.startswith("G")
        again = await client.conversations_open(users=["U3", "U1", "U2"])
        assert again["channel"]["id"] == group
        assert again["already_open"] is True
        assert (await client.conversations_open(users="U1,U2"))["channel"]["id"] not in (im, group)

        for users, error in (("U1,UNOBODY", "user_not_found"), ("UGONE", "user_disabled")):
            with pytest.raises(SlackApiError) as refused:
                await client.conversations_open(users=users)
            assert refused.value.response["error"] == error

    run(scenario)


def test_rate_limit_surfaces_as_429_without_a_retry_handler() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        fake.rate_limit("chat.postMessage", times=1, retry_after=7)
        with pytest.raises(SlackApiError) as limited:
            await client.chat_postMessage(channel="U1", text="hi")
        response = limited.value.response
        assert response.status_code == 429
        # slack_sdk hands over aiohttp's case-insensitive headers.
        assert response.headers["Retry-After"] == "7"
        assert response.headers["retry-after"] == "7"
        assert response["error"] == "ratelimited"
        await client.chat_postMessage(channel="U1", text="hi")  # the limit has passed

    run(scenario)


def test_rate_limit_is_retried_by_the_slack_sdk_handler() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
        fake.rate_limit("chat.postMessage", times=1, retry_after=1)
        started = time.monotonic()
        posted = await client.chat_postMessage(channel="U1", text="hi")
        assert posted["ok"] is True
        assert time.monotonic() - started >= 1
        assert len(fake.calls_to("chat.postMessage")) == 2

    run(scenario)


def test_rate_limit_only_hits_calls_matching_when() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        fake.rate_limit("users.info", times=1, when=lambda call: call.args.get("user") == "U2")
        await client.users_info(user="U1")
        with pytest.raises(SlackApiError):
            await client.users_info(user="U2")
        await client.users_info(user="U2")

    run(scenario)


def test_user_lookups() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        grace = (await client.users_info(user="U2"))["user"]
        assert grace["real_name"] == "Grace Hopper"
        assert grace["tz"] == "America/New_York"
        assert grace["profile"]["email"] == "grace@example.org"
        assert grace["deleted"] is False
        assert (await client.users_info(user="UGONE"))["user"]["deleted"] is True

        by_email = await client.users_lookupByEmail(email="ADA@example.org")
        assert by_email["user"]["id"] == "U1"

        with pytest.raises(SlackApiError) as unknown:
            await client.users_info(user="UNOBODY")
        assert unknown.value.response["error"] == "user_not_found"
        with pytest.raises(SlackApiError) as no_email:
            await client.users_lookupByEmail(email="nobody@example.org")
        assert no_email.value.response["error"] == "users_not_found"

    run(scenario)


def test_invalid_token_is_refused() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        stranger = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
        with pytest.raises(SlackApiError) as refused:
            await stranger.auth_test()
        assert refused.value.response["error"] == "invalid_auth"
        assert fake.calls[-1].token == "xoxb-wrong"

        me = await client.auth_test()
        assert (me["team_id"], me["user_id"]) == (fake.team_id, fake.bot_user_id)

    run(scenario)


def test_fail_injects_an_error_once() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        fake.fail("chat.postMessage", "not_in_channel")
        with pytest.raises(SlackApiError) as failed:
            await client.chat_postMessage(channel="U1", text="hi")
        assert failed.value.response.status_code == 200
        assert failed.value.response["error"] == "not_in_channel"
        assert (await client.chat_postMessage(channel="U1", text="hi"))["ok"] is True

    run(scenario)


# slack_sdk itself passes aiohttp.BasicAuth for the client credentials, which aiohttp deprecates.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
def test_token_rotation_gives_a_working_token() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        fake.add_refresh_token("xoxe-1-original")
        anonymous = AsyncWebClient(base_url=fake.api_url)
        refreshed = await anonymous.oauth_v2_access(
            client_id="111.222",
            client_secret="secret",
            grant_type="refresh_token",
            refresh_token="xoxe-1-original",
        )
        assert refreshed["token_type"] == "bot"
        assert refreshed["expires_in"] == 43200
        assert refreshed["team"]["id"] == fake.team_id
        new_token = refreshed["access_token"]
        assert new_token.startswith("xoxe.xoxb-")
        assert refreshed["refresh_token"].startswith("xoxe-1-")

        rotated = AsyncWebClient(token=new_token, base_url=fake.api_url)
        assert (await rotated.auth_test())["user_id"] == fake.bot_user_id

        with pytest.raises(SlackApiError) as bad:
            await anonymous.oauth_v2_access(
                client_id="111.222", client_secret="secret", grant_type="refresh_token", refresh_token="xoxe-1-nope"
            )
        assert bad.value.response["error"] == "invalid_refresh_token"

        # Client credentials may also come as form fields instead of basic auth.
        by_form = await anonymous.api_call(
            "oauth.v2.access",
            data={
                "client_id": "111.222",
                "client_secret": "secret",
                "grant_type": "refresh_token",
                "refresh_token": refreshed["refresh_token"],
            },
        )
        assert by_form["access_token"] not in (new_token, fake.bot_token)
        assert by_form["access_token"] in fake.valid_tokens

    run(scenario)


def test_views_and_ephemeral_messages() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        modal = {"type": "modal", "title": {"type": "plain_text", "text": "Reflect"}, "blocks": []}
        opened = (await client.views_open(trigger_id="123.456", view=modal))["view"]
        assert opened["id"].startswith("V")
        updated = (await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal))["view"]
        assert updated["id"] == opened["id"]
        with pytest.raises(SlackApiError) as stale:
            await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)
        assert stale.value.response["error"] == "hash_conflict"

        home = {"type": "home", "blocks": []}
        first = (await client.views_publish(user_id="U1", view=home))["view"]
        assert (await client.views_publish(user_id="U1", view=home))["view"]["id"] == first["id"]

        dm = (await client.conversations_open(users="U1"))["channel"]["id"]
        ephemeral = await client.chat_postEphemeral(channel=dm, user="U1", text="only you")
        assert ephemeral["message_ts"]

    run(scenario)


def test_response_urls_record_bodies() -> None:
    async def scenario(fake: FakeSlack, client: AsyncWebClient) -> None:
        first, second = fake.new_response_url(), fake.new_response_url()
        assert first != second and fake.response_url == second
        async with aiohttp.ClientSession() as session:
            async with session.post(second, json={"text": "Saved", "replace_original": True}) as answer:
                assert answer.status == 200
            async with session.post(first.rsplit("/", 1)[0] + "/99", json={}) as answer:
                assert answer.status == 404
        assert fake.responses == [{"text": "Saved", "replace_original": True}]

    run(scenario)
