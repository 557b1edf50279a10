"""Backoff: one log line when an outage starts and one when it ends, however many retries; a
failure just after the end is the same outage flickering out; a long one after it is said again."""

from __future__ import annotations

import logging

from bot import health as health_module
from bot.health import Backoff, Health


def test_an_outage_is_logged_once_and_its_end_once(caplog):
    health = Health()
    backoff = Backoff(health, "delivery:slack", logging.getLogger("t"), first=0.5, cap=4.0)
    with caplog.at_level(logging.INFO, logger="t"):
        waits = [backoff.failed(OSError("connection refused")) for _ in range(8)]
        assert "delivery:slack" in health.troubles()
        backoff.worked()
        backoff.worked()
    assert max(waits) <= 4.0 * 1.2 and waits[0] < waits[3]  # grows, capped
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "cannot work: OSError: connection refused" in lines[0]
    assert "works again" in lines[1] and health.troubles() == {}


def test_a_failure_just_after_recovery_is_the_same_outage_but_a_long_one_is_said(caplog, monkeypatch):
    clock = {"mono": 100.0, "wall": 1000.0}
    monkeypatch.setattr(health_module.time, "monotonic", lambda: clock["mono"])
    monkeypatch.setattr(health_module.time, "time", lambda: clock["wall"])
    health = Health()
    backoff = Backoff(health, "timeline", logging.getLogger("t"))
    with caplog.at_level(logging.INFO, logger="t"):
        backoff.failed("down")
        backoff.worked()
        clock["mono"] += 2; clock["wall"] += 2
        backoff.failed("a dead pooled connection")  # flicker: no new page
        backoff.worked()
        assert len(caplog.records) == 2
        clock["mono"] += 60; clock["wall"] += 60
        backoff.failed("down again")  # long after: a new outage
        assert len(caplog.records) == 3 and "cannot work: down again" in caplog.records[-1].getMessage()
        backoff.worked()
        clock["mono"] += 1; clock["wall"] += 1
        backoff.failed("flicker that lasts")
        clock["mono"] += 30; clock["wall"] += 30
        backoff.failed("flicker that lasts")  # still failing 30 s on: said after all
        assert "cannot work again" in caplog.records[-1].getMessage()
    assert health.troubles()["timeline"].reason == "flicker that lasts"
