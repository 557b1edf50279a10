"""Rate limits as the platform fakes enforce them (opt-in): a sliding window ("at most N requests
in any T seconds", as Teams documents its limits) and a token bucket ("about R a second, with
bursts", as Slack does). A request is accepted only if every limit that applies has room; an
accepted request counts against all of them, a refused one against none."""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol


class Limit(Protocol):
    def wait(self, now: float) -> float:
        """Seconds until one more request fits (0: it fits now)."""

    def take(self, now: float) -> None: ...


class Window:
    def __init__(self, limit: int, seconds: float):
        self.limit = limit
        self.seconds = seconds
        self._times: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self._times and self._times[0] <= now - self.seconds:
            self._times.popleft()
        return 0.0 if len(self._times) < self.limit else self._times[0] + self.seconds - now

    def take(self, now: float) -> None:
        self._times.append(now)


class Bucket:
    def __init__(self, per_second: float, burst: float):
        self.per_second = per_second
        self.burst = burst
        self._tokens = burst
        self._at: float | None = None

    def wait(self, now: float) -> float:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.per_second

    def take(self, now: float) -> None:
        self._tokens -= 1


def admit(limits: list[Limit], now: float) -> int:
    """0 if the request is within every limit (and counts it), else the Retry-After to answer:
    whole seconds, at least 1, as both platforms send it."""
    wait = max((limit.wait(now) for limit in limits), default=0.0)
    if wait > 0:
        return max(1, math.ceil(wait))
    for limit in limits:
        limit.take(now)
    return 0
