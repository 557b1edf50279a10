"""A database that stops answering fails a unit of work within a bound instead of hanging it."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.db import CONNECT_TIMEOUT_SECONDS, Database


@pytest.fixture
def silent_address():
    """A loopback port that takes connections (the kernel's backlog) and never says a word, like a
    database host behind a firewall that drops replies."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()
    listener.close()


def test_a_postgresql_server_that_never_answers_fails_the_connection_within_the_connect_timeout(silent_address):
    host, port = silent_address
    db = Database(f"postgresql+psycopg://postgres@{host}:{port}/test")
    started = time.monotonic()
    with pytest.raises(OperationalError):
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    took = time.monotonic() - started
    db.dispose()
    assert took < CONNECT_TIMEOUT_SECONDS + 3, f"connecting took {took:.1f} s"
    assert db.ping() is False


def test_a_refused_postgresql_connection_fails_at_once():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    db = Database(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    started = time.monotonic()
    assert db.ping() is False
    assert time.monotonic() - started < 3
    db.dispose()


def test_postgresql_sessions_have_a_statement_timeout_and_keep_the_urls_own_options(postgres_url):
    db = Database(postgres_url)
    with db.session() as session:
        assert session.execute(text("SHOW statement_timeout")).scalar() == "30s"
        # the URL's search_path (a schema per test here) still applies
        assert session.execute(text("SHOW search_path")).scalar().startswith("pairbot_test_")
    db.dispose()


def test_a_statement_that_runs_too_long_is_cancelled(postgres_url):
    db = Database(postgres_url.replace("options=", "options=-cstatement_timeout%3D200%20"))
    started = time.monotonic()
    with pytest.raises(OperationalError, match="statement timeout"):
        with db.session() as session:
            session.execute(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 3
    db.dispose()
