"""Installing Pairbot into workspaces through OAuth, and rotating bot tokens for scheduled sends."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import parse_qs, urlparse

from sqlalchemy import select

from bot.models import Organisation, Person, RoleGrant
from slack_harness import TEAM, start_bot, stop_bot


def test_install_makes_the_installer_coordinator_and_scheduled_sends_rotate_the_token(tmp_path):
    async def main():
        bot = await start_bot(tmp_path, client_id="1234.5678", client_secret="shh", bot_token="")
        try:
            bot.fake.client_id, bot.fake.client_secret = "1234.5678", "shh"
            bot.fake.installer_user_id = "U0RITA"
            # The install page links to Slack's consent screen with our client id and a one-time state.
            async with bot.http.get(f"{bot.url}/slack/install", allow_redirects=False) as page:
                assert page.status in (200, 302)
                body = await page.text()
                link = page.headers.get("Location") or re.search(r'href="([^"]+authorize[^"]+)"', body).group(1)
                # The browser keeps bolt's state cookie (marked Secure: Slack requires https in production).
                cookie = "; ".join(c.split(";", 1)[0] for c in page.headers.getall("Set-Cookie", []))
            query = parse_qs(urlparse(link.replace("&amp;", "&")).query)
            assert query["client_id"] == ["1234.5678"] and "chat:write" in query["scope"][0]
            state = query["state"][0]
            # Slack sends the person back with a code; bolt exchanges it (oauth.v2.access) and saves it.
            back = f"{bot.url}/slack/oauth_redirect?code=abc&state={state}"
            async with bot.http.get(back, headers={"Cookie": cookie}) as done:
                assert done.status == 200, await done.text()
            # A state can be used once only.
            async with bot.http.get(back, headers={"Cookie": cookie}) as replay:
                assert replay.status != 200
            with bot.db.session() as s:
                org = s.scalars(select(Organisation).where(Organisation.workspace == TEAM)).one()
                rita = s.scalars(select(Person).where(Person.user_id == "U0RITA")).one()
                assert rita.name == "Rita Coordinator"
                assert s.scalars(select(RoleGrant.role).where(RoleGrant.person_id == rita.id,
                                                              RoleGrant.organisation_id == org.id)).one() == "coordinator"

            adapter_store = bot.running.workers[0].sender.tokens.store
            cohort = bot.make_cohort()
            await bot.command("U0RITA", "enrol <@U0ASHA|asha> clinician")
            await bot.command("U0RITA", "enrol <@U0BEN|ben> manager")
            await bot.until(lambda: len(bot.fake.responses) == 2)
            assert all(r["text"].startswith("Enrolled") for r in bot.fake.responses)
            installation = await adapter_store.async_find_installation(enterprise_id=None, team_id=TEAM)
            first_token = installation.bot_token
            assert first_token.startswith("xoxe.xoxb-")
            assert not any(c.args.get("grant_type") == "refresh_token" for c in bot.fake.calls_to("oauth.v2.access"))
            # The token is about to expire and no request comes in from Slack: the next scheduled
            # send refreshes it first.
            installation.bot_token_expires_at = int(time.time()) + 60
            adapter_store.store.save(installation)
            bot.pair_up(cohort, ["U0ASHA", "U0BEN"])
            bot.run_step(cohort, "pairs-announced")
            await bot.settle()
            refreshes = [c for c in bot.fake.calls_to("oauth.v2.access") if c.args.get("grant_type") == "refresh_token"]
            assert len(refreshes) == 1
            sent = bot.fake.calls_to("chat.postMessage")[-1]
            assert sent.token != first_token and sent.token in bot.fake.valid_tokens
            saved = await adapter_store.async_find_installation(enterprise_id=None, team_id=TEAM)
            assert saved.bot_token == sent.token and saved.bot_token_expires_at > time.time() + 3600
        finally:
            await stop_bot(bot)

    asyncio.run(main())
