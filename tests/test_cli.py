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
    assert result.exit_code == 1 and "no organisations or cohorts" in result.output


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
