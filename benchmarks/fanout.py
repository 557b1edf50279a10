"""Fan-out benchmark: one programme step for a cohort of 10,000 participants, through the outbox,
to a recording adapter with no platform latency.

    python benchmarks/fanout.py [--participants 10000] [--database URL] [--batch 500]

Timed: the step's job (every invitation recorded in the outbox in one transaction) plus the
delivery worker draining the outbox. Not timed: creating the cohort. Peak memory is the process's
maximum resident set size. The last line carries the figures.
Targets (issue 2): over 2,000 messages per second, under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import enrolment, migrate, outbox  # noqa: E402
from bot.capabilities import GROUP_CONVERSATION, Capabilities  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.core import Pairbot  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.events import Address  # noqa: E402
from bot.messages import Message, Recipient  # noqa: E402
from bot.programme import default_programme  # noqa: E402
from bot.sending import Sent  # noqa: E402
from scheduler.delivery import DeliveryWorker  # noqa: E402

PLATFORM = "bench"
START = date(2027, 1, 4)
STEP = "group-meeting-2"  # each member gets an invitation with an RSVP


class RecordingAdapter:
    platform = PLATFORM
    seconds_between_sends = 0.0

    def __init__(self) -> None:
        self.count = 0
        self.users: set[str] = set()

    def pacing_key(self, recipient: Recipient) -> str:
        return recipient.members[0].key()

    async def send(self, recipient: Recipient, message: Message, key: str = "") -> Sent:
        self.count += 1
        self.users.add(recipient.members[0].user)
        return Sent(ref=str(self.count))


def build_cohort(db: Database, participants: int, now: datetime) -> int:
    programme = default_programme()
    with db.session() as session:
        org = enrolment.organisation(session, PLATFORM, "T1", "Benchmark Trust", now)
        cohort = enrolment.create_cohort(session, org, "Benchmark", START, programme, "Europe/London", now)
        members = []
        for n in range(participants):
            role = "clinician" if n % 2 == 0 else "manager"
            members.append(enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                address=Address(PLATFORM, "T1", f"U{n:06d}"), name=f"Person {n}", role=role), now))
            if len(members) == 2:
                enrolment.make_pair(session, cohort, members, now)
                members = []
        cohort.status = "running"
        return cohort.id


@contextmanager
def scratch_database(url: str | None, folder: str) -> Iterator[str]:
    """A new SQLite file, or a throwaway schema in the given PostgreSQL database."""
    if url is None:
        yield f"sqlite:///{os.path.join(folder, 'fanout.sqlite')}"
        return
    if make_url(url).get_backend_name() != "postgresql":
        raise SystemExit("--database: give a PostgreSQL URL (SQLite is the default)")
    schema = f"pairbot_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="deliveries the worker claims at a time")
    parser.add_argument("--database", help="SQLAlchemy URL (default: a new SQLite file in a temp folder)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder, scratch_database(args.database, folder) as url:
        db = Database(url)
        migrate.upgrade(db.engine)
        due = default_programme().step(STEP).due_at(START, ZoneInfo("Europe/London"))
        clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))

        t0 = time.perf_counter()
        cohort_id = build_cohort(db, args.participants, clock.now())
        print(f"cohort of {args.participants} participants created in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)

        clock.set(due)
        core = Pairbot(db, clock, Capabilities({PLATFORM: frozenset({GROUP_CONVERSATION})}))
        adapter = RecordingAdapter()
        worker = DeliveryWorker(core, adapter, batch_size=args.batch)

        t1 = time.perf_counter()
        recorded = core.run_step(cohort_id, STEP)
        t2 = time.perf_counter()
        delivered = asyncio.run(worker.drain())
        t3 = time.perf_counter()

        with db.session() as session:
            left = outbox.pending_count(session, PLATFORM)
        db.engine.dispose()

    problems = []
    if recorded != args.participants:
        problems.append(f"step reached {recorded} participants, expected {args.participants}")
    if adapter.count != args.participants or len(adapter.users) != args.participants:
        problems.append(f"adapter got {adapter.count} messages for {len(adapter.users)} people")
    if left:
        problems.append(f"{left} deliveries still pending")
    for problem in problems:
        print("FAILED:", problem, file=sys.stderr)

    total = t3 - t1
    print(f"record {recorded} deliveries: {t2 - t1:.2f} s; send {delivered}: {t3 - t2:.2f} s", file=sys.stderr)
    print(f"fanout: {adapter.count} messages in {total:.2f} s = {adapter.count / total:,.0f} messages/s; "
          f"peak memory {peak_rss_mb():.0f} MB (RSS)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
