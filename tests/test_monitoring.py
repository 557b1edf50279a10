"""What an operator watches on a running Pairbot (Slack on loopback): /metrics in Prometheus text,
parsed back as Prometheus would, and the /healthz body."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.models import Delivery
from loopback_bot import scenario_runner
from slack_harness import start_bot, stop_bot

run = scenario_runner(start_bot, stop_bot)


async def scrape(bot) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from /metrics."""
    async with bot.http.get(f"{bot.url}/metrics") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


SLACK = (("platform", "slack"),)


def test_metrics_show_the_outbox_waiting_while_slack_refuses_and_draining_once_it_accepts(tmp_path):
    @run
    async def scenario(bot):
        cohort = bot.make_cohort()
        for who in ("<@U0ASHA|asha> clinician", "ben@trust.example manager"):
            assert (await bot.command("U0RITA", f"enrol {who}")).status == 200
        await bot.until(lambda: len(bot.fake.responses) == 2)
        await bot.settle()
        bot.pair_up(cohort, ["U0ASHA", "U0BEN"])
        before = await scrape(bot)
        assert before[("pairbot_timeline_leader", ())] == 1 and before[("pairbot_database_up", ())] == 1
        sent_before = before[("pairbot_deliveries_sent_total", SLACK)]

        refusing = True
        bot.fake.rate_limit("chat.postMessage", times=10**6, retry_after=30, when=lambda _call: refusing)
        in_dms_before = {user: len(bot.inbox(user)) for user in ("U0ASHA", "U0BEN")}
        bot.run_step(cohort, "pre-survey")  # the baseline survey, to each of the two

        def both_put_back() -> bool:
            with bot.db.session() as session:
                rows = session.scalars(select(Delivery).where(Delivery.status == "pending", Delivery.attempts >= 1))
                return len(rows.all()) == 2

        await bot.until(both_put_back)
        waiting = await scrape(bot)
        assert waiting[("pairbot_outbox_depth", SLACK)] == 2
        assert waiting[("pairbot_outbox_oldest_due_seconds", SLACK)] == 0  # not due again before Retry-After
        assert waiting[("pairbot_deliveries_sent_total", SLACK)] == sent_before

        refusing = False
        bot.clock.advance(minutes=1)  # past Slack's Retry-After
        await bot.settle()
        after = await scrape(bot)
        reached = [user for user, count in in_dms_before.items() if len(bot.inbox(user)) == count + 1]
        assert after[("pairbot_outbox_depth", SLACK)] == 0
        assert after[("pairbot_deliveries_sent_total", SLACK)] - sent_before == len(reached) == 2

    scenario(tmp_path)


def test_healthz_says_which_replica_answers_and_that_it_leads_the_timeline(tmp_path):
    @run
    async def scenario(bot):
        async with bot.http.get(f"{bot.url}/healthz") as response:
            body = await response.json()
        assert response.status == 200 and body["status"] == "ok" and body["reasons"] == []
        assert body["replica"] == bot.running.replica and body["leads_timeline"] is True
        assert body["outbox"]["slack"]["depth"] == 0

    scenario(tmp_path)
