"""The Slack ack benchmark keeps working (small size; the timings themselves are not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"\d+\.\d+"
LAST_LINE = re.compile(
    rf"slack_ack: p99 ratio pairbot/bare click c=1 {NUMBER}x, c=50 {NUMBER}x; "
    rf"command c=1 {NUMBER}x, c=50 {NUMBER}x; pairbot p99 at c=50: click {NUMBER} ms, command {NUMBER} ms")


def test_slack_ack_benchmark_answers_every_request_with_200_and_prints_its_figures():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "slack_ack.py"), "--requests", "20",
                          "--warmup", "5"], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    last = run.stdout.strip().splitlines()[-1]
    assert LAST_LINE.fullmatch(last), last
