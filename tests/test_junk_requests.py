"""Junk to any endpoint gets 400 or 401 (never 500 or a traceback), and request bodies never reach
the log: real HTTP requests against the in-process Slack and Teams bots."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import jwt
import pytest

import slack_harness
import teams_harness
from slack_harness import sign

APP_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
MARKER = "do-not-log-this-4711"  # in every junk body; it must not show in the log


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario, timeout=60))


def assert_quiet_log(caplog) -> None:
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert MARKER not in text, "a request body was logged"
    assert "Traceback" not in text


SLACK_JUNK = [
    # (content type, body)
    ("application/json", f'{{"not json {MARKER}'),
    ("application/json", f'["{MARKER}", 1, 2]'),
    ("application/json", f'"{MARKER}"'),
    ("application/json", f'{{"type": 5, "event": "{MARKER}"}}'),
    ("application/x-www-form-urlencoded", f"payload={MARKER}%7B%22broken"),
    ("application/x-www-form-urlencoded", f"payload=%5B%22{MARKER}%22%5D"),
    ("text/plain", f"just some text {MARKER}"),
    ("application/octet-stream", "\x00\xff" + MARKER),
]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_slack_junk_gets_400_or_401_before_and_after_the_signature_check(tmp_path, caplog, signed):
    caplog.set_level(logging.INFO)

    async def scenario():
        bot = await slack_harness.start_bot(tmp_path)
        try:
            for content_type, body in SLACK_JUNK:
                headers = sign(body) if signed else {"X-Slack-Request-Timestamp": str(int(time.time())),
                                                     "X-Slack-Signature": "v0=" + "0" * 64}
                response = await bot.post(body, content_type, signed=headers)
                expected = {400} if signed else {400, 401}
                assert response.status in expected, (content_type, body, response.status)
            # no signature headers at all, or an old timestamp
            assert (await bot.post(SLACK_JUNK[0][1], "application/json", signed={})).status in (400, 401)
            assert (await bot.post('{"type": "event_callback"}', "application/json", signed={})).status == 401
            event = '{"type": "event_callback", "event": {"type": "message"}}'
            stale = sign(event, timestamp=int(time.time()) - 3600)
            assert (await bot.post(event, "application/json", signed=stale)).status == 401
            # and the bot still answers a real event afterwards
            assert (await bot.dm("U0ASHA", "help", event_id="Ev-after-junk")).status == 200
        finally:
            await slack_harness.stop_bot(bot)

    run(scenario())
    assert_quiet_log(caplog)


def forged(issuer: str = "https://api.botframework.com") -> str:
    token = jwt.encode({"iss": issuer, "aud": APP_ID, "exp": int(time.time()) + 600}, "not-microsofts-signing-key-at-all-0123456789",
                       algorithm="HS256", headers={"kid": "forged"})
    return f"Bearer {token}"


def test_teams_junk_gets_400_and_bad_tokens_401(tmp_path, caplog):
    caplog.set_level(logging.INFO)

    async def scenario():
        bot = await teams_harness.start_bot(tmp_path, app_id=APP_ID, app_password="secret")
        good = bot._activity("message", "29:asha", {"id": teams_harness.personal("29:asha"),
                                                     "conversationType": "personal"}, text=MARKER)
        try:
            async def post(data: bytes, content_type: str | None, auth: str | None = forged()) -> int:
                headers = {"Content-Type": content_type} if content_type else {}
                if auth is not None:
                    headers["Authorization"] = auth
                async with bot.http.post(bot.url, data=data, headers=headers) as response:
                    await response.read()
                    return response.status

            # bodies that are not an activity: 400, whatever the token
            assert await post(f'{{"broken {MARKER}'.encode(), "application/json") == 400
            assert await post(json.dumps([MARKER]).encode(), "application/json") == 400
            assert await post(json.dumps({"text": MARKER}).encode(), "application/json") == 400
            assert await post(json.dumps({"type": 7, "text": MARKER}).encode(), "application/json") == 400
            assert await post(MARKER.encode(), "text/plain") == 400
            assert await post(MARKER.encode(), None) == 400
            # an activity whose fields have the wrong shapes
            assert await post(json.dumps({"type": "message", "from": MARKER, "conversation": 5}).encode(),
                              "application/json") in (400, 401)
            # an activity with no token, a garbage token, a token of another scheme, a forged token
            body = json.dumps(good).encode()
            for auth in (None, "", "Bearer", f"Bearer {MARKER}", "Bearer a.b.c", f"Basic {MARKER}",
                         forged(issuer="https://evil.example")):
                assert await post(body, "application/json", auth) == 401, auth
            # nothing was sent to anyone, and nobody was recorded
            assert not [s for s in bot.connector.sent if s.method == "POST"]
        finally:
            await teams_harness.stop_bot(bot)

    run(scenario())
    assert_quiet_log(caplog)
