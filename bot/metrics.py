"""Counters and gauges for `/metrics` (Prometheus text format, via prometheus_client).

Each running Pairbot has its own registry, so several in one test process do not share figures.
Outbox depth and age are counted from the database when scraped (see adapters/server.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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
