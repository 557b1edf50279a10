"""The Teams turn benchmark keeps working (small size; the timings themselves are not asserted)."""

from __future__ import annotations

import re

from benchmark_runner import NUMBER, check_last_line

LAST_LINE = re.compile(
    rf"teams_turn: p99 ratio pairbot/bare c=1 {NUMBER}x, c=10 {NUMBER}x; "
    rf"pairbot p99 c=1 {NUMBER} ms, c=10 {NUMBER} ms")


def test_teams_turn_benchmark_answers_every_request_with_201_and_prints_its_figures():
    check_last_line("teams_turn.py", LAST_LINE, "--requests", "20", "--warmup", "5")
