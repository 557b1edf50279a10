"""Database engine and sessions, the same code for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
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
        self._one_writer = threading.RLock() if is_sqlite(self.engine) else nullcontext()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._one_writer:
            session = self._sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
