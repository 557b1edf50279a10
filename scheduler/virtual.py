"""APScheduler 3 on programme time, for simulations (the demo and whole-cohort tests).

The Timeline arms its real jobs (ids, triggers, arguments) in its MemoryJobStore as usual, but
nothing fires by itself: the simulation calls `run_due()` when programme time has reached a job's run
time and asks `next_run_time()` where to jump next. APScheduler's own loop reads the wall clock
(`datetime.now()` in BaseScheduler and in IntervalTrigger's default start), so this scheduler fills in
every time the Timeline leaves implicit from the VirtualClock instead.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.executors.debug import DebugExecutor
from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import undefined

from bot.clock import VirtualClock

log = logging.getLogger(__name__)
TRIGGERS = {"date": DateTrigger, "interval": IntervalTrigger}


class VirtualScheduler(BaseScheduler):
    def __init__(self, clock: VirtualClock, **options):
        super().__init__(timezone=timezone.utc, **options)
        self.clock = clock
        self.errors: list[str] = []

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        """Nothing to wake: jobs run when the simulation calls run_due()."""

    def _create_default_executor(self):
        return DebugExecutor()

    def add_job(self, func, trigger=None, args=None, kwargs=None, id=None, name=None,
                misfire_grace_time=undefined, coalesce=undefined, max_instances=undefined,
                next_run_time=undefined, jobstore="default", executor="default", replace_existing=False,
                **trigger_args) -> Job:
        trigger = self._programme_trigger(trigger, trigger_args)
        if next_run_time is undefined:
            next_run_time = trigger.get_next_fire_time(None, self.clock.now())
        return super().add_job(func, trigger, args, kwargs, id, name, misfire_grace_time, coalesce,
                               max_instances, next_run_time, jobstore, executor, replace_existing)

    def resume_job(self, job_id, jobstore=None):
        job = self.get_job(job_id, jobstore)
        if job is None:
            raise LookupError(f"no job {job_id!r} to resume")
        upcoming = job.trigger.get_next_fire_time(None, self.clock.now())
        if upcoming is None:
            self.remove_job(job_id, jobstore)
            return None
        return self.modify_job(job_id, jobstore, next_run_time=upcoming)

    def _programme_trigger(self, trigger, trigger_args: dict) -> BaseTrigger:
        if isinstance(trigger, BaseTrigger):
            return trigger
        if trigger not in TRIGGERS:
            raise ValueError(f"the virtual scheduler runs 'date' and 'interval' triggers, not {trigger!r}")
        args = {"timezone": timezone.utc, **trigger_args}
        if trigger == "date":
            args.setdefault("run_date", self.clock.now())
            return DateTrigger(**args)
        if args.get("start_date") is None:
            # APScheduler would start the interval from the wall clock's now.
            interval = IntervalTrigger(**args).interval
            args["start_date"] = self.clock.now() + interval
        return IntervalTrigger(**args)

    # --- driving it --------------------------------------------------------------------------------
    def next_run_time(self) -> datetime | None:
        """The earliest run time of any job, in programme time."""
        with self._jobstores_lock:
            times = [store.get_next_run_time() for store in self._jobstores.values()]
        times = [t for t in times if t is not None]
        return min(times) if times else None

    def run_due(self) -> int:
        """Run every job due at or before programme time now, one at a time, earliest first (ties by
        job id, so a run is repeatable), until none is due; returns how many ran."""
        ran = 0
        while (due := self._earliest_due()) is not None:
            alias, job = due
            planned = job.next_run_time
            try:
                job.func(*job.args, **job.kwargs)
            except Exception as error:  # as APScheduler does: report it and keep the timeline going
                log.exception("job %s failed", job.id)
                self.errors.append(f"{job.id}: {error!r}")
            ran += 1
            self._after_run(alias, job, planned)
        return ran

    def _earliest_due(self) -> tuple[str, Job] | None:
        now = self.clock.now()
        with self._jobstores_lock:
            due = [(alias, job) for alias, store in self._jobstores.items() for job in store.get_due_jobs(now)]
        return min(due, key=lambda found: (found[1].next_run_time, found[1].id), default=None)

    def _after_run(self, alias: str, job: Job, planned: datetime) -> None:
        current = self.get_job(job.id, alias)
        if current is None or current.next_run_time != planned:
            return  # the job removed or re-armed itself while it ran
        now = self.clock.now()
        upcoming = job.trigger.get_next_fire_time(planned, now)
        # coalesce: runs missed while time jumped are one run, as the Timeline asks for
        while upcoming is not None and upcoming <= now:
            upcoming = job.trigger.get_next_fire_time(upcoming, now)
        if upcoming is None:
            self.remove_job(job.id, alias)
        else:
            self.modify_job(job.id, alias, next_run_time=upcoming)
