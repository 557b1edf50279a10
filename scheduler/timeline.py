"""The programme timeline on APScheduler 3, with its SQLAlchemy job store on our own database.

One job per (cohort, step) with a stable id, so restarts replace rather than duplicate jobs. Jobs are
armed at the wall-clock time the clock maps each step to; a step that fell due while the bot was down
has a run time in the past and runs as soon as the scheduler starts (misfire_grace_time=None), and the
step_runs table makes sure it fans out only once.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import select

from bot.context import Wakeup
from bot.core import Pairbot
from bot.models import Cohort, StepRun
from bot.programme import Programme
from scheduler import jobs

log = logging.getLogger(__name__)
JOBSTORE = "programme"
QUIET_SWEEP_EVERY = timedelta(days=1)
DIGEST_EVERY = timedelta(weeks=1)
DIGEST_AT = time(8, 0)
# At demo speeds a programme day is a few milliseconds; sweeping faster than this only burns CPU.
MIN_SWEEP_SECONDS = 0.25


def step_job_id(cohort_id: int, step_id: str) -> str:
    return f"cohort:{cohort_id}:step:{step_id}"


def quiet_job_id(cohort_id: int) -> str:
    return f"cohort:{cohort_id}:quiet-pairs"


def digest_job_id(cohort_id: int) -> str:
    return f"cohort:{cohort_id}:weekly-digest"


def wakeup_job_id(wakeup: Wakeup) -> str:
    return f"wakeup:{wakeup.job}:{wakeup.ref_id}"


class Timeline:
    def __init__(self, core: Pairbot, scheduler: BaseScheduler):
        self.core = core
        self.clock = core.clock
        self.scheduler = scheduler
        self.scheduler.add_jobstore(SQLAlchemyJobStore(engine=core.db.engine), JOBSTORE)
        core.wakeups = self

    # --- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        jobs.bind(self.core)
        # Paused: re-arm everything from the database first, so nothing fires from stale run times.
        self.scheduler.start(paused=True)
        self.resync()
        self.scheduler.resume()

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    async def stop(self, grace_seconds: float = 2.0) -> None:
        """Stop firing jobs, let running ones finish (up to the grace period), then shut down."""
        import asyncio

        if not self.scheduler.running:
            return
        self.scheduler.pause()
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while _running_jobs(self.scheduler) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        self.scheduler.shutdown(wait=False)

    def resync(self) -> None:
        """Re-arm every job from the database: running cohorts' remaining steps and pending wake-ups."""
        with self.core.db.session() as session:
            cohorts = list(session.scalars(select(Cohort).where(Cohort.status.in_(("running", "paused")))))
        for cohort in cohorts:
            self.schedule_cohort(cohort.id)
            if cohort.status == "paused":
                self.pause_cohort(cohort.id)
        for wakeup in self.core.pending_wakeups():
            self.schedule(wakeup)

    # --- cohorts ---------------------------------------------------------------------------------
    def schedule_cohort(self, cohort_id: int) -> int:
        """Arm one job per step that has not run yet; returns how many are armed."""
        with self.core.db.session() as session:
            cohort = session.get(Cohort, cohort_id)
            done = set(session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort_id)))
            programme = Programme.from_dict(cohort.programme)
            tz = ZoneInfo(cohort.timezone)
            start = cohort.start_date
        armed = 0
        for due, step in programme.timeline(start, tz):
            job_id = step_job_id(cohort_id, step.id)
            if step.id in done:
                self._remove(job_id)
                continue
            self.scheduler.add_job(
                jobs.run_step, "date", run_date=self.clock.wall_time_for(due), args=[cohort_id, step.id],
                id=job_id, name=f"{step.intent} (week {step.week})", jobstore=JOBSTORE,
                replace_existing=True, misfire_grace_time=None, coalesce=True,
            )
            armed += 1
        self.scheduler.add_job(
            jobs.sweep_quiet_pairs, "interval",
            seconds=max(self.clock.wall_seconds(QUIET_SWEEP_EVERY.total_seconds()), MIN_SWEEP_SECONDS),
            args=[cohort_id], id=quiet_job_id(cohort_id), jobstore=JOBSTORE, replace_existing=True,
            misfire_grace_time=None, coalesce=True, max_instances=1,
        )
        # The facilitators' digest: Mondays at 08:00 in the cohort's time zone, from its start.
        first = datetime.combine(start, DIGEST_AT, tzinfo=tz)
        self.scheduler.add_job(
            jobs.send_weekly_digest, "interval",
            seconds=max(self.clock.wall_seconds(DIGEST_EVERY.total_seconds()), MIN_SWEEP_SECONDS),
            start_date=self.clock.wall_time_for(first), args=[cohort_id], id=digest_job_id(cohort_id),
            jobstore=JOBSTORE, replace_existing=True, misfire_grace_time=None, coalesce=True, max_instances=1,
        )
        return armed

    def cohort_job_ids(self, cohort_id: int) -> list[str]:
        prefix = f"cohort:{cohort_id}:"
        return [job.id for job in self.scheduler.get_jobs(jobstore=JOBSTORE) if job.id.startswith(prefix)]

    def pause_cohort(self, cohort_id: int) -> None:
        for job_id in self.cohort_job_ids(cohort_id):
            self.scheduler.pause_job(job_id, jobstore=JOBSTORE)

    def cohort_changed(self, cohort_id: int) -> None:
        """A coordinator started, paused, resumed or shifted a cohort: its jobs follow its status."""
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
        self.scheduler.add_job(
            jobs.run_wakeup, "date", run_date=self.clock.wall_time_for(wakeup.at), args=[wakeup.job, wakeup.ref_id],
            id=wakeup_job_id(wakeup), jobstore=JOBSTORE, replace_existing=True, misfire_grace_time=None,
            coalesce=True,
        )

    def _remove(self, job_id: str) -> None:
        try:
            self.scheduler.remove_job(job_id, jobstore=JOBSTORE)
        except JobLookupError:
            pass

    def next_runs(self) -> list[tuple[str, datetime | None]]:
        return [(job.id, job.next_run_time) for job in self.scheduler.get_jobs(jobstore=JOBSTORE)]


def _running_jobs(scheduler: BaseScheduler) -> int:
    executor = scheduler._lookup_executor("default")
    # APScheduler 3 keeps a count of running instances per job on the executor.
    return sum(executor._instances.values())
