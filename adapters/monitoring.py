"""What `/healthz` and `/metrics` say about a running Pairbot.

`/healthz` answers 503 with every reason it finds: the database does not answer, a part reports
trouble (bot/health.py), a delivery worker makes no progress or has stopped, the timeline this
replica leads is not running, or the outbox has fallen behind. `/metrics` is the process's
Prometheus registry plus outbox figures counted from the database at scrape time.

The database is asked on a daemon thread, one question at a time, and waited for at most
PROBE_TIMEOUT_SECONDS: a hung database makes the answer say so rather than hang the answer, and
repeated probes do not pile threads up behind it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy import func, select, text

from bot.clock import Clock, SystemClock, as_utc
from bot.db import Database
from bot.health import Health
from bot.metrics import Metrics, OutboxFigures
from bot.models import Delivery
from scheduler.delivery import replica_id

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 3.0
# A delivery round that has not finished for this long is stuck (a round normally takes seconds).
STALLED_AFTER_SECONDS = 120.0
UNSENT = ("pending", "sending")
# Troubles of the whole deployment, not of one replica (see Monitor.healthz).
SHARED_PARTS = ("outbox", "token:")


@dataclass
class Watched:
    """The parts of a running Pairbot that the health check looks at.

    `workers` are delivery workers: `worker.sender.platform` names each, and `worker.last_progress`
    (time.monotonic() of its last finished round, if the worker records it) shows it is moving.
    `tasks` are the long-running asyncio tasks, named by part; one that ends while the process is
    not stopping has died. `timeline.scheduler` is its APScheduler scheduler.
    """

    db: Database
    clock: Clock = field(default_factory=SystemClock)
    health: Health = field(default_factory=Health)
    metrics: Metrics = field(default_factory=Metrics)
    workers: list = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    timeline: object | None = None
    stopping: asyncio.Event | None = None
    replica: str = field(default_factory=replica_id)
    behind_after: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Probe:
    """One look at the database: whether it answered, and the outbox as it stands."""

    reachable: bool
    problem: str = ""
    outbox: OutboxFigures | None = None


@dataclass(frozen=True)
class Reason:
    part: str
    reason: str
    since: float  # time.time()

    def to_dict(self) -> dict:
        at = datetime.fromtimestamp(self.since, timezone.utc).isoformat(timespec="seconds")
        return {"part": self.part, "reason": self.reason, "since": at}


def count_outbox(db: Database, clock: Clock, platforms: list[str]) -> OutboxFigures:
    """Ping the database and count the outbox: unsent deliveries by platform, and how long the
    oldest of those that may go now has waited (in wall-clock seconds)."""
    now = clock.now()
    # A unit of work like any other, so on SQLite it queues behind this process's writers.
    with db.session() as session:
        session.execute(text("SELECT 1"))
        depth = dict(session.execute(
            select(Delivery.platform, func.count()).where(Delivery.status.in_(UNSENT))
            .group_by(Delivery.platform)).all())
        oldest = dict(session.execute(
            select(Delivery.platform, func.min(Delivery.available_at))
            .where(Delivery.status.in_(UNSENT), Delivery.available_at <= now)
            .group_by(Delivery.platform)).all())
    waited = {platform: max(0.0, clock.wall_seconds((now - as_utc(at)).total_seconds()))
              for platform, at in oldest.items() if at is not None}
    every = sorted(set(platforms) | set(depth) | set(waited))
    return OutboxFigures(depth={p: int(depth.get(p, 0)) for p in every},
                         oldest_due_seconds={p: waited.get(p, 0.0) for p in every})


class Monitor:
    def __init__(self, watched: Watched):
        self.watched = watched
        self._probe: asyncio.Future | None = None
        self._probe_started = 0.0
        self._database_down_since: float | None = None
        self._dead_since: dict[str, float] = {}

    # --- the database, off the event loop --------------------------------------------------------
    async def probe(self) -> Probe:
        loop = asyncio.get_running_loop()
        if self._probe is None or self._probe.done():
            self._probe = loop.create_future()
            self._probe_started = time.monotonic()
            platforms = [w.sender.platform for w in self.watched.workers]
            threading.Thread(target=self._look, args=(loop, self._probe, platforms), daemon=True,
                             name="pairbot-health-probe").start()
        try:
            outcome = await asyncio.wait_for(asyncio.shield(self._probe), PROBE_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            waited = time.monotonic() - self._probe_started
            outcome = Probe(False, f"the database has not answered for {waited:.0f} s")
        self._note(outcome)
        return outcome

    def _look(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future, platforms: list[str]) -> None:
        try:
            outcome = Probe(True, outbox=count_outbox(self.watched.db, self.watched.clock, platforms))
        except Exception as error:
            outcome = Probe(False, " ".join(f"{type(error).__name__}: {error}".split())[:300])

        def deliver() -> None:
            if not future.done():
                future.set_result(outcome)

        try:
            loop.call_soon_threadsafe(deliver)
        except RuntimeError:
            pass  # the loop closed while the database was being asked

    def _note(self, outcome: Probe) -> None:
        if not outcome.reachable and self._database_down_since is None:
            self._database_down_since = time.time()
            log.error("the database does not answer the health check: %s", outcome.problem)
        elif outcome.reachable and self._database_down_since is not None:
            log.warning("the database answers the health check again after %.0f s",
                        time.time() - self._database_down_since)
            self._database_down_since = None

    # --- /healthz --------------------------------------------------------------------------------
    def leads_timeline(self) -> bool:
        return bool(self.watched.metrics.registry.get_sample_value("pairbot_timeline_leader"))

    async def healthz(self, scope: str = "") -> tuple[int, dict]:
        """`scope="replica"` (for a load balancer) leaves out what every replica shares (the outbox
        falling behind, a platform refusing the token): taking replicas out for those would take
        them all out and fix nothing. Alerting reads the whole answer."""
        probe = await self.probe()
        reasons = self.reasons(probe)
        if scope == "replica":
            reasons = [r for r in reasons if not r.part.startswith(SHARED_PARTS)]
        body = {
            "status": "unavailable" if reasons else "ok",
            "database": "reachable" if probe.reachable else "unreachable",
            "replica": self.watched.replica,
            "leads_timeline": self.leads_timeline(),
            "reasons": [r.to_dict() for r in reasons],
        }
        if probe.outbox is not None:
            body["outbox"] = {p: {"depth": probe.outbox.depth[p],
                                  "oldest_due_seconds": round(probe.outbox.oldest_due_seconds[p], 1)}
                              for p in probe.outbox.depth}
        return (503 if reasons else 200), body

    def reasons(self, probe: Probe) -> list[Reason]:
        w = self.watched
        now, mono = time.time(), time.monotonic()
        found: list[Reason] = []
        if w.stopping is not None and w.stopping.is_set():
            found.append(Reason("replica", "shutting down", now))
        if not probe.reachable:
            found.append(Reason("database", probe.problem, self._database_down_since or now))
        found += [Reason(part, trouble.reason, trouble.since) for part, trouble in sorted(w.health.troubles().items())]
        for worker in w.workers:
            last = getattr(worker, "last_progress", None)
            if last is not None and mono - last > STALLED_AFTER_SECONDS:
                found.append(Reason(f"delivery:{worker.sender.platform}",
                                    f"no delivery round has finished for {mono - last:.0f} s", now - (mono - last)))
        stopping = w.stopping is not None and w.stopping.is_set()
        for task in w.tasks:
            if task.done() and not stopping:
                died = self._dead_since.setdefault(task.get_name(), now)
                error = None if task.cancelled() else task.exception()
                found.append(Reason(task.get_name(), f"stopped: {type(error).__name__}: {error}" if error
                                    else "stopped", died))
        scheduler = getattr(w.timeline, "scheduler", None)
        if self.leads_timeline() and scheduler is not None and scheduler.state != STATE_RUNNING and not stopping:
            found.append(Reason("timeline", "this replica leads the timeline but its scheduler is not running", now))
        if probe.outbox is not None:
            limit = w.behind_after.total_seconds()
            for platform, waited in probe.outbox.oldest_due_seconds.items():
                if waited > limit:
                    found.append(Reason("outbox", f"{platform}: the oldest due delivery has waited {waited / 60:.0f} "
                                        f"min (more than {limit / 60:.0f} min)", now - waited))
        return found

    # --- /metrics --------------------------------------------------------------------------------
    async def exposition(self) -> bytes:
        probe = await self.probe()
        return self.watched.metrics.exposition(probe.outbox, database_up=probe.reachable)
