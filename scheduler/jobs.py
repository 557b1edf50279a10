"""Job functions APScheduler stores by their import path, with primitive arguments only.

APScheduler 3 pickles a job as "module:function" plus its arguments, so the functions must be at
module level and find the running core here; `bind` is called once by the timeline at start.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
_core = None


def bind(core) -> None:
    global _core
    _core = core


def _bound():
    if _core is None:
        raise RuntimeError("the timeline has not been started in this process")
    return _core


def run_step(cohort_id: int, step_id: str) -> None:
    _bound().run_step(cohort_id, step_id)


def run_wakeup(job: str, ref_id: int) -> None:
    _bound().run_wakeup(job, ref_id)


def sweep_quiet_pairs(cohort_id: int) -> None:
    _bound().sweep_quiet_pairs(cohort_id)


def send_weekly_digest(cohort_id: int) -> None:
    _bound().send_weekly_digest(cohort_id)
