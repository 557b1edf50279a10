"""What the long-running parts say about themselves; `/healthz`, the log and `/metrics` read it.

A part in trouble (the delivery worker, the timeline, a platform's token) says why. The log hears
once when trouble starts and once when it ends, not on every retry, so an operator paged at 3 am
reads one line per outage.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Trouble:
    reason: str
    since: float  # time.time() when it started


class Health:
    """The troubles of one process's parts, by part name ("delivery:slack", "timeline", ...)."""

    def __init__(self) -> None:
        self._troubles: dict[str, Trouble] = {}
        self._lock = threading.Lock()

    def trouble(self, part: str, reason: str) -> bool:
        """Record that `part` cannot work; True when this starts its trouble (log it then)."""
        with self._lock:
            known = self._troubles.get(part)
            self._troubles[part] = Trouble(reason, known.since if known else time.time())
            return known is None

    def fine(self, part: str) -> Trouble | None:
        """`part` works; returns the trouble it had, if any (log its end then)."""
        with self._lock:
            return self._troubles.pop(part, None)

    def troubles(self) -> dict[str, Trouble]:
        with self._lock:
            return dict(self._troubles)


# A failure this soon after an outage ended is that outage flickering out (a pool's last dead
# connections, a database still warming up), not a new one to page anyone about.
SAME_OUTAGE_WITHIN_SECONDS = 10.0


class Backoff:
    """Capped exponential backoff for one part's retries, reporting to Health and logging once per
    outage (and once when it ends)."""

    def __init__(self, health: Health, part: str, log: logging.Logger, first: float = 0.5, cap: float = 30.0):
        self.health = health
        self.part = part
        self.log = log
        self.first = first
        self.cap = cap
        self.failures = 0
        self._ended_at: float | None = None  # time.monotonic() when the last outage ended
        self._flickering = False

    def failed(self, error: BaseException | str) -> float:
        """Note a failure; returns the seconds to wait before trying again."""
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        reason = " ".join(reason.split())[:300]
        if self.health.trouble(self.part, reason):
            self._flickering = (self._ended_at is not None
                                and time.monotonic() - self._ended_at < SAME_OUTAGE_WITHIN_SECONDS)
            if not self._flickering:
                self.log.error("%s cannot work: %s; retrying with backoff until it can", self.part, reason)
        elif self._flickering and time.time() - self.health.troubles()[self.part].since > SAME_OUTAGE_WITHIN_SECONDS:
            self._flickering = False  # not a flicker after all: a new outage, said once
            self.log.error("%s cannot work again: %s; retrying with backoff until it can", self.part, reason)
        self.failures += 1
        wait = min(self.cap, self.first * 2 ** (self.failures - 1))
        return wait * (0.8 + random.random() * 0.4)  # jitter: replicas do not retry in step

    def worked(self) -> None:
        self.failures = 0
        ended = self.health.fine(self.part)
        if ended is not None:
            self._ended_at = time.monotonic()
            if self._flickering:  # its end was logged already
                self._flickering = False
                return
            self.log.warning("%s works again after %.0f s (%s)", self.part, time.time() - ended.since,
                             ended.reason)
