"""benchmarks/delivery.py keeps working: a small step through both adapters reaches everyone once
and prints its figures (the timings themselves are not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys

from benchmark_runner import ROOT

PLATFORM_LINE = (r"{}: 200 people in [\d.]+ s; floor [\d.]+ s = [\d.]+x; lost 0, doubled 0, "
                 r"429s \d+ of \d+ calls \([\d.]+%\)")


def test_the_delivery_benchmark_reaches_everyone_once_on_both_platforms_and_prints_the_ratios():
    # No latency and high rates keep it to seconds; the fakes still enforce the rates given.
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "delivery.py"), "--people", "200",
                          "--latency", "0", "--slack-rate", "400", "--teams-rate", "400"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 3, lines
    assert re.fullmatch(PLATFORM_LINE.format("slack"), lines[0]), lines[0]
    assert re.fullmatch(PLATFORM_LINE.format("teams"), lines[1]), lines[1]
    assert re.fullmatch(r"delivery: slack [\d.]+x floor, teams [\d.]+x floor", lines[2]), lines[2]
