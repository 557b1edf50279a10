"""A real `pairbot serve` with Teams on, whose Microsoft login and OpenID endpoints accept
connections and never answer (a filtering proxy): one forged request fails cleanly within a bound,
everything else keeps answering, and a delivery due meanwhile is kept for later."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import jwt
from sqlalchemy import select

from adapters.teams import conversations
from bot import enrolment, migrate, outbox
from bot.db import Database
from bot.events import Address
from bot.messages import Message, Recipient
from bot.models import Delivery
from fake_connector import FakeConnector
from processes import ServeProcess, write_config
from slack_harness import free_port

APP_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
TENANT = "tenant-1"
ASHA = Address("teams", TENANT, "29:asha")


def silent_listener() -> socket.socket:
    """Takes connections (the kernel's backlog) and never says a word, TLS handshake included."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return listener


def forged_token() -> str:
    # Issued "by the Bot Framework", so checking it needs the signing keys (the hung endpoint).
    return jwt.encode({"iss": "https://api.botframework.com", "aud": APP_ID, "exp": int(time.time()) + 600},
                      "a-key-that-is-not-microsofts-0123456789", algorithm="HS256", headers={"kid": "k1"})


def post_forged(url: str, activity: dict) -> tuple[int, float]:
    request = urllib.request.Request(url + "/api/messages", data=json.dumps(activity).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {forged_token()}"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.monotonic() - started


def prepare_database(url: str, service_url: str) -> None:
    """Asha has installed Pairbot (her chat's reference is stored) and a message to her is due."""
    db = Database(url)
    migrate.upgrade(db.engine)
    now = datetime.now(timezone.utc)
    with db.session() as session:
        org = enrolment.organisation(session, "teams", TENANT, "Test Trust", now)
        enrolment.person(session, org, ASHA, "Dr Asha Patel", now, email="asha@trust.example")
    reference = {"activityId": "in-1", "user": {"id": ASHA.user}, "bot": {"id": "28:pairbot"},
                 "conversation": {"id": "a:personal-asha", "conversationType": "personal", "tenantId": TENANT},
                 "channelId": "msteams", "serviceUrl": service_url}
    conversations.remember(db, TENANT, [ASHA], reference, False, now)
    with db.session() as session:
        outbox.record(session, [outbox.Outgoing("hang-test:asha", Recipient.person(ASHA),
                                                Message("Your buddy meeting is next week.", intent="status"))], now)
    db.dispose()


def delivery_state(url: str) -> tuple[str, int, str]:
    db = Database(url)
    with db.session() as session:
        row = session.scalars(select(Delivery).where(Delivery.idempotency_key == "hang-test:asha")).one()
        state = (row.status, row.attempts, row.last_error or "")
    db.dispose()
    return state


def test_a_hung_login_endpoint_fails_forged_requests_and_sends_cleanly_and_freezes_nothing(tmp_path):
    async def scenario():
        hung = silent_listener()
        connector = FakeConnector()
        await connector.start()
        database = f"sqlite:///{tmp_path / 'pairbot.sqlite'}"
        prepare_database(database, connector.service_url)
        hung_url = f"https://127.0.0.1:{hung.getsockname()[1]}/"
        port = free_port()
        config = write_config(tmp_path / "pairbot.toml", {
            "database": {"url": database},
            "server": {"host": "127.0.0.1", "port": port},
            "teams": {"enabled": True, "app_id": APP_ID, "login_url": hung_url,
                      "openid_metadata_url": hung_url + "v1/.well-known/openidconfiguration"},
            "organisation": {"name": "Test Trust"},
        })
        serve = ServeProcess(config, port, tmp_path / "serve.log", env={"PAIRBOT_TEAMS_APP_PASSWORD": "secret"})
        try:
            serve.start()
            await serve.answering(60)
            activity = {"type": "message", "id": "in-2", "channelId": "msteams", "text": "hello",
                        "serviceUrl": connector.service_url, "from": {"id": ASHA.user},
                        "recipient": {"id": "28:pairbot"},
                        "conversation": {"id": "a:personal-asha", "conversationType": "personal",
                                         "tenantId": TENANT}}
            forged = asyncio.create_task(asyncio.to_thread(post_forged, serve.url, activity))
            # While the forged request waits on the hung endpoint, the server keeps answering.
            health_times = []
            while not forged.done():
                started = time.monotonic()
                answer = await asyncio.to_thread(serve.health)
                health_times.append(time.monotonic() - started)
                # It answers, and says only what is wrong: no token from the login service.
                assert answer is not None and (answer[0] == 200 or _parts(answer) <= {"token:teams"}), answer
                await asyncio.sleep(0.2)
            status, took = await forged
            assert status in (401, 503), status
            assert took < 15, f"the forged request took {took:.1f} s"
            assert len(health_times) >= 3 and max(health_times) < 1.0, health_times

            # The delivery that was due could not get a token: it waits for a retry, not lost.
            def retried() -> bool:
                status, attempts, error = delivery_state(database)
                return status == "pending" and attempts >= 1 and "login" in error
            await serve.until(retried, 30, "the due delivery to be put back for a retry")
            assert not [s for s in connector.sent if s.method == "POST"], "nothing reached Teams"
            log = serve.log_text()
            assert "token:teams cannot work" in log
            assert "Traceback" not in log
            # and it still answers after all that, naming the login service it cannot reach, and
            # stops when told
            answer = await asyncio.to_thread(serve.health)
            assert answer[0] == 503 and _parts(answer) == {"token:teams"}, answer
            assert serve.terminate(30) == 0
        finally:
            serve.kill()
            hung.close()
            await connector.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=120))


def _parts(answer) -> set[str]:
    return {reason["part"] for reason in answer[1].get("reasons", [])}
