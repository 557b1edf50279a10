"""Whole cohorts through the whole default programme, on the virtual clock, with people who behave
like people: late, typing instead of clicking, tapping twice, tapping old buttons, ignoring
questions, answering again on a second device, talking in the pair's chat; pairs, trios and fours,
a quiet pair, a night worker and a leaver. After each run the invariants hold, counted from the
database.

Half the runs are on a platform with forms (as Slack and Teams are: a survey is one form), half
one question at a time in chat (the console), where typed answers can go astray.

The runs are split into SHARDS test functions, each with its own seed, so that pytest-xdist spreads
them over the machine's CPUs. PAIRBOT_SIM_EXAMPLES (default 200) is the number of runs in all; a
run takes 1 to 4 s of CPU (2.3 s on average), and with 200 the whole suite takes about 7 minutes on
two CPUs. Run more by hand with `PAIRBOT_SIM_EXAMPLES=1000 pytest tests/test_cohort_properties.py`."""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from adapters.console.simulation import GROUP_CHAT, Habits, SimulatedPerson, simulate
from bot import integrity, migrate
from bot.bank_holidays import is_bank_holiday
from bot.db import Database
from bot.messages import Message, Recipient
from bot.models import Delivery, Meeting, Reflection, SurveyResponse
from test_every_message import Seen

LONDON = ZoneInfo("Europe/London")
EXAMPLES = int(os.environ.get("PAIRBOT_SIM_EXAMPLES", "200"))
SHARDS = 20
# What only its author may see: never sent to a group conversation.
PRIVATE_INTENTS = {"reflect", "survey_question", "survey_reminder", "pre_survey", "post_survey", "pulse",
                   "fit_check", "follow_up", "answers"}
AVAILABILITY = [
    "Mon 12:00-14:00, Wed 17:00-19:00, Fri 12:00-13:30",
    "Mon 12:30-15:00, Wed 16:00-18:00, Thu 09:00-11:00, Fri 12:00-14:00",
    "Tue 14:00-16:00, Thu 14:00-16:00",
    "Tue 13:00-17:00, Thu 13:00-17:00",
    "Mon 08:00-09:30, Thu 18:00-20:00",
    "Wed 11:00-14:00, Fri 09:00-12:00",
    "Tue 20:00-23:00, Sat 21:00-23:30",  # a night worker's evenings before a shift
]
# As people type them after 'rota' (the simulated programme starts on Mon 3 Mar 2025).
ROTAS = [
    "nights 1 in 3 from 3 Mar",
    "long days 1 in 2 from 10 Mar, leave 14-25 Apr",
    "nights Fri-Sun 21:00-09:00 1 in 4 from 7 Mar, rotate 2 Jun",
]
NAMES = ["Dr Asha Patel", "Ben Okafor", "Nurse Carys Jones", "Dan Murphy", "Dr Ewa Nowak", "Farah Ali",
         "Gareth Hughes", "Hannah Smith", "Dr Imran Shah", "Jo Williams", "Kemi Adeyemi", "Liam Brown"]

habits = st.builds(
    Habits,
    late=st.booleans(),
    types=st.sampled_from([0.0, 0.0, 0.4, 0.9]),
    double_taps=st.sampled_from([0.0, 0.0, 0.3]),
    two_devices=st.sampled_from([0.0, 0.0, 0.2]),
    stale_buttons=st.sampled_from([0.0, 0.0, 0.2]),
    ignores=st.sampled_from([0.0, 0.0, 0.2]),
    chats_in_group=st.sampled_from([0.0, 0.3]),
    nonsense_first=st.booleans(),
)


@st.composite
def cohorts(draw):
    """People and their groups: 1 to 3 groups of 2 to 4, each with a clinician and a manager; maybe
    a quiet group, a night worker and someone who leaves mid-programme."""
    sizes = draw(st.lists(st.sampled_from([2, 2, 3, 4]), min_size=1, max_size=3))
    quiet_group = draw(st.one_of(st.none(), st.integers(0, len(sizes) - 1)))
    people, groups = [], []
    for g, size in enumerate(sizes):
        members = []
        for k in range(size):
            index = len(people)
            role = ("clinician", "manager")[k] if k < 2 else draw(st.sampled_from(["clinician", "manager", "other"]))
            person_habits = draw(habits)
            if g == quiet_group:
                person_habits = Habits(quiet_until_nudged=True, late=person_habits.late)
            availability = draw(st.sampled_from(AVAILABILITY))
            night = availability == AVAILABILITY[-1]
            shifts = draw(st.sampled_from(ROTAS)) if night else draw(st.sampled_from(["", "", "", ROTAS[1]]))
            people.append(SimulatedPerson(NAMES[index % len(NAMES)] + ("" if index < len(NAMES) else " II"), role,
                                          availability, habits=person_habits,
                                          quiet_hours="08:00-16:00" if night else "", rota=shifts))
            members.append(index)
        groups.append(members)
    leaver = draw(st.one_of(st.none(), st.integers(0, len(people) - 1)))
    coordinator = [(timedelta(weeks=draw(st.integers(3, 10))), f"remove u{leaver + 1:02d}@sim.example")] \
        if leaver is not None else []
    return people, groups, coordinator


def _whole_cohorts(shard: int):
    """One shard of the runs: its own fixed seed, so every shard draws other cohorts and a run is
    repeatable. No shrinking: each example is a whole programme, and the failing one is printed
    as it is."""
    @seed(shard)
    @settings(max_examples=max(1, -(-EXAMPLES // SHARDS)), deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(cohort=cohorts(), run_seed=st.integers(0, 2**16), forms=st.booleans())
    def test(cohort, run_seed, forms):
        _run(cohort, run_seed, forms)

    test.__name__ = test.__qualname__ = f"test_whole_cohorts_keep_every_invariant_{shard}"
    return test


for _shard in range(SHARDS):
    globals()[f"test_whole_cohorts_keep_every_invariant_{_shard}"] = _whole_cohorts(_shard)


def _run(cohort, run_seed: int, forms: bool) -> None:
    people, groups, coordinator = cohort
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "cohort.sqlite")
        shutil.copyfile(_migrated_database(), path)
        url = f"sqlite:///{path}"
        result = simulate(url, people, groups, seed=run_seed, coordinator=coordinator, forms=forms)
        db = Database(url)
        try:
            _check(result, db)
        finally:
            db.dispose()


@functools.cache
def _migrated_database() -> str:
    """An empty database at the newest schema, made once per test process and copied for each run
    (migrating took a tenth of a run)."""
    folder = tempfile.mkdtemp(prefix="pairbot-sim-schema-")
    atexit.register(shutil.rmtree, folder, True)
    path = os.path.join(folder, "schema.sqlite")
    db = Database(f"sqlite:///{path}")
    try:
        migrate.upgrade(db.engine)
    finally:
        db.dispose()
    return path


def _check(result, db: Database) -> None:
    counts = result.integrity
    assert result.job_errors == []
    # Every typed answer went to the question it was meant for, or was kept and the person told.
    assert (counts.typed_misrouted, counts.typed_lost) == (0, 0), _context(result, db)
    # At most one booking per pair per meeting, and nobody booked twice at once.
    assert counts.double_bookings == 0 and counts.clashing_bookings == 0, _context(result)
    # Nothing offered or booked in anyone's shift, leave or rest after nights.
    assert counts.slots_in_rota == 0, _context(result)
    # No nudge to a pair that had met or booked within its window, or after the programme.
    assert counts.nudges_sent == counts.nudges_deserved, _context(result)
    # Nothing about an event after it, nothing long after it was due.
    assert counts.sent_after_event == 0 and counts.sent_long_after_due == 0, _context(result)
    with db.session() as session:
        deliveries = list(session.scalars(select(Delivery).where(Delivery.cohort_id == result.cohort_id)))
        # Every placeholder filled, every text reads right.
        seen = Seen()
        for delivery in deliveries:
            seen.add(delivery.intent, Message.from_dict(delivery.message))
        assert seen.problems() == []
        # A digest's "done/all" figures never read more done than there are.
        for delivery in deliveries:
            if delivery.intent == "digest":
                text = delivery.message["text"]
                assert all(int(done) <= int(of) for done, of in re.findall(r"\b(\d+)/(\d+)\b", text)), text
        # Nothing private in a group conversation; nothing said in the group saved as private.
        for delivery in deliveries:
            if Recipient.from_dict(delivery.recipient).group:
                assert delivery.intent not in PRIVATE_INTENTS, delivery.message["text"]
        assert not [r.text for r in session.scalars(select(Reflection)) if r.text in GROUP_CHAT]
        assert not [a.text for a in session.scalars(select(SurveyResponse)) if a.text in GROUP_CHAT]
        # One live arrangement per pair per kind of meeting (the database holds this too).
        live = [(m.pair_id, m.kind, m.direction) for m in session.scalars(select(Meeting).where(
            Meeting.status.in_(("proposed", "agreed", "unscheduled")), Meeting.kind != "group"))]
        assert len(live) == len(set(live))
        # No slot offered or booked on a bank holiday (the simulated organisation follows England's).
        on_holidays = [(m.id, when) for m in session.scalars(select(Meeting).where(Meeting.kind != "group"))
                       for when in [*m.slots, *([m.agreed_at.isoformat()] if m.agreed_at else [])]
                       if is_bank_holiday(datetime.fromisoformat(when).astimezone(LONDON).date(), "England")]
        assert on_holidays == [], _context(result)


def _context(result, db: Database | None = None) -> str:
    """What a failure shows: the integrity counts, and each typed answer that went astray with
    the transcript around it."""
    lines = [result.integrity.render()]
    if os.environ.get("PAIRBOT_SIM_TRANSCRIPT"):  # the whole run, to read by hand
        with open(os.environ["PAIRBOT_SIM_TRANSCRIPT"], "w", encoding="utf-8") as out:
            out.write("\n".join(result.transcript))
    if db is not None:
        with db.session() as session:
            for answer, outcome, where in integrity.typed_outcomes(session, result.cohort_id, result.typed):
                if outcome not in ("fine", "kept"):
                    stamp = answer.at.strftime("%H:%M")
                    lines.append(f"{outcome}: {answer.who.user} at {answer.at:%a %d %b %H:%M} meant "
                                 f"{answer.flow}:{answer.ref_id}:{answer.subject}, touched {where}")
                    at = next((i for i, line in enumerate(result.transcript) if line.startswith(stamp)), None)
                    if at is not None:
                        lines += result.transcript[max(0, at - 12):at + 3]
    return "\n".join(lines)
