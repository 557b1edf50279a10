"""Configuration: the example loads, and every mistake is named with its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main
from bot.config import ConfigError, describe, load_settings
from bot.context import CoreOptions

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def _load(tmp_path, body: str, env=None):
    path = tmp_path / "pairbot.toml"
    path.write_text(body)
    return load_settings(path, env or {})


def test_the_example_file_loads_and_sets_the_defaults():
    settings = load_settings(EXAMPLE, {})
    assert settings.server.port == 3978 and settings.scheduler.timezone == "Europe/London"
    assert settings.slack.api_url == "https://slack.com/api/"


@pytest.mark.parametrize("body,expected", [
    ('[server]\nport = "abc"', "[server] port: expected an integer, got 'abc'"),
    ('[server]\nport = 70000', "[server] port: 70000 is out of range"),
    ('[slak]\nbot_token = "x"', "unknown section or key 'slak'"),
    ('[server]\nprot = 1', "[server] unknown key 'prot' (known keys: host, port)"),
    ('[scheduler]\ntimezone = "Mars/Base"', "'Mars/Base' is not a known time zone"),
    ('[organisation]\nquiet_hours = "all night"', "'all night' is not a span of hours"),
    ('[organisation]\nnation = "Scotlnd"', "pairbot.toml: [organisation] nation: 'Scotlnd' is not a UK nation: "
                                          "use England, Wales, Scotland or Northern Ireland. Did you mean Scotland?"),
    ('[organisation]\nnation = 44', "[organisation] nation: expected a string in quotes, got 44"),
    ('[server]\nport = ', "not valid TOML"),
    ('[slack]\nenabled = true\nbot_token = "xoxb-1"', "[slack]: signing_secret is needed"),
    ('[slack]\nenabled = true\nsigning_secret = "s"', "[slack]: set bot_token (one workspace) or client_id"),
    ('[slack]\nenabled = true\nsigning_secret = "s"\nclient_id = "1.2"', "client_id is set but client_secret is not"),
    ('[slack]\nenabled = true\nbot_token = "xoxb-1"\nsocket_mode = true', "socket_mode needs app_token"),
    ('[teams]\nenabled = true\napp_id = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"',
     "[teams]: app_id is set but app_password is not"),
    ('[teams]\nenabled = true\napp_type = "SingleTenant"', "app_type SingleTenant needs tenant_id"),
])
def test_bad_config_names_the_file_and_the_key(tmp_path, body, expected):
    with pytest.raises(ConfigError) as problem:
        _load(tmp_path, body)
    assert "pairbot.toml" in str(problem.value)
    assert expected in str(problem.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nowhere.toml"):
        load_settings(tmp_path / "nowhere.toml", {})


def test_environment_variables_override_and_are_coerced(tmp_path):
    settings = _load(tmp_path, "[server]\nport = 4000\n", {
        "PAIRBOT_SERVER_PORT": "8080", "PAIRBOT_SLACK_SOCKET_MODE": "yes",
        "PAIRBOT_ORGANISATION_COORDINATORS": "U1, rita@example.nhs.uk", "PAIRBOT_CONFIG": "ignored"})
    assert settings.server.port == 8080 and settings.slack.socket_mode is True
    assert settings.organisation.coordinators == ["U1", "rita@example.nhs.uk"]


def test_a_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="environment variable PAIRBOT_SERVER_PORT: expected an integer, got 'x'"):
        _load(tmp_path, "", {"PAIRBOT_SERVER_PORT": "x"})


def test_describe_never_shows_a_secret(tmp_path):
    settings = _load(tmp_path, '[database]\nurl = "postgresql+psycopg://bot:hunter2@db/pairbot"\n',
                     {"PAIRBOT_SLACK_BOT_TOKEN": "xoxb-very-secret"})
    text = describe(settings)
    assert "xoxb-very-secret" not in text and "hunter2" not in text
    assert "bot_token = set" in text and "signing_secret = not set" in text


def test_check_config_command_reports_problems_and_success(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nport = "abc"\n')
    result = CliRunner().invoke(main, ["check-config", str(bad)])
    assert result.exit_code == 1 and "bad.toml: [server] port: expected an integer" in result.output
    result = CliRunner().invoke(main, ["check-config", str(EXAMPLE)])
    assert result.exit_code == 0 and "Config OK." in result.output


def test_the_nation_defaults_to_england_and_is_written_as_people_name_it(tmp_path):
    assert load_settings(EXAMPLE, {}).organisation.nation == "England"
    assert _load(tmp_path, "").organisation.nation == "England"
    assert _load(tmp_path, '[organisation]\nnation = "northern ireland"\n').organisation.nation == "Northern Ireland"
    assert _load(tmp_path, "", {"PAIRBOT_ORGANISATION_NATION": "SCT"}).organisation.nation == "Scotland"


def test_check_config_refuses_a_nation_that_is_not_one_of_the_four(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[organisation]\nnation = "Ireland"\n')
    result = CliRunner().invoke(main, ["check-config", str(bad)])
    assert result.exit_code == 1
    assert "bad.toml: [organisation] nation: 'Ireland' is not a UK nation: use England, Wales, Scotland or " \
           "Northern Ireland." in result.output
    good = tmp_path / "good.toml"
    good.write_text('[organisation]\nnation = "wales"\n')
    result = CliRunner().invoke(main, ["check-config", str(good)])
    assert result.exit_code == 0 and "nation = 'Wales'" in result.output and "Config OK." in result.output


def test_rotation_warnings_come_three_weeks_ahead_unless_the_config_says_otherwise(tmp_path):
    assert load_settings(EXAMPLE, {}).organisation.rotation_warning_weeks == 3
    assert _load(tmp_path, "").organisation.rotation_warning_weeks == 3
    settings = _load(tmp_path, "[organisation]\nrotation_warning_weeks = 5\n")
    assert CoreOptions.from_settings(settings, None).rotation_warning_weeks == 5


def test_check_config_refuses_a_rotation_warning_of_no_weeks(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[organisation]\nrotation_warning_weeks = 0\n")
    result = CliRunner().invoke(main, ["check-config", str(bad)])
    assert result.exit_code == 1
    assert "bad.toml: [organisation] rotation_warning_weeks: 0 is out of range" in result.output
