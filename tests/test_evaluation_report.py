"""A simulated cohort answers the pre and post surveys through the core; the report is built from
the database, its figures checked, and its HTML opened in headless Chromium (a screenshot is kept
in test-artifacts/)."""

from __future__ import annotations

import csv
import os
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main
from bot import enrolment, migrate
from bot.capabilities import FORMS, GROUP_CONVERSATION, Capabilities
from bot.clock import ManualClock
from bot.core import Pairbot
from bot.db import Database
from bot.evaluation.report import write_report
from bot.evaluation.results import cohort_results
from bot.events import Address, Command, Submitted
from bot.models import Cohort, Meeting
from bot.programme import default_programme
from bot.surveys import get_survey
from harness import START

ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"  # kept after the run, not committed
CHROMIUM = os.environ.get("PAIRBOT_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def simulate(url: str, people: int = 16, seed: int = 3, share: bool = True) -> tuple[Pairbot, int]:
    """`people` participants (half clinicians, half managers) in pairs; everyone answers the pre
    survey, and all but two the post survey, a little higher on most items."""
    db = Database(url)
    migrate.upgrade(db.engine)
    clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    core = Pairbot(db, clock, Capabilities({"slack": frozenset({FORMS, GROUP_CONVERSATION})}))
    rng = random.Random(seed)
    with db.session() as s:
        org = enrolment.organisation(s, "slack", "T1", "Test Trust", clock.now())
        rita = enrolment.person(s, org, Address("slack", "T1", "URITA"), "Rita Coordinator", clock.now())
        enrolment.grant(s, org, rita, "coordinator", clock.now())
        cohort = enrolment.create_cohort(s, org, "Spring 2027", START, default_programme(), "Europe/London",
                                         clock.now())
        members = [enrolment.enrol(s, cohort, org, enrolment.Enrolee(
            address=Address("slack", "T1", f"U{n:02d}"), name=f"Person {n}",
            role="clinician" if n % 2 else "manager"), clock.now()) for n in range(people)]
        for number, (a, b) in enumerate(zip(members[::2], members[1::2], strict=True)):
            pair = enrolment.make_pair(s, cohort, [a, b], clock.now())
            # Buddy meetings held over the weeks (fewer by the later pairs), for the engagement chart.
            for week in (1, 4, 8, 12)[:4 - number % 3]:
                held = datetime.combine(START, datetime.min.time(), tzinfo=timezone.utc) + timedelta(weeks=week, days=2)
                s.add(Meeting(cohort_id=cohort.id, pair_id=pair.id, kind="buddy", status="held", agreed_at=held,
                              outcome_at=held, created_at=clock.now()))
        cohort.status = "running"
        cohort_id = cohort.id
    pre = get_survey("pre_survey")
    core.run_step(cohort_id, "pre-survey")
    baseline = {}
    for n in range(people):
        answers = {i.id: str(rng.randint(1, 4)) for i in pre.items}
        baseline[n] = answers
        core.handle(Submitted(Address("slack", "T1", f"U{n:02d}"), "survey:pre_survey", answers))
    core.run_step(cohort_id, "post-survey")
    for n in range(people - 2):  # two never answer the post survey: they are not linked
        answers = {i: str(min(5, int(v) + rng.choice([0, 1, 1, 2]))) for i, v in baseline[n].items()}
        answers.update({"meetings_held": "4", "project_stage": "planned", "recommend": "5",
                        "share_free_text": "yes" if share and n < 3 else "no",
                        "most_valuable": f"Seeing the night shift (person {n})"})
        reply = core.handle(Submitted(Address("slack", "T1", f"U{n:02d}"), "survey:post_survey", answers))[0]
        assert reply.intent == "survey_done", reply.text
    return core, cohort_id


@pytest.fixture
def cohort(database_url):
    return simulate(database_url)


def test_the_figures_link_pre_and_post_per_person_and_split_by_role(cohort):
    core, cohort_id = cohort
    with core.db.session() as s:
        results = cohort_results(s, s.get(Cohort, cohort_id))
    first = results.items[0]
    assert first.changes["everyone"].n == 14  # 16 answered before, 14 after
    assert first.changes["clinicians"].n == 7 and first.changes["managers"].n == 7
    assert all(r.changes["everyone"].tested for r in results.items)
    assert sum(r.changes["everyone"].p_value < 0.05 for r in results.items) >= 10  # answers went up
    assert results.engagement.pairs == 8
    assert results.engagement.meetings_held == 8 * 4 - 3 * 1 - 2 * 2 and results.engagement.meetings_target == 32
    assert results.engagement.meetings_by_week == {1: 8, 4: 8, 8: 6, 12: 3}
    assert results.engagement.survey_completion == {"Before we start": (16, 16), "At the end of the programme": (14, 16)}
    # Only the three who agreed are quoted.
    assert sorted(text for _, text in results.shared_comments) == [f"Seeing the night shift (person {n})"
                                                                  for n in range(3)]


def test_report_files_and_the_summary_in_chat(cohort, tmp_path):
    core, cohort_id = cohort
    with core.db.session() as s:
        results = cohort_results(s, s.get(Cohort, cohort_id))
    written = write_report(results, tmp_path / "out")
    assert [p.name for p in written] == ["report.html", "items.csv", "engagement.csv"]
    rows = list(csv.DictReader((tmp_path / "out" / "items.csv").open()))
    assert len(rows) == len(results.items) * 3
    assert {r["group"] for r in rows} == {"clinicians", "managers", "everyone"}
    assert all(r["p_value"] and r["effect_size_r"] for r in rows if r["group"] == "everyone")
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2  # before/after by domain, and meetings per week
    assert "Seeing the night shift (person 0)" in html and "(person 5)" not in html
    text = core.handle(Command(Address("slack", "T1", "URITA"), "report"))[0].text
    assert "items changed for the better" in text and "At the end of the programme: 14 of 16 completed" in text
    refused = core.handle(Command(Address("slack", "T1", "U01"), "report"))[0]
    assert refused.intent == "refused"


def test_fewer_than_six_linked_people_say_the_test_cannot_be_run(database_url, tmp_path):
    core, cohort_id = simulate(database_url, people=6)  # 4 linked
    with core.db.session() as s:
        results = cohort_results(s, s.get(Cohort, cohort_id))
    assert all(not r.changes["everyone"].tested for r in results.items)
    html = write_report(results, tmp_path)[0].read_text()
    assert "fewer than six linked pairs: the test cannot be run" in html
    assert "fewer than six linked pairs" in core.handle(Command(Address("slack", "T1", "URITA"), "report"))[0].text


def test_pairbot_report_writes_the_report_from_the_console(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    simulate(url)
    result = CliRunner().invoke(main, ["report", "Spring 2027", "--out", str(tmp_path / "r"), "--database", url])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").exists() and "Wrote" in result.output
    missing = CliRunner().invoke(main, ["report", "Autumn", "--out", str(tmp_path / "r"), "--database", url])
    assert missing.exit_code == 1 and "no cohort called 'Autumn' (cohorts: Spring 2027)" in missing.output


def test_the_report_opens_in_headless_chromium_without_errors(cohort, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing: the README's test command installs it")
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    core, cohort_id = cohort
    with core.db.session() as s:
        report = write_report(cohort_results(s, s.get(Cohort, cohort_id)), tmp_path)[0]
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
        page.goto(report.as_uri())
        heading = page.inner_text("h1")
        images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "evaluation-report.png"), full_page=True)
        browser.close()
    assert problems == []
    assert heading == "Paired learning evaluation: Spring 2027"
    assert len(images) == 2 and all(done and width > 300 for done, width in images)  # the charts drew
    assert (ARTIFACTS / "evaluation-report.png").stat().st_size > 10_000
