"""Storage on both databases: migrations, the outbox's exactly-once rules, step runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from bot import migrate, outbox
from bot.events import Address
from bot.messages import Choice, Message, Recipient
from bot.models import Base, Delivery
from harness import make_harness

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc)


def _item(key: str, user: str = "u1") -> outbox.Outgoing:
    return outbox.Outgoing(key=key, recipient=Recipient.person(Address("fake", "T1", user)),
                           message=Message("hello", choices=(Choice("Yes", "group:rsvp", "1:yes"),), intent="t"))


def test_migrations_reach_head_and_match_the_models(database):
    assert migrate.is_up_to_date(database.engine)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Base.metadata)
                       if not (d[0] == "remove_table" and d[1].name == "apscheduler_jobs")]
    assert differences == []


def test_recording_the_same_delivery_twice_keeps_one(database):
    with database.session() as session:
        assert outbox.record(session, [_item("k1"), _item("k2")], NOW) == 2
    with database.session() as session:
        assert outbox.record(session, [_item("k1"), _item("k3")], NOW) == 1
        assert session.scalar(select(func.count()).select_from(Delivery)) == 3


def test_messages_round_trip_through_the_outbox(database):
    with database.session() as session:
        outbox.record(session, [_item("k1")], NOW)
    with database.session() as session:
        claimed = outbox.claim(session, "fake", NOW, 10)
    assert claimed[0].message == _item("k1").message
    assert claimed[0].recipient == _item("k1").recipient


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(database):
    with database.session() as session:
        outbox.record(session, [_item(f"k{n}") for n in range(5)], NOW)
    with database.session() as session:
        first = outbox.claim(session, "fake", NOW, 3)
    with database.session() as session:
        second = outbox.claim(session, "fake", NOW, 10)
    assert len(first) == 3 and len(second) == 2
    assert not {d.id for d in first} & {d.id for d in second}
    with database.session() as session:
        outbox.mark_sent(session, {d.id: "ref" for d in second}, NOW)
    with database.session() as session:
        assert outbox.claim(session, "fake", NOW + timedelta(minutes=1), 10) == []
        # The worker that took the first three died: after the lease they are offered again.
        again = outbox.claim(session, "fake", NOW + outbox.CLAIM_LEASE + timedelta(seconds=1), 10)
    assert {d.id for d in again} == {d.id for d in first}
    assert all(d.attempts == 2 for d in again)


def test_a_step_fans_out_once_even_when_run_twice(database_url):
    h = make_harness(database_url)
    assert h.run_step("launch-workshop") == 2
    assert h.run_step("launch-workshop") is None
    with h.db.session() as session:
        intents = sorted(session.scalars(select(Delivery.intent)))
        # Two invitations; the staff's digest comes when the workshop is over (a wake-up), not now.
        assert intents == ["group_meeting", "group_meeting"]
    h.db.dispose()


def test_a_paused_cohort_runs_no_steps(database_url):
    from bot.models import Cohort

    h = make_harness(database_url)
    with h.db.session() as session:
        session.get(Cohort, h.cohort_id).status = "paused"
    assert h.run_step("launch-workshop") is None
    assert h.sender.sent == []
    h.db.dispose()
