"""Socket Mode, for organisations that cannot expose a URL: the same app, events over a WebSocket."""

from __future__ import annotations

import asyncio
import time

from slack_harness import TEAM, start_bot, stop_bot


def test_commands_and_messages_arrive_over_socket_mode_and_are_acknowledged(tmp_path):
    async def main():
        bot = await start_bot(tmp_path, socket_mode=True, app_token="xapp-1-test")
        try:
            # The app asked for a socket URL with its app-level token, not the bot token (the socket
            # opens beside start-up, which does not wait for it).
            await bot.until(lambda: bot.fake.calls_to("apps.connections.open"))
            assert bot.fake.calls_to("apps.connections.open")[0].token == "xapp-1-test"
            bot.make_cohort()
            ack = await bot.fake.socket_send("slash_commands", {
                "token": "legacy", "team_id": TEAM, "user_id": "U0RITA", "command": "/pairbot",
                "text": "enrol <@U0ASHA|asha> clinician", "response_url": bot.fake.new_response_url(),
                "trigger_id": "t", "channel_id": "C1", "api_app_id": "A1"})
            assert ack["envelope_id"].startswith("env-")
            await bot.until(lambda: bot.fake.responses)
            assert bot.fake.responses[0]["text"].startswith("Enrolled Dr Asha Patel")

            channel = await bot.dm_channel("U0ASHA")
            await bot.fake.socket_send("events_api", {
                "team_id": TEAM, "api_app_id": "A1", "type": "event_callback", "event_id": "Ev-sock-1",
                "event_time": int(time.time()), "event": {"type": "message", "channel_type": "im", "channel": channel,
                                                          "user": "U0ASHA", "text": "help", "ts": "1.000001"}})
            await bot.until(lambda: bot.messages_in(channel))
            assert "I'm Pairbot" in bot.messages_in(channel)[-1]["text"]

            # Nothing listens for Slack over HTTP in this mode; the health check still answers.
            async with bot.http.post(f"{bot.url}/slack/events", data=b"{}") as response:
                assert response.status == 404
            async with bot.http.get(f"{bot.url}/healthz") as response:
                assert response.status == 200
        finally:
            await stop_bot(bot)

    asyncio.run(main())


def test_socket_mode_out_of_reach_at_start_up_is_said_in_healthz_and_connects_once_slack_answers(tmp_path):
    """Start-up does not wait for the socket (before, it hung until Slack answered); /healthz says
    it is not open, and commands arrive over it once Slack answers."""
    async def main():
        bot = await start_bot(tmp_path, socket_mode=True, app_token="xapp-1-test", before_start=lambda fake: fake.fail(
            "apps.connections.open", "service_unavailable", times=10_000, status=503))
        try:
            body = {}

            async def healthz(status: int) -> bool:
                async with bot.http.get(f"{bot.url}/healthz") as response:
                    body["text"] = await response.text()
                    return response.status == status

            deadline = asyncio.get_running_loop().time() + 15
            while not await healthz(503):
                assert asyncio.get_running_loop().time() < deadline, body
                await asyncio.sleep(0.2)
            assert "slack:socket-mode" in body["text"] and "not open" in body["text"]
            bot.fake.stop_failing()
            bot.make_cohort()
            ack = await bot.fake.socket_send("slash_commands", {
                "token": "legacy", "team_id": TEAM, "user_id": "U0RITA", "command": "/pairbot",
                "text": "enrol <@U0ASHA|asha> clinician", "response_url": bot.fake.new_response_url(),
                "trigger_id": "t", "channel_id": "C1", "api_app_id": "A1"}, timeout=30)
            assert ack["envelope_id"].startswith("env-")
            await bot.until(lambda: bot.fake.responses)
            assert bot.fake.responses[0]["text"].startswith("Enrolled Dr Asha Patel")
            deadline = asyncio.get_running_loop().time() + 15
            while not await healthz(200):
                assert asyncio.get_running_loop().time() < deadline, body
                await asyncio.sleep(0.2)
        finally:
            await stop_bot(bot)

    asyncio.run(main())
