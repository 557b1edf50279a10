"""The outbox: deliveries recorded in the same transaction as the state change that caused them.

An idempotency key (e.g. "step:12:buddy-1:participant:40") makes recording the same delivery twice a
no-op, so a step that runs again, a retried event or a second replica cannot send a message twice.
The delivery worker (scheduler/delivery.py) claims due rows, sends them and marks each one. A claim
has an owner (the worker's replica id) and a lease; only the owner can mark or release the row, so a
worker whose lease ran out and whose rows another worker took cannot overwrite what that one did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import Text, bindparam, cast, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.db import insert_for
from bot.messages import Message, Recipient
from bot.models import Delivery

# A claimed row whose worker died is offered again after this long (the delivery worker takes a
# much shorter lease and renews it while it works on the row).
CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Outgoing:
    key: str
    recipient: Recipient
    message: Message
    cohort_id: int | None = None
    intent: str = ""
    available_at: datetime | None = None


def record(session: Session, items: Iterable[Outgoing], now: datetime) -> int:
    """Insert deliveries, skipping keys already recorded. Returns how many rows were new."""
    rows = [
        {
            "idempotency_key": item.key,
            "platform": item.recipient.members[0].platform,
            "recipient": item.recipient.to_dict(),
            "message": item.message.to_dict(),
            "cohort_id": item.cohort_id,
            "intent": item.intent or item.message.intent,
            "status": "pending",
            "attempts": 0,
            "available_at": item.available_at or now,
            "due_at": item.available_at or now,
            "created_at": now,
        }
        for item in items
    ]
    if not rows:
        return 0
    insert = insert_for(session)
    inserted = 0
    # Chunks keep each statement under the backends' bound-parameter limits.
    for start in range(0, len(rows), 1000):
        statement = (
            insert(Delivery).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(Delivery.id)
        )
        inserted += len(session.connection().execute(statement, rows[start : start + 1000]).all())
    return inserted


def record_replies(session: Session, replies: Iterable[tuple[Recipient, Message, str]], now: datetime) -> int:
    """Direct replies the platform took, kept as sent deliveries under their `reply_key` with the
    platform's ref (so a later message can redraw them). A key already kept is left as it is."""
    rows = [
        {
            "idempotency_key": message.reply_key,
            "platform": recipient.members[0].platform,
            "recipient": recipient.to_dict(),
            "message": message.to_dict(),
            "intent": message.intent,
            "status": "sent",
            "attempts": 1,
            "available_at": now,
            "due_at": now,
            "created_at": now,
            "sent_at": now,
            "platform_ref": ref,
        }
        for recipient, message, ref in replies if message.reply_key and ref
    ]
    if not rows:
        return 0
    statement = insert_for(session)(Delivery).on_conflict_do_nothing(index_elements=["idempotency_key"]) \
        .returning(Delivery.id)
    return len(session.connection().execute(statement, rows).all())


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    key: str
    recipient: Recipient
    message: Message
    attempts: int
    # When it was first meant to go: the retry window is counted from here.
    due_at: datetime | None = None
    cohort_id: int | None = None
    # When it was written (programme time): figures counted then are still true moments later.
    written_at: datetime | None = None


def claim(session: Session, platform: str, now: datetime, limit: int, owner: str = "",
          lease: timedelta = CLAIM_LEASE, skip: Iterable[int] = ()) -> list[ClaimedDelivery]:
    """Take up to `limit` due deliveries for one platform for `owner` until `now + lease`; other
    workers skip the rows taken (SKIP LOCKED on PostgreSQL). A row whose lease ran out is due
    again. `skip`: rows the owner still holds in memory (it must not take them twice)."""
    return claimed_deliveries(claim_rows(session, platform, now, limit, owner, lease, skip))


def claimed_deliveries(rows) -> list[ClaimedDelivery]:
    """The rows of `claim_rows` as deliveries (decoding them needs no transaction)."""
    return [
        ClaimedDelivery(
            id=r.id,
            key=r.idempotency_key,
            recipient=Recipient.from_dict(json.loads(r.recipient)),
            message=Message.from_dict(json.loads(r.message)),
            attempts=r.attempts + 1,
            due_at=r.due_at or r.created_at,
            cohort_id=r.cohort_id,
            written_at=r.created_at,
        )
        for r in rows
    ]


def claim_rows(session: Session, platform: str, now: datetime, limit: int, owner: str = "",
               lease: timedelta = CLAIM_LEASE, skip: Iterable[int] = ()) -> list:
    """`claim`, as plain rows."""
    # Plain rows, not ORM objects: a claim is on the hot path of every fan-out. The JSON comes back
    # as text, decoded by `claimed_deliveries` after the transaction (it holds SQLite's write lock).
    due = (
        select(Delivery.id, Delivery.idempotency_key, cast(Delivery.recipient, Text).label("recipient"),
               cast(Delivery.message, Text).label("message"), Delivery.attempts,
               Delivery.due_at, Delivery.created_at, Delivery.cohort_id)
        .where(
            Delivery.platform == platform,
            Delivery.status.in_(("pending", "sending")),
            Delivery.available_at <= now,
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    skip = list(skip)
    if skip:
        due = due.where(Delivery.id.not_in(skip))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = session.execute(due).all()
    if not rows:
        return []
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_([r.id for r in rows]))
        .values(status="sending", attempts=Delivery.attempts + 1, available_at=now + lease, claimed_by=owner)
        .execution_options(synchronize_session=False)
    )
    return rows


def _owned(ids, owner: str):
    """Rows still claimed by `owner`: a row whose lease ran out and that another worker took is not."""
    return (Delivery.id.in_(ids), Delivery.claimed_by == owner, Delivery.status == "sending")


# One executemany by primary key (much cheaper than one statement with a CASE per row), built once:
# it runs for every small group of sends.
_MARK_SENT = (
    update(Delivery.__table__)
    .where(Delivery.__table__.c.id == bindparam("b_id"), Delivery.__table__.c.claimed_by == bindparam("b_owner"),
           Delivery.__table__.c.status == "sending")
    .values(status="sent", sent_at=bindparam("b_now"), platform_ref=bindparam("b_ref"), last_error=None)
)


def mark_sent(session: Session | Connection, sent: dict[int, str], now: datetime, owner: str = "") -> set[int]:
    """Mark deliveries sent; `sent` maps delivery id to the platform's message reference. Returns
    the ids marked; any other was no longer this owner's claim (it may have gone twice)."""
    if not sent:
        return set()
    connection = session.connection() if isinstance(session, Session) else session
    table = Delivery.__table__
    result = connection.execute(_MARK_SENT, [{"b_id": i, "b_ref": ref or None, "b_owner": owner, "b_now": now}
                                             for i, ref in sent.items()])
    if result.rowcount == len(sent):
        return set(sent)
    ids = sorted(sent)
    marked: set[int] = set()
    for start in range(0, len(ids), 500):
        marked.update(connection.scalars(select(table.c.id).where(
            table.c.id.in_(ids[start : start + 500]), table.c.claimed_by == owner, table.c.status == "sent")))
    return marked


def mark_retry(session: Session, delivery_id: int, error: str, retry_at: datetime, owner: str = "") -> bool:
    """Put a claimed delivery back to be tried at `retry_at`; False when it was not this owner's."""
    result = session.execute(
        update(Delivery)
        .where(*_owned([delivery_id], owner))
        .values(status="pending", available_at=retry_at, last_error=error[:2000], claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def mark_final(session: Session, delivery_id: int, status: str, error: str, owner: str = "") -> bool:
    """End a delivery that will never be sent: 'failed' or 'unreachable'; False when it was not
    this owner's claim."""
    result = session.execute(
        update(Delivery)
        .where(*_owned([delivery_id], owner))
        .values(status=status, last_error=error[:2000])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release(session: Session, ids: Iterable[int], available_at: datetime, owner: str = "") -> int:
    """Give back claimed deliveries that were not sent (a stopping worker, a paused conversation):
    pending again from `available_at`, with no owner, the claim's attempt not counted."""
    return _update_owned(session, ids, owner, status="pending", available_at=available_at, claimed_by=None,
                         attempts=Delivery.attempts - 1)


def renew(session: Session, ids: Iterable[int], until: datetime, owner: str = "") -> int:
    """Extend the lease of the rows `owner` still works on; returns how many are still its own."""
    return _update_owned(session, ids, owner, available_at=until)


def _update_owned(session: Session, ids: Iterable[int], owner: str, **values) -> int:
    """Update the rows of `ids` that `owner` still holds, in chunks (bound-parameter limits);
    returns how many it held."""
    ids = sorted(ids)
    updated = 0
    for start in range(0, len(ids), 500):
        result = session.execute(update(Delivery).where(*_owned(ids[start : start + 500], owner)).values(**values)
                                 .execution_options(synchronize_session=False))
        updated += result.rowcount
    return updated


def pending_count(session: Session, platform: str | None = None) -> int:
    from sqlalchemy import func

    query = select(func.count()).select_from(Delivery).where(Delivery.status.in_(("pending", "sending")))
    if platform:
        query = query.where(Delivery.platform == platform)
    return session.scalar(query) or 0


def sent_refs(session: Session, keys: list[str]) -> dict[str, str]:
    """The platform refs of sent deliveries, by key (for messages that redraw them)."""
    if not keys:
        return {}
    rows = session.execute(select(Delivery.idempotency_key, Delivery.platform_ref).where(
        Delivery.idempotency_key.in_(sorted(set(keys))), Delivery.status == "sent",
        Delivery.platform_ref.is_not(None)))
    return {key: ref for key, ref in rows}
