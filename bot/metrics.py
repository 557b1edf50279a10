"""Counters and gauges for `/metrics` (Prometheus text format, via prometheus_client).

Each running Pairbot has its own registry, so several in one test process do not share figures.
Outbox depth and age are counted from the database when scraped (adapters/monitoring.py) and
handed to `exposition`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class OutboxFigures:
    """Unsent deliveries (pending or being sent) by platform, and how long the oldest that may go
    now has waited, in wall-clock seconds (0 when none is waiting)."""

    depth: dict[str, int] = field(default_factory=dict)
    oldest_due_seconds: dict[str, float] = field(default_factory=dict)


class _ScrapeTimeFigures(Collector):
    """Figures counted from the database for this scrape; absent when the database did not answer."""

    def __init__(self) -> None:
        self.outbox: OutboxFigures | None = None
        self.database_up = False

    def collect(self):
        up = GaugeMetricFamily("pairbot_database_up", "1 when the database answered this scrape.")
        up.add_metric([], 1.0 if self.database_up else 0.0)
        yield up
        if self.outbox is None:
            return
        depth = GaugeMetricFamily("pairbot_outbox_depth", "Deliveries not yet sent (pending or being sent).",
                                  labels=["platform"])
        oldest = GaugeMetricFamily("pairbot_outbox_oldest_due_seconds",
                                   "How long the oldest delivery that may go now has waited.", labels=["platform"])
        for platform, count in self.outbox.depth.items():
            depth.add_metric([platform], count)
            oldest.add_metric([platform], self.outbox.oldest_due_seconds.get(platform, 0.0))
        yield depth
        yield oldest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sent = Counter("pairbot_deliveries_sent", "Deliveries the platform accepted.", ["platform"],
                            registry=self.registry)
        self.retried = Counter("pairbot_delivery_retries", "Deliveries put back to try again later.",
                               ["platform", "reason"], registry=self.registry)
        self.ended = Counter("pairbot_deliveries_ended", "Deliveries that will never be sent.",
                             ["platform", "status"], registry=self.registry)
        self.step_runs = Counter("pairbot_step_runs", "Programme steps fanned out by this replica.",
                                 registry=self.registry)
        self.step_failures = Counter("pairbot_step_failures", "Timeline jobs that failed and will run again.",
                                     registry=self.registry)
        self.leader = Gauge("pairbot_timeline_leader", "1 while this replica runs the programme timeline.",
                            registry=self.registry)
        self._scraped = _ScrapeTimeFigures()
        self.registry.register(self._scraped)

    def exposition(self, outbox: OutboxFigures | None, database_up: bool) -> bytes:
        """The registry in Prometheus text format, with this scrape's outbox figures."""
        self._scraped.outbox, self._scraped.database_up = outbox, database_up
        return generate_latest(self.registry)
