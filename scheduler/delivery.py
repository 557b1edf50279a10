"""The delivery worker: one per platform adapter, sending the outbox's due deliveries.

Each delivery is claimed (other workers skip it), sent, then marked sent; a busy platform gets the
delivery back after its Retry-After. A platform that says a person is gone is asked again some
hours later (the same message, once more) before the person is marked unreachable and the
coordinator told: one stale answer must not drop anyone.
Sends to one conversation are spaced by the adapter's pacing, so a large fan-out slows down rather
than failing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import update

from bot import outbox
from bot.core import Pairbot
from bot.messages import Recipient
from bot.metrics import Metrics
from bot.models import Delivery
from bot.sending import RetryLater, Sender, Unreachable

log = logging.getLogger(__name__)

# How long to wait before asking the platform a second time whether someone is really gone.
CONFIRM_UNREACHABLE_AFTER_SECONDS = 6 * 3600.0
TO_CONFIRM = "unreachable, to confirm: "


class DeliveryWorker:
    def __init__(self, core: Pairbot, sender: Sender, batch_size: int = 200, max_attempts: int = 8,
                 metrics: Metrics | None = None):
        self.core = core
        self.metrics = metrics or Metrics()
        self.sender = sender
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self._next_send: dict[str, float] = {}
        self.sent = 0

    def _claim(self) -> tuple[list[outbox.ClaimedDelivery], dict[str, str]]:
        """Due deliveries, and the platform refs of the messages any of them redraw."""
        with self.core.db.session() as session:
            batch = outbox.claim(session, self.sender.platform, self.core.clock.now(), self.batch_size)
            return batch, outbox.sent_refs(session, [d.message.replaces for d in batch if d.message.replaces])

    def _programme_span(self, wall_seconds: float) -> timedelta:
        # Retry-After is wall-clock time; the outbox runs on programme time (faster in the demo).
        ratio = 1.0 / max(self.core.clock.wall_seconds(1.0), 1e-12)
        return timedelta(seconds=wall_seconds * ratio)

    async def run_once(self) -> int:
        """Send one batch of due deliveries; returns how many were handled."""
        batch, refs = await asyncio.to_thread(self._claim)
        sent: dict[int, str] = {}
        retries: list[tuple[int, str, float]] = []
        finals: list[tuple[int | None, str, str, object]] = []
        for delivery in batch:
            await self._pace(delivery)
            try:
                if delivery.message.recount:  # figures counted as it goes out
                    delivery = replace(delivery, message=await asyncio.to_thread(self.core.recounted,
                                                                                  delivery.message))
                redraws = refs.get(delivery.message.replaces) if delivery.message.replaces else None
                if redraws and hasattr(self.sender, "update"):
                    result = await self.sender.update(delivery.recipient, redraws, delivery.message)
                else:
                    result = await self.sender.send(delivery.recipient, delivery.message, delivery.key)
                sent[delivery.id] = result.ref
                for member in result.unreachable:
                    finals.append((None, "unreachable", "not reachable in the group conversation",
                                   (delivery, Recipient.person(member))))
            except RetryLater as busy:
                if delivery.attempts >= self.max_attempts:
                    finals.append((delivery.id, "failed", f"gave up after {delivery.attempts} attempts: {busy}", None))
                else:
                    # Jitter spreads the retries of a large fan-out instead of bunching them.
                    wait = busy.after_seconds * (1 + random.random() * 0.2)
                    retries.append((delivery.id, str(busy), wait))
            except Unreachable as gone:
                who = Recipient(gone.members, False) if gone.members else delivery.recipient
                finals.append((delivery.id, "unreachable" if gone.ask_again else "gone", str(gone), (delivery, who)))
            except Exception as error:  # a bug or an unexpected answer: keep the message, try later
                log.exception("delivery %s failed", delivery.key)
                if delivery.attempts >= self.max_attempts:
                    finals.append((delivery.id, "failed", repr(error), None))
                else:
                    retries.append((delivery.id, repr(error), min(2 ** delivery.attempts, 300)))
        await asyncio.to_thread(self._record, sent, retries, finals)
        self.sent += len(sent)
        self.metrics.sent.labels(self.sender.platform).inc(len(sent))
        return len(batch)

    def _record(self, sent, retries, finals) -> None:
        now = self.core.clock.now()
        confirm_at = now + self._programme_span(CONFIRM_UNREACHABLE_AFTER_SECONDS)
        confirmed: list[tuple[Recipient, str]] = []
        with self.core.db.session() as session:
            outbox.mark_sent(session, sent, now)
            for delivery_id, error, wait in retries:
                outbox.mark_retry(session, delivery_id, error, now + self._programme_span(wait))
            for delivery_id, status, error, gone in finals:
                if status == "gone":  # the adapter is sure: no second asking
                    outbox.mark_final(session, delivery_id, "unreachable", error)
                    confirmed.append((gone[1], error))
                elif status != "unreachable":
                    outbox.mark_final(session, delivery_id, status, error)
                elif delivery_id is None:
                    # Left out of a group message that reached the others: their own copy of it,
                    # hours later, asks the platform again.
                    delivery, who = gone
                    self._ask_again_later(session, delivery, who, error, now, confirm_at)
                elif (session.get(Delivery, delivery_id).last_error or "").startswith(TO_CONFIRM):
                    outbox.mark_final(session, delivery_id, status, error)
                    confirmed.append((gone[1], error))
                else:
                    outbox.mark_retry(session, delivery_id, TO_CONFIRM + error, confirm_at)
        for recipient, error in confirmed:
            for member in recipient.members:
                self.core.mark_unreachable(member, error)

    @staticmethod
    def _ask_again_later(session, delivery: outbox.ClaimedDelivery, who: Recipient, error: str, now,
                         confirm_at) -> None:
        key = f"{delivery.key}:again:{who.members[0].key()}"[:200]
        outbox.record(session, [outbox.Outgoing(key=key, recipient=who, message=delivery.message,
                                                intent=delivery.message.intent, available_at=confirm_at)], now)
        session.execute(update(Delivery).where(Delivery.idempotency_key == key, Delivery.attempts == 0)
                        .values(last_error=TO_CONFIRM + error))

    async def _pace(self, delivery: outbox.ClaimedDelivery) -> None:
        gap = getattr(self.sender, "seconds_between_sends", 0.0)
        if not gap:
            return
        key = self.sender.pacing_key(delivery.recipient)
        now = time.monotonic()
        ready = self._next_send.get(key, now)
        if ready > now:
            await asyncio.sleep(ready - now)
        self._next_send[key] = max(ready, now) + gap

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.2) -> None:
        while not stop.is_set():
            handled = await self.run_once()
            if not handled:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
                except asyncio.TimeoutError:
                    pass

    async def drain(self) -> int:
        """Send everything due now (tests and the demo)."""
        total = 0
        while handled := await self.run_once():
            total += handled
        return total
