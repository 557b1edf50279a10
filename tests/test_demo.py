"""`pairbot demo` runs the whole default programme through the real timeline on programme time, ends
with integrity counts from its database, and gives the same transcript for the same seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from adapters.cli import main
from adapters.console import demo
from bot import integrity
from bot.db import Database
from bot.models import Cohort
from test_simulation import in_time_order

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """`pairbot demo` once, in a folder of its own (it writes its database and transcript there)."""
    folder = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    here = os.getcwd()
    os.chdir(folder)
    try:
        summary = demo.main(lines.append, seconds=0)
    finally:
        os.chdir(here)
    return folder, lines, summary


def test_demo_runs_the_whole_programme_with_simulated_people(demo_run):
    folder, _lines, summary = demo_run
    assert summary.steps_run == summary.steps_total == 20
    assert summary.pairs == 6
    assert summary.meetings_held >= 12
    assert summary.shadowing.get("manager_shadows_clinician", 0) >= 3
    assert summary.shadowing.get("clinician_shadows_manager", 0) >= 3
    assert summary.reflections > 0
    # A simulated person may leave one survey unfinished, as a real one might.
    assert summary.surveys["pre_survey"][0] >= 11
    assert summary.surveys["post_survey"][0] >= 10
    assert summary.nudges > 0
    text = (folder / "pairbot-demo-transcript.txt").read_text()
    assert "“banana”" in text and ("Sorry, I didn't catch that" in text or "Please answer yes, no" in text)
    # The quiet pair is nudged once it is past the programme's spacing, in words for a pair that never met.
    assert "You haven't had your first buddy meeting yet" in text
    assert summary.wall_seconds < 60
    assert "Summary of the demo cohort" in summary.render()


def test_demo_database_can_be_read_by_the_status_command(demo_run):
    folder, _lines, _summary = demo_run
    result = CliRunner().invoke(main, ["status", "--database", f"sqlite:///{folder / 'pairbot-demo.sqlite'}"])
    assert result.exit_code == 0, result.output
    assert "Demo cohort" in result.output and "Pairs: 6" in result.output


def test_the_transcript_reads_in_programme_time_order_with_no_wall_clock_times(demo_run):
    folder, _lines, summary = demo_run
    text = (folder / "pairbot-demo-transcript.txt").read_text()
    stamps = in_time_order(text.split("\n"))
    assert len(stamps) > 1000 and stamps == sorted(stamps)
    assert "wall-clock" not in text and "Ran in" not in text
    # On programme time nothing waits: every message goes out at the programme time it was written.
    assert summary.integrity.sent_long_after_due == 0


def test_the_integrity_summary_is_the_last_block_and_counted_from_the_database(demo_run):
    folder, lines, summary = demo_run
    block = summary.integrity.lines()
    printed = "\n".join(lines).split("\n")
    assert printed[-len(block):] == block
    assert (folder / "pairbot-demo-transcript.txt").read_text().endswith("\n".join(block) + "\n")
    assert summary.integrity.typed_answers > 50  # people type availability, reflections and contracts
    db = Database(f"sqlite:///{folder / 'pairbot-demo.sqlite'}")
    with db.session() as session:
        cohort_id = session.scalars(select(Cohort.id)).one()
        recounted = integrity.check(session, cohort_id)
    db.dispose()
    # Everything but the typed answers (which need the simulation's knowledge) comes from the database.
    for figure in ("double_bookings", "clashing_bookings", "nudges_sent", "nudges_deserved", "sent_after_event",
                   "sent_long_after_due"):
        assert getattr(recounted, figure) == getattr(summary.integrity, figure), figure
    assert summary.integrity.nudges_sent == summary.nudges


def test_the_same_seed_gives_the_same_transcript_file_in_another_process(demo_run, tmp_path):
    folder, _lines, _summary = demo_run
    again = tmp_path / "transcript.txt"
    script = ("import asyncio, pathlib, sys; from adapters.console.demo import run_demo; "
              "asyncio.run(run_demo(lambda _line: None, pathlib.Path(sys.argv[1]), "
              "transcript_path=pathlib.Path(sys.argv[2])))")
    # Another hash seed, as on another machine: nothing may depend on the order of a set.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "demo.sqlite"), str(again)], cwd=ROOT, env=env,
                   check=True, timeout=300)
    assert again.read_text() == (folder / "pairbot-demo-transcript.txt").read_text()


def test_the_transcript_shows_the_calendar_invitations(demo_run):
    folder, _lines, _summary = demo_run
    text = (folder / "pairbot-demo-transcript.txt").read_text()
    # A booking notice carries the invitation; so does a "yes" to a workshop.
    assert "booked your buddy meeting" in text and "📎 calendar invitation attached (.ics)" in text
    assert "Here is the calendar invitation for Launch workshop" in text
