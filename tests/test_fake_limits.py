"""The platform fakes' opt-in load mode: answers after a latency, and 429 with Retry-After past the
limits they are given (per conversation and app-wide), counted."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from fake_connector import FakeConnector, TeamsLimits
from fake_slack import FakeSlack, SlackLimits

# Refills so slow that nothing comes back during a test, however busy the machine.
SLOW = 0.001


async def _post(client: AsyncWebClient, channel: str) -> str:
    try:
        await client.chat_postMessage(channel=channel, text="hello")
        return "ok"
    except SlackApiError as failure:
        assert failure.response.status_code == 429 and int(failure.response.headers["Retry-After"]) >= 1
        return "429"


def test_fake_slack_refuses_posts_past_the_workspace_and_channel_limits_with_a_retry_after():
    async def main():
        limits = SlackLimits(post_per_channel=SLOW, post_per_channel_burst=1, post_per_workspace=SLOW,
                             post_per_workspace_burst=3, tier3_per_minute=SLOW * 60, tier3_burst=2)
        async with FakeSlack(enforce_limits=True, limits=limits) as fake:
            for user in ("U1", "U2", "U3", "U4"):
                fake.add_user(user, f"Person {user}")
            client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
            channels = [fake.open_conversation(user) for user in ("U1", "U2", "U3", "U4")]
            # One channel twice: its own limit refuses the second, though the workspace has room.
            assert [await _post(client, channels[0]) for _ in range(2)] == ["ok", "429"]
            # The workspace allows 3 posts in all: one more channel's first post fits, then no more.
            assert [await _post(client, c) for c in channels[1:]] == ["ok", "ok", "429"]
            opened = []
            for user in ("U1", "U2", "U3"):
                try:
                    await client.conversations_open(users=user)
                    opened.append("ok")
                except SlackApiError as failure:
                    opened.append(str(failure.response.status_code))
            assert opened == ["ok", "ok", "429"]  # a Tier 3 method
            assert fake.throttled == {"chat.postMessage": 2, "conversations.open": 1}
            assert fake.throttled_total == 3

    asyncio.run(main())


def test_fake_slack_answers_after_its_latency():
    async def main():
        async with FakeSlack(latency=0.15) as fake:
            client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
            started = time.monotonic()
            await client.auth_test()
            assert time.monotonic() - started >= 0.15

    asyncio.run(main())


def test_fake_connector_refuses_requests_past_the_conversation_and_app_limits():
    async def main():
        limits = TeamsLimits(per_conversation=((2, 600.0),), per_app=((3, 600.0),))
        async with FakeConnector(enforce_limits=True, limits=limits, latency=0.05) as fake, \
                aiohttp.ClientSession() as http:
            async def send(conversation: str) -> tuple[int, str | None]:
                async with http.post(f"{fake.service_url}v3/conversations/{conversation}/activities",
                                     json={"type": "message", "text": "hi"}) as response:
                    await response.read()
                    return response.status, response.headers.get("Retry-After")

            started = time.monotonic()
            first = [await send("a:1") for _ in range(3)]
            assert time.monotonic() - started >= 3 * 0.05  # each answered after the latency
            assert [status for status, _ in first] == [200, 200, 429]  # 2 per conversation
            assert int(first[2][1]) >= 1
            # The app-wide limit (3) counts accepted requests in every conversation.
            assert [(await send(c))[0] for c in ("a:2", "a:3")] == [200, 429]
            assert fake.throttled == 2
            assert [s.status for s in fake.requests] == [200, 200, 429, 200, 429]
            assert len(fake.sent) == 3

    asyncio.run(main())


def test_fakes_enforce_nothing_unless_asked():
    async def main():
        async with FakeConnector() as fake, aiohttp.ClientSession() as http:
            for _ in range(10):
                async with http.post(f"{fake.service_url}v3/conversations/a:1/activities",
                                     json={"type": "message", "text": "hi"}) as response:
                    assert response.status == 200
            assert fake.throttled == 0

    asyncio.run(main())
