"""What the timeline's jobs run, and what happens when one fails.

A step is due until its run is recorded (core.run_step writes its StepRun in the same transaction
as its deliveries), so a job never lets an error end it: the failure goes to Backoff (part
"timeline": logged once per outage, shown by /healthz), is counted in
`pairbot_step_failures`, and the same job is armed again a backoff later. Re-running is safe: a
step whose StepRun exists is a no-op, wake-ups and digests are keyed in the outbox.

The jobs live in a MemoryJobStore rebuilt from the database, so they are bound methods here, not
pickled import paths.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bot.context import Wakeup
from bot.health import Backoff
from bot.metrics import Metrics

log = logging.getLogger(__name__)

# (job id, function, arguments, seconds) -> arm that job again that much later.
Retry = Callable[[str, Callable, list, float], None]


def step_job_id(cohort_id: int, step_id: str) -> str:
    return f"cohort:{cohort_id}:step:{step_id}"


def quiet_job_id(cohort_id: int) -> str:
    return f"cohort:{cohort_id}:quiet-pairs"


def digest_job_id(cohort_id: int) -> str:
    return f"cohort:{cohort_id}:weekly-digest"


def wakeup_job_id(wakeup: Wakeup) -> str:
    return f"wakeup:{wakeup.job}:{wakeup.ref_id}"


def retry_job_id(job_id: str) -> str:
    """A periodic job (the quiet sweep) keeps its schedule; a failed run is retried beside it."""
    return f"{job_id}:retry"


class TimelineJobs:
    def __init__(self, core, backoff: Backoff, metrics: Metrics, retry: Retry,
                 after_digest: Callable[[int], None]):
        self.core = core
        self.backoff = backoff
        self.metrics = metrics
        self.retry = retry
        self.after_digest = after_digest
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def running(self) -> set[str]:
        """Ids of jobs executing now (a resync must not arm them a second time meanwhile)."""
        with self._lock:
            return set(self._running)

    def run_step(self, cohort_id: int, step_id: str) -> None:
        if self._supervised(step_job_id(cohort_id, step_id), self.run_step, [cohort_id, step_id],
                            lambda: self.core.run_step(cohort_id, step_id)):
            self.metrics.step_runs.inc()

    def run_wakeup(self, job: str, ref_id: int) -> None:
        self._supervised(f"wakeup:{job}:{ref_id}", self.run_wakeup, [job, ref_id],
                         lambda: self.core.run_wakeup(job, ref_id))

    def sweep_quiet_pairs(self, cohort_id: int) -> None:
        self._supervised(quiet_job_id(cohort_id), self.sweep_quiet_pairs, [cohort_id],
                         lambda: self.core.sweep_quiet_pairs(cohort_id), retry_as=retry_job_id(quiet_job_id(cohort_id)))

    def send_weekly_digest(self, cohort_id: int) -> None:
        def digest_then_next_week():
            self.core.send_weekly_digest(cohort_id)
            self.after_digest(cohort_id)  # a date job per week: Monday 08:00 local, whatever the offset

        self._supervised(digest_job_id(cohort_id), self.send_weekly_digest, [cohort_id], digest_then_next_week)

    def _supervised(self, job_id: str, again: Callable, args: list, work: Callable[[], object],
                    retry_as: str | None = None) -> bool:
        """Run `work`; True if it ran (and returned something other than None)."""
        with self._lock:
            self._running.add(job_id)
        try:
            result = work()
        except Exception as error:  # any failure: the job runs again, it is never dropped
            self.metrics.step_failures.inc()
            wait = self.backoff.failed(error)
            log.debug("timeline job %s failed (%s); again in %.1f s", job_id, error, wait)
            self.retry(retry_as or job_id, again, args, wait)
            return False
        finally:
            with self._lock:
                self._running.discard(job_id)
        self.backoff.worked()
        return result is not None
