"""The Slack ack benchmark keeps working (small size; the timings themselves are not asserted)."""

from __future__ import annotations

import re

from benchmark_runner import NUMBER, check_last_line

LAST_LINE = re.compile(
    rf"slack_ack: p99 ratio pairbot/bare click c=1 {NUMBER}x, c=50 {NUMBER}x; "
    rf"command c=1 {NUMBER}x, c=50 {NUMBER}x; pairbot p99 at c=50: click {NUMBER} ms, command {NUMBER} ms")


def test_slack_ack_benchmark_answers_every_request_with_200_and_prints_its_figures():
    check_last_line("slack_ack.py", LAST_LINE, "--requests", "20", "--warmup", "5")
