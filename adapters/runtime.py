"""`pairbot serve`: one asyncio process with the web server (or Slack's Socket Mode), the
APScheduler timeline (run by one replica: scheduler/leader.py) and a delivery worker per enabled
platform."""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta, timezone

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from adapters.monitoring import Monitor, Watched
from adapters.server import web_app
from bot import migrate
from bot.capabilities import Capabilities
from bot.clock import Clock, ScaledClock, SystemClock, utcnow
from bot.config import ConfigError, Settings, programme_for_new_cohorts
from bot.context import CoreOptions
from bot.core import Pairbot
from bot.db import Database, is_sqlite
from bot.health import Health
from bot.metrics import Metrics
from scheduler.delivery import STOP_GRACE_SECONDS, DeliveryWorker, replica_id
from scheduler.leader import ServeLockError, SingleServerLock, leadership_for, serve_lock_for
from scheduler.timeline import Timeline

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Something the operator must fix before Pairbot can start; the message says what."""


@dataclass
class Running:
    """A started Pairbot, for tests and the serve command to stop."""

    core: Pairbot
    timeline: Timeline
    workers: list[DeliveryWorker]
    port: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _socket_mode: object | None = None
    _closers: list = field(default_factory=list)
    # Start-up work retried in the background until it succeeds (not watched as long-running parts).
    _setting_up: list[asyncio.Task] = field(default_factory=list)
    # What the long-running parts say about themselves (for /healthz) and their figures (/metrics).
    health: Health = field(default_factory=Health)
    metrics: Metrics = field(default_factory=Metrics)
    # Names this process in /healthz and as the owner of its delivery claims (deliveries.claimed_by).
    replica: str = field(default_factory=replica_id)
    # SQLite: the lock that keeps a second server off the same database file.
    _serve_lock: SingleServerLock | None = None

    async def close(self) -> None:
        self.stop.set()
        for task in self._setting_up:
            task.cancel()
        # Workers finish their sends in flight (up to STOP_GRACE_SECONDS), record them and give back
        # unsent claims; cancelling one only if that itself hangs.
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=STOP_GRACE_SECONDS * 2 + 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()
        await self.timeline.stop()
        self.metrics.leader.set(0)
        if self._socket_mode is not None:
            await self._socket_mode.close_async()
        if self._runner is not None:
            await self._runner.cleanup()
        for close in self._closers:
            await close()
        self.core.db.dispose()
        if self._serve_lock is not None:
            self._serve_lock.release()


def delivery_worker(running: Running, sender, settings: Settings) -> DeliveryWorker:
    return DeliveryWorker(running.core, sender, batch_size=settings.delivery.batch_size,
                          concurrency=settings.delivery.concurrency,
                          give_up_after=timedelta(hours=settings.delivery.give_up_after_hours),
                          health=running.health, metrics=running.metrics, replica=running.replica)


def open_database(url: str) -> Database:
    db = Database(url)
    if is_sqlite(db.engine):
        migrate.upgrade(db.engine)  # the embedded default looks after itself
    elif not migrate.is_up_to_date(db.engine):
        shown = db.engine.url.render_as_string(hide_password=True)
        db.dispose()
        raise StartupError(f"the database at {shown} has no Pairbot schema or an old one: "
                           f"run 'pairbot db upgrade' first")
    return db


def rehearsal_clock(speed: float) -> ScaledClock:
    """[scheduler] speed above 1: programme time from now, `speed` times faster."""
    log.warning("REHEARSAL: [scheduler] speed = %g, so programme time runs %g times faster than real time "
                "(a week passes in %s). This is for rehearsals, not for real cohorts.",
                speed, speed, timedelta(weeks=1) / speed)
    now = utcnow()
    return ScaledClock(now, speed, wall_origin=now)


async def start(settings: Settings, clock: Clock | None = None) -> Running:
    if not settings.slack.enabled and not settings.teams.enabled:
        raise StartupError("no platform is enabled: set [slack] enabled = true (or [teams]) in the config")
    try:
        programme = programme_for_new_cohorts(settings)
    except ConfigError as problem:
        raise StartupError(str(problem)) from None
    if clock is None:
        clock = rehearsal_clock(settings.scheduler.speed) if settings.scheduler.speed != 1 else SystemClock()
    serve_lock = _hold_serve_lock(settings.database.url)
    try:
        return await _start(settings, clock, programme, serve_lock)
    except BaseException:
        if serve_lock is not None:
            serve_lock.release()
        raise


def _hold_serve_lock(url: str) -> SingleServerLock | None:
    lock = serve_lock_for(url)
    if lock is not None:
        try:
            lock.acquire()
        except ServeLockError as problem:
            raise StartupError(str(problem)) from None
    return lock


_widened: "weakref.WeakSet[asyncio.AbstractEventLoop]" = weakref.WeakSet()


def widen_thread_pool(concurrency: int) -> None:
    """Size the event loop's default thread pool for the sends in flight. botbuilder's connector
    sends each request with `requests` in that pool (msrest), and database work runs there too
    (asyncio.to_thread); Python's default (CPUs + 4 threads) held Teams delivery on a 2-CPU host to
    about 36 a second, under its documented 50."""
    loop = asyncio.get_running_loop()
    if loop not in _widened:
        loop.set_default_executor(ThreadPoolExecutor(max_workers=concurrency + 16, thread_name_prefix="pairbot"))
        _widened.add(loop)


async def _start(settings: Settings, clock: Clock, programme, serve_lock: SingleServerLock | None) -> Running:
    widen_thread_pool(settings.delivery.concurrency)
    db = open_database(settings.database.url)
    options = CoreOptions.from_settings(settings, programme)
    capabilities = Capabilities()
    core = Pairbot(db, clock, capabilities, options)
    health, metrics = Health(), Metrics()
    timeline = Timeline(core, AsyncIOScheduler(timezone=timezone.utc), health, metrics)
    running = Running(core, timeline, [], health=health, metrics=metrics, _serve_lock=serve_lock)
    slack_app = None
    if settings.slack.enabled:
        from adapters.slack import app as slack

        adapter = slack.build(core, settings.slack, db.engine, health=running.health)
        capabilities.register(adapter.sender.platform, adapter.sender.capabilities)
        if not settings.slack.client_id:
            async def set_up(adapter=adapter):
                team = await slack.single_workspace(core, adapter, settings.organisation.coordinators,
                                                    settings.organisation.facilitators)
                log.info("Slack: one workspace (%s) with a bot token", team)

            try:
                await set_up()
            except Exception as problem:
                if slack.token_refused(problem):  # a config to put right: say so and stop
                    await adapter.close()
                    db.dispose()
                    raise StartupError(slack.explain_start_failure(problem, settings.slack.api_url)) from None
                # Slack is out of reach (an outage, a proxy): serve the rest and set up when it answers.
                running._setting_up.append(asyncio.create_task(slack.until_slack_answers(
                    "slack", set_up, lambda failure: slack.explain_start_failure(failure, settings.slack.api_url),
                    running.health, running.stop, problem), name="slack:set-up"))
        running._closers.append(adapter.close)
        running.workers.append(delivery_worker(running, adapter.sender, settings))
        slack_app = adapter.app
    teams_adapter = None
    if settings.teams.enabled:
        from adapters.teams import app as teams

        from adapters.teams.calendar import CalendarLinks

        teams_adapter = teams.build(core, settings.teams, teams.Staff.from_settings(settings.organisation),
                                    health=running.health, calendar=CalendarLinks.from_settings(settings))
        running._closers.append(teams_adapter.close)
        running.workers.append(delivery_worker(running, teams_adapter.sender, settings))
    timeline.start(lead=False)
    leadership = leadership_for(timeline, db)
    await leadership.begin()
    running._tasks.append(asyncio.create_task(leadership.run(running.stop), name="timeline"))
    for worker in running.workers:
        running._tasks.append(asyncio.create_task(worker.run(running.stop),
                                                  name=f"delivery:{worker.sender.platform}"))
    if settings.slack.enabled and settings.slack.socket_mode:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        running._socket_mode = handler = AsyncSocketModeHandler(slack_app, settings.slack.app_token)
        # slack_sdk tries to connect until it can (every ping interval), so start-up does not wait
        # for Slack; a watcher says in /healthz and the log while the socket is not open.
        running._setting_up.append(asyncio.create_task(handler.connect_async(), name="slack:socket-mode:connect"))
        running._tasks.append(asyncio.create_task(slack.watch_socket_mode(handler.client, running.health,
                                                                          running.stop), name="slack:socket-mode"))
        slack_app = None  # events arrive over the socket, not the web server
    for worker in running.workers:
        running.metrics.sent.labels(worker.sender.platform)  # shown at 0 before the first send
    monitor = Monitor(Watched(db, core.clock, running.health, running.metrics, running.workers, running._tasks,
                              timeline, running.stop, running.replica,
                              timedelta(minutes=settings.delivery.behind_after_minutes)))
    running._runner = web.AppRunner(web_app(db, slack_app, teams_adapter, monitor), access_log=None)
    await running._runner.setup()
    site = web.TCPSite(running._runner, settings.server.host, settings.server.port)
    await site.start()
    running.port = running._runner.addresses[0][1]
    log.info("Pairbot is listening on http://%s:%s", settings.server.host, running.port)
    return running


async def serve(settings: Settings) -> None:
    running = await start(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, running.stop.set)
    await running.stop.wait()
    log.info("stopping")
    await running.close()
