"""`pairbot demo` runs the whole default programme through APScheduler and ends with its summary."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from adapters.cli import main
from adapters.console.demo import run_demo


def test_demo_runs_the_whole_programme_with_simulated_people(tmp_path):
    lines: list[str] = []
    transcript = tmp_path / "transcript.txt"
    summary = asyncio.run(run_demo(lines.append, tmp_path / "demo.sqlite", seconds=12,
                                   transcript_path=transcript))
    assert summary.steps_run == summary.steps_total == 20
    assert summary.pairs == 6
    assert summary.meetings_held >= 12
    assert summary.shadowing.get("manager_shadows_clinician", 0) >= 3
    assert summary.shadowing.get("clinician_shadows_manager", 0) >= 3
    assert summary.reflections > 0
    # At demo speed a later question can overtake a survey, and a typed answer goes to the newest
    # question; a simulated person may then leave one survey unfinished, as a real one might.
    assert summary.surveys["pre_survey"][0] >= 11
    assert summary.surveys["post_survey"][0] >= 10
    assert summary.nudges > 0
    text = transcript.read_text()
    assert "“banana”" in text and ("Sorry, I didn't catch that" in text or "Please answer yes, no" in text)
    assert "It's been 3 weeks since you last met" in text
    assert summary.wall_seconds < 60
    assert "Summary of the demo cohort" in summary.render()


def test_demo_database_can_be_read_by_the_status_command(tmp_path):
    asyncio.run(run_demo(lambda _line: None, tmp_path / "demo.sqlite", seconds=4))
    result = CliRunner().invoke(main, ["status", "--database", f"sqlite:///{tmp_path / 'demo.sqlite'}"])
    assert result.exit_code == 0, result.output
    assert "Demo cohort" in result.output and "Pairs: 6" in result.output
