"""How a change made anywhere reaches the one running timeline.

A unit of work that starts, pauses, resumes or shifts a cohort, or asks for a wake-up, may run on a
replica that does not lead the timeline, or at the console. So the change is recorded in the same
transaction: on PostgreSQL as a NOTIFY on the deployment's channel (delivered only if the
transaction commits), which the leader LISTENs to; on SQLite, where one server runs, as a
`timeline_changes` row that the server polls and deletes once followed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.context import Wakeup
from bot.models import TimelineChange


@dataclass(frozen=True)
class Change:
    """A cohort whose jobs must follow its stored status and dates, or a wake-up to arm."""

    cohort_id: int | None = None
    wakeup: Wakeup | None = None


@dataclass(frozen=True)
class Deployment:
    """What one Pairbot deployment on a PostgreSQL server is called: its database and schema, so
    parallel deployments (or test schemas) on one server never share a lock or a channel."""

    channel: str
    lock_key: int

    @classmethod
    def named(cls, database: str, schema: str | None) -> "Deployment":
        digest = hashlib.sha256(f"pairbot-timeline:{database}/{schema or ''}".encode()).digest()
        return cls(channel=f"pairbot_timeline_{digest[:6].hex()}",
                   lock_key=int.from_bytes(digest[8:16], "big", signed=True))


DEPLOYMENT_QUERY = "SELECT current_database(), current_schema()"
_deployments: dict[str, Deployment] = {}
_deployments_lock = threading.Lock()


def deployment_of(connection: Connection) -> Deployment:
    engine: Engine = connection.engine
    key = engine.url.render_as_string(hide_password=False)
    with _deployments_lock:
        known = _deployments.get(key)
    if known is None:
        database, schema = connection.execute(text(DEPLOYMENT_QUERY)).one()
        known = Deployment.named(database, schema)
        with _deployments_lock:
            _deployments[key] = known
    return known


def record(session: Session, wakeups: Iterable[Wakeup], cohort_ids: Iterable[int]) -> None:
    """Tell the timeline about these changes when (and only if) the session commits."""
    changes = [Change(cohort_id=c) for c in sorted(cohort_ids)] + [Change(wakeup=w) for w in wakeups]
    if not changes:
        return
    if session.get_bind().dialect.name == "postgresql":
        connection = session.connection()
        channel = deployment_of(connection).channel
        for change in changes:
            connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                               {"channel": channel, "payload": to_payload(change)})
        return
    now = utcnow()
    session.add_all(TimelineChange(cohort_id=c.cohort_id, job=c.wakeup.job if c.wakeup else None,
                                   ref_id=c.wakeup.ref_id if c.wakeup else None,
                                   due_at=c.wakeup.at if c.wakeup else None, created_at=now) for c in changes)


def to_payload(change: Change) -> str:
    if change.wakeup is not None:
        w = change.wakeup
        return json.dumps({"wakeup": [w.job, w.ref_id, w.at.isoformat()]})
    return json.dumps({"cohort": change.cohort_id})


def from_payload(payload: str) -> Change | None:
    """A NOTIFY payload back as a Change; None for one this version does not know."""
    try:
        data = json.loads(payload)
        if "cohort" in data:
            return Change(cohort_id=int(data["cohort"]))
        job, ref_id, at = data["wakeup"]
        return Change(wakeup=Wakeup(str(job), int(ref_id), datetime.fromisoformat(at)))
    except (ValueError, KeyError, TypeError):
        return None


def latest(session: Session) -> int:
    """The newest recorded change (polling starts after it once everything has been re-read)."""
    return session.scalar(select(TimelineChange.id).order_by(TimelineChange.id.desc()).limit(1)) or 0


def since(session: Session, after_id: int, limit: int = 500) -> list[tuple[int, Change]]:
    """Recorded changes after `after_id`, oldest first. SQLite has one writer at a time, so ids
    commit in order and none can appear behind one already read."""
    rows = session.scalars(select(TimelineChange).where(TimelineChange.id > after_id)
                           .order_by(TimelineChange.id).limit(limit))
    return [(row.id, Change(cohort_id=row.cohort_id) if row.job is None
             else Change(wakeup=Wakeup(row.job, row.ref_id, row.due_at))) for row in rows]


def forget(session: Session, up_to_id: int) -> None:
    """Followed changes are deleted: the table holds only what the server has not read yet."""
    session.execute(delete(TimelineChange).where(TimelineChange.id <= up_to_id))
