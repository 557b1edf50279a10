"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable) and a conversation harness."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from bot import migrate
from bot.db import Database

POSTGRES_URL = os.environ.get("PAIRBOT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one worker more than the CPUs this process may use. The fault tests spend most of
    their time waiting for real outages to pass; the whole-cohort runs use the CPU they leave."""
    return len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) + 1


def _postgres_or_skip() -> None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as problem:  # noqa: BLE001 - any failure means "no server"
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL}: {problem.__class__.__name__}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'pairbot-test.sqlite'}"


@pytest.fixture
def postgres_url():
    """A fresh schema per test, so tests never see each other's rows."""
    _postgres_or_skip()
    schema = f"pairbot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def database(database_url):
    db = Database(database_url)
    migrate.upgrade(db.engine)
    yield db
    db.dispose()


SHARED_SCHEMAS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared",
                              "schemas")


def shared_schema(name: str) -> str:
    """A schema from ../shared/schemas; skipped with a reason outside the project's setup, but
    under CI=true a missing schema fails the test."""
    path = os.path.normpath(os.path.join(SHARED_SCHEMAS, name))
    if not os.path.isfile(path):
        reason = f"{name} is missing from {os.path.normpath(SHARED_SCHEMAS)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: schema tests must run)")
        pytest.skip(reason)
    return path
