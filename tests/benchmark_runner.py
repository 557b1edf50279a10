"""Runs a benchmark script the way it is documented, `python benchmarks/<script>`, at a small size,
and checks the figures on its last line (the timings themselves are not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"\d+\.\d+"


def check_last_line(script: str, last_line: re.Pattern[str], *arguments: str, timeout: float = 180) -> str:
    """Runs benchmarks/`script` with `arguments` from the project root; it must exit 0 and its last
    line of output must match `last_line` in full. Returns that line."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *arguments],
                         capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    last = run.stdout.strip().splitlines()[-1]
    assert last_line.fullmatch(last), last
    return last
