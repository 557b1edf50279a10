"""Database engine and sessions, the same code for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker


# How long a unit of work waits for SQLite's write lock (held by another process, or by this
# process's other units of work) before it fails with "database is locked".
SQLITE_BUSY_SECONDS = 30


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS})
        _sqlite_write_safely(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         connect_args=_postgres_timeouts(parsed.query))


# A database that stops answering must fail a unit of work, not hang it: a connection attempt gives
# up after this long, and so does any one statement (libpq settings; the URL may set its own).
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 30_000


def _postgres_timeouts(query) -> dict:
    args = {}
    if "connect_timeout" not in query:
        args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    options = query.get("options", "")
    options = " ".join(options) if isinstance(options, tuple) else options
    if "statement_timeout" not in options:
        # connect_args replace the URL's options, so the URL's own (a search_path) are kept here.
        args["options"] = f"{options} -c statement_timeout={STATEMENT_TIMEOUT_MS}".strip()
    return args


def _sqlite_write_safely(engine: Engine) -> None:
    # pysqlite starts transactions lazily and SQLite then refuses to upgrade a read to a write while
    # another thread writes ("database is locked" with no wait). Taking the write lock at BEGIN makes
    # the timeline, the delivery worker and inbound events queue up behind each other instead.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_reader(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by the reading tests
        dbapi_connection.isolation_level = None  # each read sees the last commit; no write lock taken
        dbapi_connection.execute("PRAGMA query_only=ON")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_for(session: Session):
    """The backend's INSERT construct, which has ON CONFLICT DO NOTHING (both SQLite and PostgreSQL)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


class Database:
    """An engine and a session factory; every unit of work is one `with db.session() as s:` block."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time and every unit of work here takes the write lock. Queuing
        # threads on a lock wakes the next one as soon as the last commits; SQLite's own busy
        # handler would make them sleep and retry, up to 100 ms at a time, which shows as long tails.
        self._one_writer = threading.RLock() if is_sqlite(self.engine) else None
        self._readers = None
        self._reader_engine: Engine | None = None
        if is_sqlite(self.engine) and self.engine.url.database not in (None, "", ":memory:"):
            self._reader_engine = _sqlite_reader(url)
            self._readers = sessionmaker(self._reader_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._write_turn():
            session = self._sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A unit of work on a plain connection (no ORM session), in one transaction: for a write
        on a hot path, such as recording sends, where a session's own work is most of the cost."""
        with self._write_turn(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        if not self._take_write_turn():
            raise exc.OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
                f"database is locked: waited {SQLITE_BUSY_SECONDS} s for this process's turn to write"))
        try:
            yield
        finally:
            if self._one_writer is not None:
                self._one_writer.release()

    def _take_write_turn(self) -> bool:
        # Bounded like SQLite's own busy timeout: while another process holds the database, units
        # of work fail after that long however many are queued here, instead of one after another.
        return self._one_writer is None or self._one_writer.acquire(timeout=SQLITE_BUSY_SECONDS)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A unit of work that only reads and waits for no writer: on a SQLite file (WAL) it reads
        the last committed state on a connection of its own while another connection, even in
        another process, holds the write lock; elsewhere it is an ordinary session."""
        if self._readers is None:
            with self.session() as session:
                yield session
            return
        session = self._readers()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def read_value(self, statement):
        """One value, read as `reading` reads but without an ORM session (for a question asked very
        often, such as when the next delivery is due)."""
        if self._readers is None:
            with self.session() as session:
                return session.scalar(statement)
        with self._reader_engine.connect() as connection:
            return connection.scalar(statement)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if self._readers is not None:
            self._reader_engine.dispose()
