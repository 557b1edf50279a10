"""The APScheduler timeline on its SQLAlchemy job store: stable jobs, missed steps after a restart run
once, nothing is sent twice, and pausing a cohort pauses its jobs."""

from __future__ import annotations

import time
from datetime import date

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from bot.models import Delivery, StepRun
from bot.programme import default_programme
from harness import START, TZ, make_harness
from scheduler.timeline import Timeline, step_job_id


def _start_timeline(h) -> Timeline:
    timeline = Timeline(h.core, BackgroundScheduler(timezone="UTC"))
    timeline.start()
    return timeline


def _wait_for_steps(h, count: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with h.db.session() as s:
            done = s.scalar(select(func.count()).select_from(StepRun).where(StepRun.cohort_id == h.cohort_id))
        if done >= count:
            return done
        time.sleep(0.05)
    return done


def _deliveries(h) -> int:
    with h.db.session() as s:
        return s.scalar(select(func.count()).select_from(Delivery))


def test_restart_runs_missed_steps_once_and_never_twice(database_url):
    h = make_harness(database_url)
    programme = default_programme()
    timeline = _start_timeline(h)
    job_ids = {job_id for job_id, _ in timeline.next_runs()}
    assert {step_job_id(h.cohort_id, s.id) for s in programme.steps} <= job_ids
    assert _wait_for_steps(h, 1, timeout=0.5) == 0  # nothing is due yet
    timeline.shutdown()

    # The bot is down while the first two steps (enrolment, pairs announced) fall due; pairs are
    # announced on Tue 29 Dec 2026, since the Monday is Boxing Day's substitute day.
    h.clock.set(dict((s.id, due) for due, s in programme.timeline(START, TZ, "England"))["pairs-announced"])
    h.clock.advance(hours=2)
    timeline = _start_timeline(h)
    assert _wait_for_steps(h, 2) == 2
    time.sleep(0.3)
    first = _deliveries(h)
    assert first == 3  # an availability question to each member, one intro to the pair
    timeline.shutdown()

    # Start again, and again: the steps that ran are gone from the store, the rest are not doubled.
    for _ in range(2):
        timeline = _start_timeline(h)
        time.sleep(0.5)
        remaining = [job_id for job_id, _ in timeline.next_runs()]
        assert len(remaining) == len(set(remaining)) == len(job_ids) - 2
        timeline.shutdown()
    assert _deliveries(h) == first
    with h.db.session() as s:
        assert s.scalar(select(func.count()).select_from(StepRun)) == 2
    h.db.dispose()


def test_pausing_a_cohort_pauses_its_jobs_and_resuming_rearms_them(sqlite_url):
    h = make_harness(sqlite_url)
    timeline = _start_timeline(h)
    try:
        timeline.pause_cohort(h.cohort_id)
        assert all(run is None for _, run in timeline.next_runs())
        timeline.resume_cohort(h.cohort_id)
        assert all(run is not None for job_id, run in timeline.next_runs() if job_id.startswith("cohort:"))
    finally:
        timeline.shutdown()


def test_a_booked_meeting_check_is_rearmed_after_a_restart(sqlite_url):
    h = make_harness(sqlite_url)
    h.run_step("buddy-meeting-1")
    offer = h.last("ben")
    slot = next(c for c in offer.choices if c.action == "meeting:slot")
    h.click("ben", slot.label)
    # The check was handed to no timeline (none running); a restart must find it from the database.
    wakeup = h.core.pending_wakeups()[0]
    h.clock.set(wakeup.at)
    h.clock.advance(minutes=5)
    timeline = _start_timeline(h)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(m.intent == "did_you_meet" for _, m in h.sender.sent):
            h.deliver()
            time.sleep(0.05)
        assert any(m.intent == "did_you_meet" for _, m in h.sender.sent)
    finally:
        timeline.shutdown()


def test_the_weekly_digest_goes_at_eight_local_time_on_mondays_across_the_clock_change(sqlite_url):
    """Europe/London moves to BST on the last Sunday of March: the Monday digest before it is 08:00
    UTC, the one after it 07:00 UTC, both 08:00 on the facilitators' clocks."""
    from datetime import datetime, timezone

    from bot.clock import VirtualClock
    from bot.core import Pairbot
    from bot.models import Cohort
    from scheduler.timeline import digest_job_id
    from scheduler.virtual import VirtualScheduler

    h = make_harness(sqlite_url)
    with h.db.session() as s:
        s.get(Cohort, h.cohort_id).start_date = date(2027, 3, 15)  # a Monday, two weeks before the change
    clock = VirtualClock(datetime(2027, 3, 20, 12, 0, tzinfo=timezone.utc))
    core = Pairbot(h.db, clock, h.core.capabilities)
    scheduler = VirtualScheduler(clock)
    timeline = Timeline(core, scheduler)
    timeline.start()
    sent_at = []
    for expected in (datetime(2027, 3, 22, 8, 0, tzinfo=timezone.utc), datetime(2027, 3, 29, 7, 0, tzinfo=timezone.utc),
                     datetime(2027, 4, 5, 7, 0, tzinfo=timezone.utc)):
        assert dict(timeline.next_runs())[digest_job_id(h.cohort_id)] == expected
        clock.advance_to(expected)
        before = _digests(h)
        scheduler.run_due()
        assert _digests(h) > before
        sent_at.append(expected.astimezone(TZ).strftime("%a %H:%M"))
    assert sent_at == ["Mon 08:00"] * 3
    assert scheduler.errors == []
    timeline.shutdown()


def _digests(h) -> int:
    with h.db.session() as s:
        return s.scalar(select(func.count()).select_from(Delivery).where(Delivery.intent == "digest"))


def test_steps_on_the_organisations_bank_holidays_are_armed_for_the_next_working_day(sqlite_url):
    """The harness's cohort starts Mon 4 Jan 2027: pairs are announced on Mon 28 Dec 2026 (Boxing
    Day's substitute day everywhere), the launch invitation on Mon 4 Jan (a bank holiday in
    Scotland only), buddy meeting 4 on Mon 29 Mar (Easter Monday, not one in Scotland). The
    cohort's snapshot says nothing of nations: the organisation's is read when the jobs are armed."""
    from datetime import datetime, timezone

    from bot.models import Cohort, Organisation

    from bot.clock import VirtualClock
    from bot.core import Pairbot
    from scheduler.virtual import VirtualScheduler

    h = make_harness(sqlite_url)
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))

    def armed() -> dict[str, datetime]:
        timeline = Timeline(Pairbot(h.db, clock, h.core.capabilities), VirtualScheduler(clock))
        timeline.start()
        try:
            runs = dict(timeline.next_runs())
        finally:
            timeline.shutdown()
        return {step: runs[step_job_id(h.cohort_id, step)].astimezone(TZ).replace(tzinfo=None)
                for step in ("pairs-announced", "launch-workshop", "buddy-meeting-4", "buddy-meeting-1")}

    assert armed() == {"pairs-announced": datetime(2026, 12, 29, 9, 30), "launch-workshop": datetime(2027, 1, 4, 9, 0),
                       "buddy-meeting-4": datetime(2027, 3, 30, 9, 30), "buddy-meeting-1": datetime(2027, 1, 11, 9, 30)}
    with h.db.session() as s:
        s.get(Organisation, s.get(Cohort, h.cohort_id).organisation_id).nation = "Scotland"
    assert armed() == {"pairs-announced": datetime(2026, 12, 29, 9, 30), "launch-workshop": datetime(2027, 1, 5, 9, 0),
                       "buddy-meeting-4": datetime(2027, 3, 29, 9, 30), "buddy-meeting-1": datetime(2027, 1, 11, 9, 30)}
    # The launch workshop itself (Thu 7 Jan) is a working day in both: its meeting keeps that time.
    h.clock.set(datetime(2027, 1, 5, 9, 0, tzinfo=timezone.utc))
    assert h.core.run_step(h.cohort_id, "launch-workshop") == 2
    h.deliver()
    assert "Launch workshop: Thu 7 Jan, 13:00" in h.last("asha").text
