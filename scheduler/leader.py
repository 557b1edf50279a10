"""Which `pairbot serve` runs the programme timeline, and how changes made elsewhere reach it.

PostgreSQL (several replicas): the leader holds a session advisory lock on a connection of its own,
outside the pool, keyed by the deployment (database and schema). It checks that connection every
couple of seconds and LISTENs on it for the changes other processes NOTIFY. Losing the connection
is losing the lead: the scheduler stops at once. A replica that does not lead tries for the lock
every couple of seconds; PostgreSQL frees it when the leader's connection ends (a crash or kill -9
closes the socket), so another replica takes over within seconds.

SQLite: one server process only. `pairbot serve` holds an exclusive lock on "<database>.serve-lock"
(console commands don't take it), leads for as long as it runs and polls the changes table.

Either way the leader resyncs now and then, so any step not in step_runs whose time has come is
armed again, and every failure goes to the timeline's Backoff (part "timeline" in /healthz, logged
once per outage). A replica that follows is fine; one that cannot reach the database to find out
whether it should lead is in trouble.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable

from sqlalchemy.engine import make_url

from bot import timeline_changes
from bot.db import Database, is_sqlite
from scheduler.timeline import Timeline

log = logging.getLogger(__name__)

TRY_LEAD_EVERY = 2.0      # a follower asks for the lock this often
HEARTBEAT_SECONDS = 2.0   # the leader checks its connection (and reads notifications) this often
HEARTBEAT_TIMEOUT = 5.0   # a check that takes longer means the connection is gone
POLL_SECONDS = 2.0        # SQLite: how often the server reads the changes table
RESYNC_SECONDS = 30.0     # the leader re-arms anything missing this often
RETRY_CAP = 5.0           # reconnecting never waits longer than this, so takeover stays quick
CONNECT_TIMEOUT = 5       # seconds, for the leadership connection


class ServeLockError(Exception):
    """A second server on one SQLite database; the message says what to do."""


class SingleServerLock:
    """An exclusive OS lock beside a SQLite database file, held while `pairbot serve` runs."""

    def __init__(self, database_file: str):
        self.database_file = database_file
        self.path = f"{database_file}.serve-lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ServeLockError(
                f"another 'pairbot serve' is already running on the SQLite database {self.database_file} "
                f"(it holds {self.path}). SQLite supports one server process: stop the other one, or use "
                f"PostgreSQL to run several replicas. Console commands ('pairbot command ...') work "
                f"while it runs.") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def serve_lock_for(url: str) -> SingleServerLock | None:
    """The lock a server must hold on this database: SQLite files only."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:":
        return None
    return SingleServerLock(os.path.abspath(database))


class _Leadership:
    def __init__(self, timeline: Timeline, db: Database):
        self.timeline = timeline
        self.db = db
        self._loop_time = asyncio.get_running_loop().time
        self._resync_at = 0.0
        self._full_resync = False  # after a failed lead() or a change that could not be followed

    async def _off_loop(self, work: Callable, *args) -> bool:
        """Blocking timeline work in a thread; a failure is noted (and retried by the caller)."""
        try:
            await asyncio.to_thread(work, *args)
        except Exception as error:  # noqa: BLE001 - the database may fail in any way; we carry on
            wait = self.timeline.backoff.failed(error)
            self._resync_at = self._loop_time() + min(wait, RESYNC_SECONDS)
            return False
        return True

    async def _take_lead(self) -> None:
        self._full_resync = not await self._off_loop(self.timeline.lead)
        self._resync_at = self._loop_time() + (1.0 if self._full_resync else RESYNC_SECONDS)

    async def _resync_if_due(self) -> None:
        if self._loop_time() < self._resync_at:
            return
        full = self._full_resync
        self._resync_at = self._loop_time() + RESYNC_SECONDS
        if await self._off_loop(self.timeline.resync, not full):
            self._full_resync = False
            self.timeline.backoff.worked()

    async def _follow(self) -> None:
        self.timeline.follow()  # at once, on the loop: nothing fires from here on
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.timeline.disarm)

    async def _apply(self, change: timeline_changes.Change) -> None:
        if not await self._off_loop(self.timeline.apply, change):
            self._full_resync = True


class SingleServer(_Leadership):
    """SQLite: this process is the only server, so it leads; changes arrive as rows it polls."""

    def __init__(self, timeline: Timeline, db: Database):
        super().__init__(timeline, db)
        self._seen = 0
        self._leading = False

    async def begin(self) -> None:
        """Lead before the server answers (run() tries again if the database does not answer)."""
        self._leading = await self._off_loop(self._lead)

    def _lead(self) -> None:
        # Changes recorded from here on are read after the rebuild; earlier ones are in it.
        with self.db.session() as session:
            self._seen = timeline_changes.latest(session)
        self.timeline.lead()
        self._resync_at = self._loop_time() + RESYNC_SECONDS

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if not self._leading:
                    self._leading = await self._off_loop(self._lead)
                    if self._leading:
                        self.timeline.backoff.worked()
                else:
                    await self._poll()
                    await self._resync_if_due()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
        finally:
            self.timeline.follow()

    async def _poll(self) -> None:
        def read():
            with self.db.session() as session:
                return timeline_changes.since(session, self._seen)

        try:
            changes = await asyncio.to_thread(read)
        except Exception as error:  # noqa: BLE001
            self.timeline.backoff.failed(error)
            return
        if not changes:
            return
        for _id, change in changes:
            await self._apply(change)
        self._seen = changes[-1][0]

        def forget():
            with self.db.session() as session:
                timeline_changes.forget(session, self._seen)

        await self._off_loop(forget)


class PostgresLeadership(_Leadership):
    """PostgreSQL: an advisory lock on a dedicated connection decides; NOTIFY brings changes."""

    def __init__(self, timeline: Timeline, db: Database):
        super().__init__(timeline, db)
        _args, params = db.engine.dialect.create_connect_args(db.engine.url)
        params.pop("context", None)  # SQLAlchemy's adapters map, not a connection parameter
        self._params = {
            **params, "connect_timeout": CONNECT_TIMEOUT, "application_name": "pairbot-timeline",
            # A leader whose network silently goes must notice within seconds, and so must PostgreSQL.
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2,
            "tcp_user_timeout": 5000,
        }
        self._connection = None
        self._deployment: timeline_changes.Deployment | None = None
        self.leading = False

    async def begin(self) -> None:
        """One try at the lead before the server answers, so a lone replica leads from the start."""
        try:
            await self._connect()
            if await self._try_lock():
                await self._lead_here()
            else:
                self.timeline.backoff.worked()
        except Exception as error:  # noqa: BLE001 - run() carries on trying
            await self._lost(error)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    if self._connection is None:
                        await self._connect()
                    if not self.leading:
                        if await self._try_lock():
                            await self._lead_here()
                        else:
                            self.timeline.backoff.worked()  # a follower is fine
                            with contextlib.suppress(asyncio.TimeoutError):
                                await asyncio.wait_for(stop.wait(), TRY_LEAD_EVERY)
                            continue
                    await self._listen_for(HEARTBEAT_SECONDS)
                    await asyncio.wait_for(self._connection.execute("SELECT 1"), HEARTBEAT_TIMEOUT)
                    await self._resync_if_due()
                except Exception as error:  # noqa: BLE001 - connection gone (or never came): lead lost
                    wait = await self._lost(error)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
        finally:
            await self._follow()
            await self._close()

    async def _connect(self) -> None:
        import psycopg

        self._connection = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(**self._params, autocommit=True), CONNECT_TIMEOUT + 1)
        if self._deployment is None:
            cursor = await self._connection.execute(timeline_changes.DEPLOYMENT_QUERY)
            database, schema = await cursor.fetchone()
            self._deployment = timeline_changes.Deployment.named(database, schema)

    async def _try_lock(self) -> bool:
        cursor = await asyncio.wait_for(
            self._connection.execute("SELECT pg_try_advisory_lock(%s)", [self._deployment.lock_key]),
            HEARTBEAT_TIMEOUT)
        return bool((await cursor.fetchone())[0])

    async def _lead_here(self) -> None:
        # LISTEN before the rebuild, so a change made while it reads is heard, not missed.
        await asyncio.wait_for(self._connection.execute(f'LISTEN "{self._deployment.channel}"'),
                               HEARTBEAT_TIMEOUT)
        self.leading = True
        await self._take_lead()
        if not self._full_resync:
            self.timeline.backoff.worked()

    async def _listen_for(self, seconds: float) -> None:
        async for notify in self._connection.notifies(timeout=seconds):
            change = timeline_changes.from_payload(notify.payload)
            if change is None:
                log.warning("ignored a timeline change this version does not know: %.200s", notify.payload)
                continue
            await self._apply(change)

    async def _lost(self, error: BaseException) -> float:
        if self.leading:
            log.error("the timeline's leadership connection failed (%s): no longer leading", error)
        self.leading = False
        await self._follow()
        await self._close()
        return min(self.timeline.backoff.failed(error), RETRY_CAP)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)


def leadership_for(timeline: Timeline, db: Database) -> SingleServer | PostgresLeadership:
    if is_sqlite(db.engine):
        return SingleServer(timeline, db)
    return PostgresLeadership(timeline, db)
