"""Changes made at the console reach a running server's timeline without a restart (SQLite: the
server polls the changes the console records)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from click.testing import CliRunner

from adapters.cli import main
from bot import enrolment
from bot.models import Cohort, Organisation
from bot.programme import default_programme
from harness import START, TZ
from slack_harness import PEOPLE, address, start_bot, stop_bot

MEMBERS = ("U0ASHA", "U0BEN")


def _count(bot, users: tuple[str, ...], opening: str) -> int:
    return sum(m.get("text", "").startswith(opening) for m in bot.inbox(*users))


async def _console(bot, *words: str) -> str:
    url = bot.running.core.db.url
    result = await asyncio.to_thread(CliRunner().invoke, main, ["command", "--database", url, "--", *words])
    assert result.exit_code == 0, result.output
    return result.output


def _enrol_and_pair(bot, cohort_id: int) -> None:
    now = bot.clock.now()
    with bot.db.session() as session:
        cohort = session.get(Cohort, cohort_id)
        org = session.get(Organisation, cohort.organisation_id)
        members = [enrolment.enrol(session, cohort, org, enrolment.Enrolee(
            address=address(user), name=PEOPLE[user][0], role=role, email=PEOPLE[user][1]), now)
            for user, role in zip(MEMBERS, ("clinician", "manager"))]
        enrolment.make_pair(session, cohort, members, now)


async def _until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


def test_start_and_timeline_shift_at_the_console_reach_the_running_server(tmp_path):
    async def main_():
        bot = await start_bot(tmp_path)
        try:
            cohort_id = bot.make_cohort()
            _enrol_and_pair(bot, cohort_id)  # the cohort stays a draft until the console starts it
            programme = default_programme()
            # An hour after the enrolment step's time; the pairs are announced a week later.
            bot.clock.set(programme.step("enrol").due_at(START, TZ) + timedelta(hours=1))
            assert "Started Spring 2027" in await _console(bot, "start", "Spring 2027")
            await _until(lambda: all(_count(bot, (u,), "Welcome to paired learning") for u in MEMBERS), 20,
                         "the enrolment step to go out")
            assert _count(bot, MEMBERS, "Meet your learning pair") == 0  # not due for a week

            assert "Moved Spring 2027" in await _console(bot, "timeline", "shift", "-1")
            await _until(lambda: _count(bot, MEMBERS, "Meet your learning pair") == 1, 20,
                         "the shifted step to go out")
            await bot.settle()
            assert [_count(bot, (u,), "Welcome to paired learning") for u in MEMBERS] == [1, 1]
            assert _count(bot, MEMBERS, "Meet your learning pair") == 1
        finally:
            await stop_bot(bot)

    asyncio.run(main_())
