"""The delivery worker: one per platform adapter, sending the outbox's due deliveries.

Claims: the worker takes due rows in its own name (a replica id) under a short lease that it
renews while it holds them; only it can mark them, so a row another worker took over after the
lease ran out is not overwritten (and the send is logged as a possible duplicate).

Sending: up to `concurrency` sends at once. Each conversation (the adapter's `pacing_key`) is a
lane whose messages go in order, spaced by the adapter's `seconds_between_sends`; a lane waiting
for its pacing or for a Retry-After holds up no other lane. An app-wide token bucket keeps to the
platform's `messages_per_second` when the adapter states one.

Recording: each result is recorded as soon as the platform has answered, a few at a time (every
~50 ms, or when half the sends in flight have answered). A send keeps its slot until its result
is committed, so a crash re-sends at most `concurrency` messages. On stop the worker takes no new
work, lets the sends in flight finish, records them and gives every unsent claim back at once.

Failures: a busy platform gets the delivery back after its Retry-After (that conversation waits,
or the whole app when the platform says so); retries back off up to RETRY_CAP_SECONDS and go on
for `give_up_after` from when the delivery was due; then it fails, the log and metrics say so and
the cohort's coordinators are told (once per person and cause). A platform that says a person is
gone is asked again some hours later (the same message, once more) before the person is marked
unreachable and the coordinator told: one stale answer must not drop anyone. A database error
never ends the worker: it backs off (reported to Health, logged once per outage) and carries on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import secrets
import socket
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update

from bot import outbox, reach
from bot.context import FlowContext
from bot.core import Pairbot
from bot.events import Address
from bot.health import Backoff, Health
from bot.messages import Recipient
from bot.metrics import Metrics
from bot.models import Delivery
from bot.sending import RetryLater, Sender, Unreachable

log = logging.getLogger(__name__)

# How long to wait before asking the platform a second time whether someone is really gone.
CONFIRM_UNREACHABLE_AFTER_SECONDS = 6 * 3600.0
TO_CONFIRM = "unreachable, to confirm: "
# A claim lasts this long (wall clock) unless renewed; renewed this often while the rows are held.
LEASE_SECONDS = 20.0
RENEW_SECONDS = 5.0
# Results wait at most this long to be recorded together.
RECORD_EVERY_SECONDS = 0.05
# On stop, sends in flight get this long to finish.
STOP_GRACE_SECONDS = 10.0
# A message that counts its figures as it goes out (digests, nudges) and goes out within this long
# of being written is sent as written: counting again for each recipient would change nothing.
RECOUNT_AFTER = timedelta(minutes=2)
# Longest wait between two tries of the worker's loop while the database or platform fails (one
# query each time: nothing a recovering server would notice).
OUTAGE_RETRY_CAP_SECONDS = 8.0
# Longest wait between two tries of one delivery.
RETRY_CAP_SECONDS = 15 * 60.0
DEFAULT_GIVE_UP_AFTER = timedelta(hours=24)
# Intents of messages that tell coordinators about failures: their own failure tells nobody again.
_ALERTS = {"coordinator_alert", "delivery_failed"}


def replica_id() -> str:
    """Names this process's claims: host, pid and a random part (a pid can be reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class _Outcome:
    """What happened to one claimed delivery, waiting to be recorded."""

    delivery: outbox.ClaimedDelivery
    kind: str  # sent | retry | release | final
    ref: str = ""
    error: str = ""
    wait: float = 0.0  # retry: wall seconds until it may be tried again
    until: datetime | None = None  # release: when it is due again (None: now)
    status: str = ""  # final: failed | unreachable | gone
    who: Recipient | None = None  # final: who cannot be reached
    left_out: tuple[Address, ...] = ()  # sent: group members the platform could not reach
    cause: str = ""  # retry: a short name for why, for the coordinators' alert when it fails
    reason: str = ""  # retry: "busy" (the platform said wait) or "error"
    slot: bool = False  # holds a concurrency slot until recorded


class DeliveryWorker:
    def __init__(self, core: Pairbot, sender: Sender, batch_size: int = 200, concurrency: int = 32,
                 give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER, health: Health | None = None,
                 metrics: Metrics | None = None, replica: str | None = None):
        self.core = core
        self.sender = sender
        self.batch_size = batch_size
        self.concurrency = max(1, concurrency)
        self.give_up_after = give_up_after
        self.health = health or Health()
        self.metrics = metrics or Metrics()
        self.replica = replica or replica_id()
        self.part = f"delivery:{sender.platform}"
        # Retried at least every OUTAGE_RETRY_CAP_SECONDS, so it catches up soon after the database is back.
        self.backoff = Backoff(self.health, self.part, log, cap=OUTAGE_RETRY_CAP_SECONDS)
        self.sent = 0
        # time.monotonic() when the worker last went round its loop; a stale one means it is stuck.
        self.last_progress = time.monotonic()
        self._next_send: dict[str, float] = {}  # pacing key -> when its next send may go
        self._paused: dict[str, datetime] = {}  # pacing key -> until when (programme time) it must wait
        self._app_next = 0.0
        self._app_paused_until = 0.0
        self._refs: OrderedDict[str, str] = OrderedDict()  # key -> ref of messages sent lately
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the loop state (asyncio primitives belong to one event loop) ------------------------
    def _prepare(self, supervised: bool) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._slots = asyncio.Semaphore(self.concurrency)
            self._lanes: dict[str, deque[tuple[outbox.ClaimedDelivery, str | None]]] = {}
            self._lane_tasks: set[asyncio.Task] = set()
            self._held: dict[int, outbox.ClaimedDelivery] = {}
            self._outcomes: list[_Outcome] = []
            self._outcome_added = asyncio.Event()
            self._recorded = asyncio.Event()
            self._settled = asyncio.Event()  # no lane running and every result recorded
            self._recorder: asyncio.Task | None = None
            self._record_failure: BaseException | None = None
            self._recording = 0  # results being written just now
            self._sending: dict[asyncio.Task, int] = {}  # lanes with a send in flight -> its delivery
            self._renewed_at = time.monotonic()
            self._reached_database = False  # this round of the loop read or wrote the database
            self._record_failing = False  # the recorder's last write failed; it retries with backoff
        self._supervised = supervised
        self._stopping = False
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_loop())

    async def _stop_recorder(self) -> None:
        if self._recorder is not None:
            self._recorder.cancel()
            try:
                await self._recorder
            except asyncio.CancelledError:
                pass
            self._recorder = None

    # --- claiming --------------------------------------------------------------------------
    def _programme_span(self, wall_seconds: float) -> timedelta:
        # Retry-After and leases are wall-clock time; the outbox runs on programme time.
        ratio = 1.0 / max(self.core.clock.wall_seconds(1.0), 1e-12)
        return timedelta(seconds=wall_seconds * ratio)

    def _claim(self, limit: int, held: list[int]):
        """Due deliveries, and the platform refs of the messages any of them redraw."""
        with self.core.db.session() as session:
            rows = outbox.claim_rows(session, self.sender.platform, self.core.clock.now(), limit,
                                     owner=self.replica, lease=self._programme_span(LEASE_SECONDS), skip=held)
        batch = outbox.claimed_deliveries(rows)  # decoded outside the transaction: it holds SQLite's lock
        replaced = [d.message.replaces for d in batch if d.message.replaces]
        if not replaced:
            return batch, {}
        with self.core.db.session() as session:
            return batch, outbox.sent_refs(session, replaced)

    def _renew(self, held: list[int]) -> int:
        with self.core.db.session() as session:
            until = self.core.clock.now() + self._programme_span(LEASE_SECONDS)
            return outbox.renew(session, held, until, owner=self.replica)

    async def _top_up(self) -> int:
        """Renew the lease on what is held, and claim more while there is room; returns how many
        were claimed."""
        self._reached_database = False
        if self._held and time.monotonic() - self._renewed_at >= RENEW_SECONDS:
            await asyncio.to_thread(self._renew, list(self._held))
            self._renewed_at = time.monotonic()
            self._reached_database = True
        room = self.batch_size - len(self._held)
        if room < max(1, self.batch_size // 2):
            return 0
        batch, refs = await asyncio.to_thread(self._claim, room, list(self._held))
        self._reached_database = True
        if not self._held:
            self._renewed_at = time.monotonic()
        self._dispatch(batch, refs)
        return len(batch)

    def _dispatch(self, batch: list[outbox.ClaimedDelivery], refs: dict[str, str]) -> None:
        for delivery in batch:
            self._held[delivery.id] = delivery
            key = self.sender.pacing_key(delivery.recipient)
            redraws = refs.get(delivery.message.replaces) if delivery.message.replaces else None
            lane = self._lanes.get(key)
            if lane is not None:
                lane.append((delivery, redraws))
                continue
            self._lanes[key] = deque([(delivery, redraws)])
            task = asyncio.create_task(self._lane(key))
            self._lane_tasks.add(task)
            task.add_done_callback(self._lane_tasks.discard)

    # --- sending ---------------------------------------------------------------------------
    async def _lane(self, key: str) -> None:
        """One conversation's deliveries, in order."""
        lane = self._lanes[key]
        try:
            while lane and not self._stopping:
                paused = self._paused.get(key)
                if paused is not None and paused > self.core.clock.now():
                    # The platform asked this conversation to wait: its messages go back until then,
                    # so they come back in order with the one that was refused.
                    while lane:
                        self._hand(_Outcome(lane.popleft()[0], "release", until=paused))
                    break
                await self._pace(key)
                await self._app_rate()
                await self._slots.acquire()
                if self._stopping:
                    self._slots.release()
                    break
                delivery, redraws = lane.popleft()
                me = asyncio.current_task()
                self._sending[me] = delivery.id
                try:
                    outcome = await self._attempt(delivery, redraws)
                except BaseException:
                    self._slots.release()
                    raise
                finally:
                    self._sending.pop(me, None)
                outcome.slot = True
                self._hand(outcome)
                if outcome.kind == "retry" and outcome.reason == "busy":
                    now = self.core.clock.now()
                    self._paused[key] = now + self._programme_span(outcome.wait)
                    if len(self._paused) > 20_000:
                        self._paused = {k: t for k, t in self._paused.items() if t > now}
                if lane:
                    await asyncio.sleep(0)  # the other conversations take their turn
        except Exception as error:  # a bug here: its deliveries stay claimed until the lease ends
            log.exception("%s: a conversation's sending stopped", self.part)
            self._record_failure = self._record_failure or error
            del self._lanes[key]
            self._recorded.set()
        finally:
            if not lane and self._lanes.get(key) is lane:
                del self._lanes[key]
            if not self._lanes:
                self._outcome_added.set()  # the recorder need not wait for more
                self._check_settled()

    async def _attempt(self, delivery: outbox.ClaimedDelivery, redraws: str | None) -> _Outcome:
        redraws = redraws or (self._refs.get(delivery.message.replaces) if delivery.message.replaces else None)
        try:
            message = delivery.message
            if message.recount and self._written_a_while_ago(delivery):
                # Figures counted as it goes out, not when it was written (held back by quiet hours
                # or retried); one that goes out as it is written already holds them.
                # Off the loop when serving; in step (run_once, drain: the demo, simulations) it is
                # counted in place, so sends keep the outbox's order and a seed its transcript.
                message = await asyncio.to_thread(self.core.recounted, message) if self._supervised \
                    else self.core.recounted(message)
                if message is None:
                    return _Outcome(delivery, "final", status="withdrawn",
                                    error="no longer deserved when it could go out")
            if redraws and hasattr(self.sender, "update"):
                result = await self.sender.update(delivery.recipient, redraws, message)
            else:
                result = await self.sender.send(delivery.recipient, message, delivery.key)
        except RetryLater as busy:
            # Jitter spreads the retries of a large fan-out instead of bunching them.
            wait = max(busy.after_seconds, self._backoff(delivery.attempts)) * (1 + random.random() * 0.2)
            if busy.app_wide:
                self._app_paused_until = max(self._app_paused_until, time.monotonic() + wait)
            return _Outcome(delivery, "retry", error=str(busy), wait=wait, reason="busy", cause=_cause(str(busy)))
        except Unreachable as gone:
            who = Recipient(gone.members, False) if gone.members else delivery.recipient
            return _Outcome(delivery, "final", error=str(gone), status="unreachable" if gone.ask_again else "gone",
                            who=who)
        except Exception as error:  # a bug or an unexpected answer: keep the message, try later
            log.exception("delivery %s failed", delivery.key)
            return _Outcome(delivery, "retry", error=repr(error), wait=self._backoff(delivery.attempts + 1),
                            reason="error", cause=type(error).__name__.lower())
        self._refs[delivery.key] = result.ref
        if len(self._refs) > 10_000:
            self._refs.popitem(last=False)
        return _Outcome(delivery, "sent", ref=result.ref, left_out=tuple(result.unreachable))

    def _written_a_while_ago(self, delivery: outbox.ClaimedDelivery) -> bool:
        return delivery.written_at is None or self.core.clock.now() - delivery.written_at >= RECOUNT_AFTER

    @staticmethod
    def _backoff(attempts: int) -> float:
        return min(RETRY_CAP_SECONDS, 2.0 ** max(attempts - 1, 0))

    async def _pace(self, key: str) -> None:
        gap = getattr(self.sender, "seconds_between_sends", 0.0)
        if not gap:
            return
        now = time.monotonic()
        ready = self._next_send.get(key, now)
        self._next_send[key] = max(ready, now) + gap
        if len(self._next_send) > 20_000:  # forget conversations whose spacing has long passed
            self._next_send = {k: t for k, t in self._next_send.items() if t > now}
        if ready > now:
            await asyncio.sleep(ready - now)

    async def _app_rate(self) -> None:
        """The platform's app-wide rate: each send takes the next free 1/rate slot (a token bucket
        holding one token), and everyone waits out a pause the platform asked the whole app for."""
        while True:
            now = time.monotonic()
            if self._app_paused_until > now:
                await asyncio.sleep(self._app_paused_until - now)
                continue
            rate = getattr(self.sender, "messages_per_second", None)
            if not rate:
                return
            at = max(now, self._app_next)
            self._app_next = at + 1.0 / rate
            if at > now:
                await asyncio.sleep(at - now)
            if self._app_paused_until <= time.monotonic():
                return

    # --- recording -------------------------------------------------------------------------
    def _hand(self, outcome: _Outcome) -> None:
        self._outcomes.append(outcome)
        self._outcome_added.set()

    def _record_now(self, since: float) -> bool:
        return (len(self._outcomes) >= self.concurrency or self._slots.locked() or not self._lanes
                or self._stopping or time.monotonic() - since >= RECORD_EVERY_SECONDS)

    async def _record_loop(self) -> None:
        while True:
            while not self._outcomes:
                self._outcome_added.clear()
                await self._outcome_added.wait()
            since = time.monotonic()
            while not self._record_now(since):
                self._outcome_added.clear()
                try:
                    await asyncio.wait_for(self._outcome_added.wait(),
                                           max(0.0, since + RECORD_EVERY_SECONDS - time.monotonic()))
                except asyncio.TimeoutError:
                    pass
            group, self._outcomes = self._outcomes, []
            self._recording = len(group)
            try:
                confirmed = await asyncio.to_thread(self._record, group)
            except Exception as error:
                self._outcomes[:0] = group  # kept: recorded once the database is back
                self._recording = 0
                if not self._supervised:
                    self._record_failure = error
                    self._recorded.set()
                    self._settled.set()
                    return
                self._record_failing = True
                await asyncio.sleep(self.backoff.failed(error))
                continue
            self._recording = 0
            self._record_failing = False
            self.backoff.worked()
            self.last_progress = time.monotonic()
            for outcome in group:
                self._held.pop(outcome.delivery.id, None)
                if outcome.slot:
                    self._slots.release()
            self._recorded.set()
            for recipient, error in confirmed:
                await asyncio.to_thread(self._mark_unreachable, recipient, error)
            self._check_settled()

    def _check_settled(self) -> None:
        if not self._lanes and not self._outcomes and not self._recording:
            self._settled.set()

    def _mark_unreachable(self, recipient: Recipient, error: str) -> None:
        for member in recipient.members:
            try:
                self.core.mark_unreachable(member, error)
            except Exception:  # the delivery is recorded; the person is marked when next refused
                log.exception("could not mark %s unreachable", member.key())

    def _record(self, outcomes: list[_Outcome]) -> list[tuple[Recipient, str]]:
        now = self.core.clock.now()
        confirm_at = now + self._programme_span(CONFIRM_UNREACHABLE_AFTER_SECONDS)
        owner = self.replica
        confirmed: list[tuple[Recipient, str]] = []
        platform = self.sender.platform
        sent = {o.delivery.id: o.ref for o in outcomes if o.kind == "sent"}
        if len(sent) == len(outcomes) and not any(o.left_out for o in outcomes):
            # The common case, every one sent: a plain connection, as a session costs more than the
            # update itself in a fan-out's many small groups.
            with self.core.db.writing() as connection:
                marked = outbox.mark_sent(connection, sent, now, owner=owner)
            for outcome in outcomes:
                if outcome.delivery.id not in marked:
                    _taken_over(outcome.delivery, "sent")
            self._count_sent(marked)
            return confirmed
        with self.core.db.session() as session:
            marked = outbox.mark_sent(session, sent, now, owner=owner)
            ctx = FlowContext(session, now, self.core.capabilities, self.core.options)
            for outcome in outcomes:
                delivery = outcome.delivery
                if outcome.kind == "sent":
                    if delivery.id not in marked:
                        _taken_over(delivery, "sent")
                        continue
                    for member in outcome.left_out:
                        # Left out of a group message that reached the others: their own copy of it,
                        # hours later, asks the platform again.
                        self._ask_again_later(session, delivery, Recipient.person(member),
                                              "not reachable in the group conversation", now, confirm_at)
                elif outcome.kind == "release":
                    outbox.release(session, [delivery.id], max(outcome.until or now, now), owner=owner)
                elif outcome.kind == "retry":
                    self._retry_or_fail(ctx, outcome, now)
                elif outcome.status == "gone":  # the adapter is sure: no second asking
                    if self._final(session, delivery, "unreachable", outcome.error):
                        confirmed.append((outcome.who, outcome.error))
                elif outcome.status != "unreachable":
                    self._final(session, delivery, outcome.status, outcome.error)
                elif (session.get(Delivery, delivery.id).last_error or "").startswith(TO_CONFIRM):
                    if self._final(session, delivery, "unreachable", outcome.error):
                        confirmed.append((outcome.who, outcome.error))
                elif outbox.mark_retry(session, delivery.id, TO_CONFIRM + outcome.error, confirm_at, owner=owner):
                    self.metrics.retried.labels(platform, "to_confirm").inc()
                else:
                    _taken_over(delivery, "to be asked again")
            ctx.flush()  # the coordinators' alerts about deliveries that failed
        self._count_sent(marked)
        return confirmed

    def _count_sent(self, marked: set[int]) -> None:
        self.sent += len(marked)
        if marked:
            self.metrics.sent.labels(self.sender.platform).inc(len(marked))

    def _final(self, session, delivery: outbox.ClaimedDelivery, status: str, error: str) -> bool:
        if not outbox.mark_final(session, delivery.id, status, error, owner=self.replica):
            _taken_over(delivery, status)
            return False
        self.metrics.ended.labels(self.sender.platform, status).inc()
        return True

    def _retry_or_fail(self, ctx: FlowContext, outcome: _Outcome, now: datetime) -> None:
        """Try again later, or, once the delivery has been tried for `give_up_after`, end it and
        tell the coordinators."""
        delivery = outcome.delivery
        deadline = (delivery.due_at or now) + self.give_up_after
        if now < deadline:
            retry_at = min(now + self._programme_span(outcome.wait), deadline)
            if outbox.mark_retry(ctx.session, delivery.id, outcome.error, retry_at, owner=self.replica):
                self.metrics.retried.labels(self.sender.platform, outcome.reason).inc()
            else:
                _taken_over(delivery, "to be retried")
            return
        hours = self.give_up_after.total_seconds() / 3600
        error = f"gave up after {delivery.attempts} attempts in {hours:g} hours: {outcome.error}"
        if not self._final(ctx.session, delivery, "failed", error):
            return
        log.error("delivery %s failed for good after %d attempts in %g hours: %s", delivery.key,
                  delivery.attempts, hours, outcome.error)
        if delivery.message.intent not in _ALERTS:
            reach.tell_undelivered(ctx, delivery.recipient.members, delivery.cohort_id, outcome.error,
                                   outcome.cause, hours)

    @staticmethod
    def _ask_again_later(session, delivery: outbox.ClaimedDelivery, who: Recipient, error: str, now,
                         confirm_at) -> None:
        key = f"{delivery.key}:again:{who.members[0].key()}"[:200]
        outbox.record(session, [outbox.Outgoing(key=key, recipient=who, message=delivery.message,
                                                intent=delivery.message.intent, available_at=confirm_at)], now)
        session.execute(update(Delivery).where(Delivery.idempotency_key == key, Delivery.attempts == 0)
                        .values(last_error=TO_CONFIRM + error))

    # --- running ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.2) -> None:
        """Deliver until `stop` is set, whatever fails; then finish what is in flight (bounded),
        record it and give back every unsent claim."""
        self._prepare(supervised=True)
        try:
            while not stop.is_set():
                try:
                    claimed = await self._top_up()
                except Exception as error:
                    await _wait(stop, self.backoff.failed(error))
                    continue
                # Works again only on the database's word: a round that claimed nothing because
                # its hands are full, or while the recorder's writes fail, proves nothing.
                if (self._reached_database and not self._record_failing
                        and self.health.troubles().get(self.part)):
                    self.backoff.worked()
                self.last_progress = time.monotonic()
                if not claimed or len(self._held) > self.batch_size // 2:
                    self._recorded.clear()
                    await _wait(stop, idle_seconds, self._recorded)
        finally:
            await self._finish()

    async def _finish(self, grace: float = STOP_GRACE_SECONDS) -> None:
        self._stopping = True
        self._outcome_added.set()
        for task in self._lane_tasks - set(self._sending):
            task.cancel()  # waiting for pacing or a slot: nothing of theirs is in flight
        lanes = set(self._lane_tasks)
        if lanes:
            _done, late = await asyncio.wait(lanes, timeout=grace)
            for task in late:  # a send that did not answer in time: given back, it may go twice
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
                log.warning("%s: %d sends did not finish within %.0f s of stopping; they may go again",
                            self.part, len(late), grace)
        deadline = time.monotonic() + grace
        while (self._outcomes or self._recording) and self._recorder is not None and not self._recorder.done() \
                and time.monotonic() < deadline:
            self._recorded.clear()
            try:
                await asyncio.wait_for(self._recorded.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        await self._stop_recorder()
        recorded_not = {o.delivery.id for o in self._outcomes}
        unsent = [i for i in self._held if i not in recorded_not]
        if self._outcomes:
            log.error("%s: stopping with %d results not recorded; those deliveries may go again after "
                      "their lease", self.part, len(self._outcomes))
        if unsent:
            try:
                released = await asyncio.to_thread(self._release, unsent)
                log.info("%s: gave back %d unsent deliveries for the next start", self.part, released)
            except Exception as error:
                log.error("%s: could not give back %d unsent deliveries (%s); they go again when their "
                          "lease ends", self.part, len(unsent), error)
        self._held.clear()
        self._lanes.clear()

    def _release(self, ids: list[int]) -> int:
        with self.core.db.session() as session:
            return outbox.release(session, ids, self.core.clock.now(), owner=self.replica)

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and send and record all of it; returns how many were
        handled (tests, the demo and simulations)."""
        self._prepare(supervised=False)
        try:
            self._settled.clear()
            claimed = await self._top_up()
            self._check_settled()
            await self._settled.wait()
            self._raise_failure()
            return claimed
        finally:
            await self._stop_recorder()

    async def drain(self) -> int:
        """Send everything due now, claiming the next deliveries while the last ones are sent
        (tests, the demo and benchmarks)."""
        self._prepare(supervised=False)
        total = 0
        try:
            while True:
                self._raise_failure()
                self._recorded.clear()
                claimed = await self._top_up()
                total += claimed
                if not self._held:
                    break  # nothing claimed and everything recorded
                if not claimed or len(self._held) > self.batch_size // 2:
                    await self._recorded.wait()
            self._settled.clear()
            self._check_settled()
            await self._settled.wait()
            self._raise_failure()
            return total
        finally:
            await self._stop_recorder()

    def _raise_failure(self) -> None:
        if self._record_failure is not None:
            failure, self._record_failure = self._record_failure, None
            raise failure


def _taken_over(delivery: outbox.ClaimedDelivery, what: str) -> None:
    log.warning("delivery %s: its claim ran out and another worker took it over before it was recorded "
                "as %s; it may have gone twice", delivery.key, what)


def _cause(reason: str) -> str:
    """A short, stable name for why a delivery is failing (one coordinator alert per person and cause)."""
    return re.sub(r"[^a-z0-9]+", "-", reason.lower()).strip("-")[:40] or "unknown"


async def _wait(stop: asyncio.Event, seconds: float, also: asyncio.Event | None = None) -> None:
    """Sleep up to `seconds`, less if `stop` (or `also`) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if also is not None:
        waiters.append(asyncio.ensure_future(also.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
