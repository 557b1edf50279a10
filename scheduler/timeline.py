"""The programme timeline on APScheduler 3: jobs rebuilt from the database, run only by the leader.

The database is the source of truth: cohorts (status, start date, programme snapshot), step_runs
and the rows wake-ups are derived from (core.pending_wakeups()). The jobs live in a MemoryJobStore,
so replicas never share a job store: the replica that leads (scheduler/leader.py) rebuilds them
when it takes the lead, follows changes made anywhere (bot/timeline_changes.py), and resyncs now
and then so any step not in step_runs whose time has come is armed again. A replica that does not
lead has no jobs and its scheduler is paused.

One job per (cohort, step) with a stable id. Jobs are armed at the wall-clock time the clock maps
each step to; a step that fell due while nobody led has a run time in the past and runs at once,
and its StepRun row makes sure it fans out only once.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from sqlalchemy import select

from bot.context import Wakeup
from bot.core import Pairbot
from bot.health import Backoff, Health
from bot.metrics import Metrics
from bot.models import Cohort, StepRun
from bot.context import nation_of
from bot.programme import Programme
from bot.timeline_changes import Change
from scheduler.jobs import (
    TimelineJobs, digest_job_id, quiet_job_id, step_job_id, wakeup_job_id,
)

__all__ = ["Timeline", "step_job_id", "quiet_job_id", "digest_job_id", "wakeup_job_id", "next_digest_at"]

log = logging.getLogger(__name__)
JOBSTORE = "programme"
QUIET_SWEEP_EVERY = timedelta(days=1)
DIGEST_DAY = 0  # Monday
DIGEST_AT = time(8, 0)
# A digest missed by less than this (a restart, a takeover) still goes; its outbox key keeps it single.
DIGEST_CATCH_UP = timedelta(hours=12)
# At demo speeds a programme day is a few milliseconds; sweeping faster than this only burns CPU.
MIN_SWEEP_SECONDS = 0.25


def next_digest_at(start: date, tz: ZoneInfo, after: datetime, inclusive: bool = False) -> datetime:
    """The facilitators' digest time: Mondays at 08:00 in the cohort's zone (whatever its UTC offset
    that week), from the first Monday on or after the start; the first at (inclusive) or after `after`."""
    monday = start + timedelta(days=(DIGEST_DAY - start.weekday()) % 7)
    weeks = max(0, (after.astimezone(tz).date() - monday).days // 7 - 1)
    while True:
        at = datetime.combine(monday + timedelta(weeks=weeks), DIGEST_AT, tzinfo=tz)
        if at > after or (inclusive and at == after):
            return at
        weeks += 1


class Timeline:
    def __init__(self, core: Pairbot, scheduler: BaseScheduler, health: Health | None = None,
                 metrics: Metrics | None = None):
        self.core = core
        self.clock = core.clock
        self.scheduler = scheduler
        self.health = health or Health()
        self.metrics = metrics or Metrics()
        self.scheduler.add_jobstore(MemoryJobStore(), JOBSTORE)
        # One backoff for the timeline's database work: jobs, resyncs and leadership.
        self.backoff = Backoff(self.health, "timeline", log)
        self.jobs = TimelineJobs(core, self.backoff, self.metrics, self.retry, self.arm_next_digest)
        self.leading = False
        # Arming reads the database; leading and following must not interleave with it.
        self._arming = threading.RLock()
        core.wakeups = self

    # --- life cycle ------------------------------------------------------------------------------
    def start(self, lead: bool = True) -> None:
        """Start the scheduler paused; with `lead`, take the lead at once (one process, a test)."""
        self.scheduler.start(paused=True)
        if lead:
            self.lead()

    def lead(self) -> None:
        """This replica runs the timeline: every job is rebuilt from the database, then jobs fire.
        Raises if the database cannot be read (the caller tries again; the lead is kept)."""
        with self._arming:
            self.scheduler.remove_all_jobs(JOBSTORE)
            if not self.leading:
                log.info("this replica leads the programme timeline")
            self.leading = True
            self.metrics.leader.set(1)
            try:
                self.resync()
            finally:
                self.scheduler.resume()

    def follow(self) -> None:
        """Stop running the timeline at once (the lead is lost or given up). Does not block: the
        jobs are dropped by `disarm`, which waits for a resync in flight."""
        was = self.leading
        self.leading = False
        self.metrics.leader.set(0)
        if self.scheduler.state != STATE_STOPPED:
            self.scheduler.pause()
        if was:
            log.info("this replica has stopped leading the programme timeline")

    def disarm(self) -> None:
        with self._arming:
            if not self.leading and self.scheduler.state != STATE_STOPPED:
                self.scheduler.remove_all_jobs(JOBSTORE)

    def shutdown(self, wait: bool = True) -> None:
        self.follow()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    async def stop(self, grace_seconds: float = 2.0) -> None:
        """Stop firing jobs, let running ones finish (up to the grace period), then shut down."""
        import asyncio

        self.follow()
        if not self.scheduler.running:
            return
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while _running_jobs(self.scheduler) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        self.scheduler.shutdown(wait=False)

    def resync(self, missing_only: bool = False) -> None:
        """Re-arm every job from the database: running cohorts' remaining steps and pending wake-ups.
        `missing_only` (the leader's periodic check) arms only what is missing, so a job waiting to
        retry keeps its backoff; it also drops the jobs of cohorts no longer running."""
        with self._arming:
            if not self.leading:
                return
            with self.core.db.session() as session:
                cohorts = dict(session.execute(select(Cohort.id, Cohort.status).where(
                    Cohort.status.in_(("running", "paused")))).all())
            for cohort_id, status in cohorts.items():
                self.schedule_cohort(cohort_id, missing_only=missing_only)
                if status == "paused" and not missing_only:
                    self.pause_cohort(cohort_id)
            if missing_only:
                for job_id in self._job_ids():
                    owner = _cohort_of(job_id)
                    if owner is not None and owner not in cohorts:
                        self._remove(job_id)
                return
            for wakeup in self.core.pending_wakeups():
                self.schedule(wakeup)

    def apply(self, change: Change) -> None:
        """A change made elsewhere (another replica, the console) reaches this timeline."""
        if change.cohort_id is not None:
            self.cohort_changed(change.cohort_id)
        if change.wakeup is not None:
            self.schedule(change.wakeup)

    # --- cohorts ---------------------------------------------------------------------------------
    def schedule_cohort(self, cohort_id: int, missing_only: bool = False) -> int:
        """Arm one job per step that has not run yet; returns how many are armed."""
        with self._arming:
            if not self.leading:
                return 0
            with self.core.db.session() as session:
                cohort = session.get(Cohort, cohort_id)
                if cohort is None:
                    return 0
                done = set(session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort_id)))
                programme = Programme.from_dict(cohort.programme)
                tz = ZoneInfo(cohort.timezone)
                start, paused = cohort.start_date, cohort.status == "paused"
                # Steps on its organisation's bank holidays go on the next working day; the nation
                # is read here, not kept in the snapshot, so cohorts stored before it still load.
                nation = nation_of(session, cohort.organisation_id, self.core.options.nation)
            present = set(self._job_ids()) | self.jobs.running() if missing_only else set()
            armed = 0
            for due, step in programme.timeline(start, tz, nation):
                job_id = step_job_id(cohort_id, step.id)
                if step.id in done:
                    self._remove(job_id)
                    continue
                if job_id in present:
                    continue
                self._add(job_id, self.jobs.run_step, "date", [cohort_id, step.id],
                          run_date=self.clock.wall_time_for(due), name=f"{step.intent} (week {step.week})")
                armed += 1
            if quiet_job_id(cohort_id) not in present:
                self._add(quiet_job_id(cohort_id), self.jobs.sweep_quiet_pairs, "interval", [cohort_id],
                          seconds=max(self.clock.wall_seconds(QUIET_SWEEP_EVERY.total_seconds()), MIN_SWEEP_SECONDS),
                          max_instances=1)
            if digest_job_id(cohort_id) not in present:
                at = next_digest_at(start, tz, self.clock.now() - DIGEST_CATCH_UP, inclusive=True)
                self._arm_digest(cohort_id, at)
            if missing_only and paused:
                for job_id in set(self._job_ids()) - present:
                    if job_id.startswith(f"cohort:{cohort_id}:"):
                        self.scheduler.pause_job(job_id, jobstore=JOBSTORE)
            return armed

    def arm_next_digest(self, cohort_id: int) -> None:
        """After a weekly digest: the next one, next Monday 08:00 in the cohort's zone."""
        with self._arming:
            if not self.leading:
                return
            with self.core.db.session() as session:
                cohort = session.get(Cohort, cohort_id)
                if cohort is None or cohort.status not in ("running", "paused"):
                    return
                start, tz = cohort.start_date, ZoneInfo(cohort.timezone)
            self._arm_digest(cohort_id, next_digest_at(start, tz, self.clock.now()))

    def _arm_digest(self, cohort_id: int, at: datetime) -> None:
        self._add(digest_job_id(cohort_id), self.jobs.send_weekly_digest, "date", [cohort_id],
                  run_date=self.clock.wall_time_for(at), max_instances=1)

    def cohort_job_ids(self, cohort_id: int) -> list[str]:
        prefix = f"cohort:{cohort_id}:"
        return [job_id for job_id in self._job_ids() if job_id.startswith(prefix)]

    def pause_cohort(self, cohort_id: int) -> None:
        for job_id in self.cohort_job_ids(cohort_id):
            self.scheduler.pause_job(job_id, jobstore=JOBSTORE)

    def cohort_changed(self, cohort_id: int) -> None:
        """A coordinator started, paused, resumed or shifted a cohort: its jobs follow its status."""
        with self._arming:
            if not self.leading:
                return  # the leader hears of it from the database
            with self.core.db.session() as session:
                cohort = session.get(Cohort, cohort_id)
                status = cohort.status if cohort is not None else None
            if status in ("running", "paused"):
                self.schedule_cohort(cohort_id)  # recomputes run times from the (maybe shifted) start date
                if status == "paused":
                    self.pause_cohort(cohort_id)
            else:
                for job_id in self.cohort_job_ids(cohort_id):
                    self._remove(job_id)

    def resume_cohort(self, cohort_id: int) -> None:
        # Re-arming recomputes run times, so steps that fell due during the pause run once now.
        self.schedule_cohort(cohort_id)

    # --- wake-ups (the core's WakeupScheduler) -----------------------------------------------------
    def schedule(self, wakeup: Wakeup) -> None:
        with self._arming:
            if not self.leading:
                return
            self._add(wakeup_job_id(wakeup), self.jobs.run_wakeup, "date", [wakeup.job, wakeup.ref_id],
                      run_date=self.clock.wall_time_for(wakeup.at))

    # --- failures --------------------------------------------------------------------------------
    def retry(self, job_id: str, func, args: list, seconds: float) -> None:
        """A job failed: the same job again `seconds` from now (wall-clock), if this replica still leads."""
        with self._arming:
            if not self.leading:
                return  # whoever leads rebuilds it from the database
            at = self.clock.wall_time_for(self.clock.now()) + timedelta(seconds=seconds)
            self._add(job_id, func, "date", args, run_date=at)

    # --- the store -------------------------------------------------------------------------------
    def _add(self, job_id: str, func, trigger: str, args: list, **options) -> None:
        self.scheduler.add_job(func, trigger, args=args, id=job_id, jobstore=JOBSTORE, replace_existing=True,
                               misfire_grace_time=None, coalesce=True, **options)

    def _job_ids(self) -> list[str]:
        return [job.id for job in self.scheduler.get_jobs(jobstore=JOBSTORE)]

    def _remove(self, job_id: str) -> None:
        try:
            self.scheduler.remove_job(job_id, jobstore=JOBSTORE)
        except JobLookupError:
            pass

    def next_runs(self) -> list[tuple[str, datetime | None]]:
        return [(job.id, job.next_run_time) for job in self.scheduler.get_jobs(jobstore=JOBSTORE)]


def _cohort_of(job_id: str) -> int | None:
    parts = job_id.split(":")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "cohort" and parts[1].isdigit() else None


def _running_jobs(scheduler: BaseScheduler) -> int:
    executor = scheduler._lookup_executor("default")
    # APScheduler 3 keeps a count of running instances per job on the executor.
    return sum(executor._instances.values())
