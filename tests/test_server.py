"""The web server's own routes."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from adapters.server import web_app
from bot.db import Database


def test_healthz_answers_503_when_the_database_cannot_be_reached():
    async def main():
        db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
        async with TestClient(TestServer(web_app(db))) as client:
            response = await client.get("/healthz")
            assert response.status == 503
            assert (await response.json()) == {"status": "unavailable", "database": "unreachable"}
            assert (await client.post("/slack/events", data=b"{}")).status in (404, 405)  # Slack not enabled
        db.dispose()

    asyncio.run(main())
