"""/healthz of a real `pairbot serve` process while its PostgreSQL goes away and comes back: 503
naming the database within seconds, and the database reason gone once it answers again."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy.engine import make_url

from bot import migrate
from bot.db import Database
from fake_slack import FakeSlack
from processes import ServeProcess, TcpProxy, write_config
from slack_harness import PEOPLE, SECRET, TEAM, free_port

pytestmark = pytest.mark.postgres


def parts(health) -> list[str]:
    return [r["part"] for r in health[1].get("reasons", [])] if health else []


def test_healthz_names_the_database_while_postgresql_refuses_connections(postgres_url, tmp_path):
    store = Database(postgres_url)
    migrate.upgrade(store.engine)
    store.dispose()
    target = make_url(postgres_url)

    async def main():
        fake = FakeSlack(team_id=TEAM)
        await fake.start()
        for user, (name, email) in PEOPLE.items():
            fake.add_user(user, name, email=email)
        proxy = await TcpProxy(target.host, target.port).accept()
        through_proxy = target.set(port=proxy.port).render_as_string(hide_password=False)
        port = free_port()
        config = write_config(tmp_path / "pairbot.toml", {
            "database": {"url": through_proxy}, "server": {"host": "127.0.0.1", "port": port},
            "slack": {"enabled": True, "bot_token": fake.bot_token, "signing_secret": SECRET,
                      "api_url": fake.api_url}})
        serve = ServeProcess(config, port, tmp_path / "serve.log").start()
        try:
            await serve.answering()
            healthy = await asyncio.to_thread(serve.health)
            assert healthy[0] == 200 and healthy[1]["leads_timeline"] is True, healthy

            await proxy.refuse()
            began = time.monotonic()
            await serve.until(lambda: "database" in parts(serve.health()), 10, "/healthz to name the database")
            assert time.monotonic() - began < 5
            status, body = await asyncio.to_thread(serve.health)
            assert status == 503 and body["database"] == "unreachable"

            await proxy.accept()
            await serve.until(lambda: "database" not in parts(serve.health()), 15, "the database reason to go")
            log = serve.log_text()
            assert log.count("the database does not answer the health check") == 1, serve.log_tail()
            assert log.count("the database answers the health check again") == 1, serve.log_tail()
        finally:
            serve.terminate()
            await proxy.close()
            await fake.stop()

    asyncio.run(main())
