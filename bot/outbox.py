"""The outbox: deliveries recorded in the same transaction as the state change that caused them.

An idempotency key (e.g. "step:12:buddy-1:participant:40") makes recording the same delivery twice a
no-op, so a step that runs again, a retried event or a second replica cannot send a message twice.
The delivery worker (scheduler/delivery.py) claims due rows, sends them and marks each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db import insert_for
from bot.messages import Message, Recipient
from bot.models import Delivery

# A claimed row whose worker died is offered again after this long.
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


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    key: str
    recipient: Recipient
    message: Message
    attempts: int


def claim(session: Session, platform: str, now: datetime, limit: int) -> list[ClaimedDelivery]:
    """Take up to `limit` due deliveries for one platform; other workers skip the rows taken."""
    due = (
        select(Delivery)
        .where(
            Delivery.platform == platform,
            Delivery.status.in_(("pending", "sending")),
            Delivery.available_at <= now,
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = session.scalars(due).all()
    if not rows:
        return []
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_([r.id for r in rows]))
        .values(status="sending", attempts=Delivery.attempts + 1, available_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    return [
        ClaimedDelivery(
            id=r.id,
            key=r.idempotency_key,
            recipient=Recipient.from_dict(r.recipient),
            message=Message.from_dict(r.message),
            attempts=r.attempts + 1,
        )
        for r in rows
    ]


def mark_sent(session: Session, sent: dict[int, str], now: datetime) -> None:
    """Mark deliveries sent; `sent` maps delivery id to the platform's message reference."""
    if not sent:
        return
    # One executemany by primary key rather than a statement per delivery.
    session.execute(
        update(Delivery),
        [
            {"id": delivery_id, "status": "sent", "sent_at": now, "platform_ref": ref or None, "last_error": None}
            for delivery_id, ref in sent.items()
        ],
    )


def mark_retry(session: Session, delivery_id: int, error: str, retry_at: datetime) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(status="pending", available_at=retry_at, last_error=error[:2000])
    )


def mark_final(session: Session, delivery_id: int, status: str, error: str) -> None:
    """End a delivery that will never be sent: 'failed' or 'unreachable'."""
    session.execute(
        update(Delivery).where(Delivery.id == delivery_id).values(status=status, last_error=error[:2000])
    )


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
