"""The `pairbot` command's messages for bad input."""

from __future__ import annotations

from click.testing import CliRunner

from adapters.cli import main
from bot import migrate


def test_programme_show_prints_real_dates():
    result = CliRunner().invoke(main, ["programme", "show", "--start", "2027-01-04"])
    assert result.exit_code == 0, result.output
    assert "Mon 11 Jan 2027" in result.output  # week 1


def test_programme_show_names_the_bad_step_and_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[programme]\nname = "x"\n\n[[steps]]\nid = "hello"\nweek = 1\nintent = "propose_meeting"\n'
                   'audience = "pairs"\ntext = "Hi"\n')
    result = CliRunner().invoke(main, ["programme", "show", str(bad)])
    assert result.exit_code == 1
    assert "step 'hello' field 'audience'" in result.output


def test_programme_show_rejects_a_bad_date():
    result = CliRunner().invoke(main, ["programme", "show", "--start", "next tuesday"])
    assert result.exit_code == 2 and "'next tuesday' is not a date" in result.output


def test_status_on_an_empty_database_says_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["status", "--database", f"sqlite:///{tmp_path / 'x.sqlite'}"])
    assert result.exit_code == 1 and "run 'pairbot db upgrade' first" in result.output


def test_db_upgrade_then_status_says_there_is_no_cohort(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    result = CliRunner().invoke(main, ["db", "upgrade", "--database", url])
    assert result.exit_code == 0 and f"Database at revision {migrate.head_revision()}" in result.output
    result = CliRunner().invoke(main, ["status", "--database", url])
    assert result.exit_code == 1 and "no organisations yet" in result.output


def test_teams_package_command_builds_the_zip_or_names_the_missing_app_id(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("PAIRBOT_TEAMS_APP_ID", "")
    missing = CliRunner().invoke(main, ["teams-package", "--out", str(tmp_path), "--developer-url",
                                        "https://trust.example.nhs.uk/pairbot"])
    assert missing.exit_code == 1 and "[teams] app_id" in missing.output
    monkeypatch.setenv("PAIRBOT_TEAMS_APP_ID", "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f")
    built = CliRunner().invoke(main, ["teams-package", "--out", str(tmp_path), "--developer-url",
                                      "https://trust.example.nhs.uk/pairbot"])
    assert built.exit_code == 0, built.output
    zips = list(tmp_path.glob("*.zip"))
    assert len(zips) == 1 and sorted(zipfile.ZipFile(zips[0]).namelist()) == ["color.png", "manifest.json",
                                                                               "outline.png"]


def test_a_coordinator_runs_a_cohort_from_the_console(tmp_path, monkeypatch):
    """Commands at the console: a programme file and a CSV attached from disk, people named by the
    email of someone the organisation knows, the export written to a file."""
    from datetime import datetime, timezone
    from importlib import resources

    from bot import enrolment
    from bot.db import Database
    from bot.events import Address
    from bot.models import AuditEntry
    from sqlalchemy import select

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    store = Database(url)
    migrate.upgrade(store.engine)
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    with store.session() as s:
        org = enrolment.organisation(s, "slack", "T1", "Test Trust", now)
        for user, name in (("U1", "Dr Asha Patel"), ("U2", "Ben Okafor"), ("U3", "Dr Carl Jones"), ("U4", "Dana Smith")):
            enrolment.person(s, org, Address("slack", "T1", user), name, now, f"{name.split()[-1].lower()}@trust.example")
    # A coordinator's own programme file: here, a copy of the built-in one.
    (tmp_path / "programme.toml").write_text((resources.files("bot.programmes") / "default.toml").read_text())
    (tmp_path / "people.csv").write_text("email,role,site\npatel@trust.example,clinician,North\n"
                                         "okafor@trust.example,manager,North\njones@trust.example,clinician,South\n"
                                         "smith@trust.example,manager,South\nnobody@trust.example,manager,\n")

    def run(*words, ok=True):
        result = CliRunner().invoke(main, ["command", *words, "--database", url])
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    assert "Created Spring 2027" in run('cohort create "Spring 2027" --start 2027-01-04 --programme programme.toml')
    preview = run("import", "--file", "people.csv")
    assert "5 people, 4 ready" in preview and "row 6 (nobody@trust.example)" in preview
    assert "Enrolled 4 people" in run("import", "confirm", "1")
    proposed = run("pair")
    assert "Proposed 2 pairs" in proposed and "same site (North)" in proposed
    assert "Confirmed 2 pairs" in run("pair", "confirm")
    assert "Wrote pairbot-spring-2027-" in run("export")
    exported = next(tmp_path.glob("pairbot-spring-2027-*.csv")).read_text()
    assert exported.count("\n") == 5 and "Dr Asha Patel" in exported
    assert "Sorry" not in run("status") and "Pairs: 2" in run("status")
    assert "I don't know the command 'frobnicate'" in run("frobnicate", ok=False)
    with store.session() as s:
        actors = set(s.scalars(select(AuditEntry.actor)))
    assert actors and all("at the console" in actor for actor in actors)
