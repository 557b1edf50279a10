"""The benchmark scripts keep working (small sizes; the figures themselves are not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_fanout_delivers_every_message_once_and_prints_its_figures():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fanout.py"), "--participants", "300",
                          "--batch", "64"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"fanout: 300 messages in [\d.]+ s = [\d,]+ messages/s; peak memory \d+ MB \(RSS\)", last)
