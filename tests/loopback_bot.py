"""What the Slack and Teams loopback harnesses share: a started Pairbot (`self.running`, on a
ManualClock `self.clock`), waiting for background work, and running a programme step when due."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from bot import outbox
from bot.models import Delivery, Person
from bot.programme import default_programme
from harness import START, TZ
from scheduler.delivery import TO_CONFIRM


class LoopbackBot:
    PLATFORM = ""
    # Pause after the outbox empties, for replies a platform sends after its acknowledgement.
    SETTLE_TAIL = 0.0

    @property
    def core(self):
        return self.running.core

    @property
    def db(self):
        return self.running.core.db

    async def until(self, check, seconds: float = 5.0) -> None:
        """Wait for something that happens after the platform has had its answer."""
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.02)

    async def settle(self, seconds: float = 8.0) -> None:
        """Wait until the outbox is empty (the delivery worker runs in the background)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.db.session() as session:
                if outbox.pending_count(session, self.PLATFORM) == 0:
                    await asyncio.sleep(self.SETTLE_TAIL)
                    return
            await asyncio.sleep(0.02)
        raise AssertionError("the outbox did not empty in time")

    def run_step(self, cohort_id: int, step_id: str) -> int | None:
        """Move the clock to the step's due time (if it is not past it) and run the step."""
        due = default_programme().step(step_id).due_at(START, TZ)
        if self.clock.now() < due:
            self.clock.set(due)
        return self.core.run_step(cohort_id, step_id)


def scenario_runner(start_bot, stop_bot):
    """A decorator for one async scenario: `@run` turns `async def s(bot)` into `s(tmp_path)`,
    which starts a fresh bot and its fake platform, runs the scenario and stops them."""
    def run(scenario):
        def in_tmp_path(tmp_path):
            async def main():
                bot = await start_bot(tmp_path)
                try:
                    await scenario(bot)
                finally:
                    await stop_bot(bot)
            asyncio.run(main())
        in_tmp_path.__name__ = scenario.__name__
        return in_tmp_path
    return run


def reachable(bot, user: str) -> bool:
    with bot.db.session() as s:
        return s.scalars(select(Person.reachable).where(Person.user_id == user)).one()


def held_to_confirm(bot) -> int:
    """Deliveries the platform refused as gone once, waiting to ask again."""
    with bot.db.session() as s:
        return sum(1 for d in s.scalars(select(Delivery).where(Delivery.status == "pending"))
                   if (d.last_error or "").startswith(TO_CONFIRM))
