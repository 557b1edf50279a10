"""Typed settings from a TOML file (tomllib) and PAIRBOT_<SECTION>_<KEY> environment variables.

Validated with pydantic at start-up; any problem stops start-up with one message that names the
file (or variable) and the key. Secrets are best kept in the environment, not the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url

from bot.bank_holidays import DEFAULT_NATION, parse_nation
from bot.daytime import DEFAULT_QUIET_HOURS, parse_quiet_hours
from bot.programme import Programme, ProgrammeError, load_programme


class ConfigError(Exception):
    """A configuration problem, phrased for the person who wrote the file."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///pairbot.sqlite"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            make_url(value)
        except Exception:
            raise ValueError(f"'{value}' is not a database URL (e.g. sqlite:///pairbot.sqlite)") from None
        return value


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(3978, ge=1, le=65535)


class SlackSettings(_Section):
    enabled: bool = False
    bot_token: str = ""
    signing_secret: str = ""
    app_token: str = ""
    socket_mode: bool = False
    api_url: str = "https://slack.com/api/"
    client_id: str = ""
    client_secret: str = ""
    scopes: list[str] = []
    # Slack's pace for chat.postMessage: about 1 a second per channel, and "several hundred
    # messages per minute" per workspace (Slack Web API docs, 2026-12).
    seconds_between_sends: float = Field(1.0, ge=0, le=60)
    messages_per_second: float = Field(5.0, gt=0, le=1000)
    # conversations.open and chat.update, Tier 3 methods: "50+ per minute" per workspace.
    tier3_calls_per_minute: float = Field(50.0, gt=0, le=100_000)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' must start with http:// or https://")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _complete(self):
        if not self.enabled:
            return self
        if not self.signing_secret and not self.socket_mode:
            raise ValueError("signing_secret is needed to check that requests come from Slack "
                             "(set PAIRBOT_SLACK_SIGNING_SECRET)")
        if not self.bot_token and not self.client_id:
            raise ValueError("set bot_token (one workspace) or client_id and client_secret (installs through OAuth)")
        if self.client_id and not self.client_secret:
            raise ValueError("client_id is set but client_secret is not (set PAIRBOT_SLACK_CLIENT_SECRET)")
        if self.socket_mode and not self.app_token:
            raise ValueError("socket_mode needs app_token, an app-level token xapp-... (set PAIRBOT_SLACK_APP_TOKEN)")
        return self


class TeamsSettings(_Section):
    enabled: bool = False
    app_id: str = ""
    app_password: str = ""
    tenant_id: str = ""
    app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = "MultiTenant"
    # Microsoft's sign-in service (the bot's tokens for sending) and where the Bot Framework
    # publishes the keys that sign Teams' requests; another cloud, or a test, sets its own.
    login_url: str = "https://login.microsoftonline.com/"
    openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"

    @field_validator("login_url", "openid_metadata_url")
    @classmethod
    def _https(cls, value: str, info) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"'{value}' must start with https://")
        return value if value.endswith("/") or info.field_name != "login_url" else value + "/"

    # Teams' limits for bots (learn.microsoft.com "Rate limiting for bots", 2026-12): per chat 7 in
    # 1 s, 8 in 2 s, 60 in 30 s, 1800 in an hour; 50 requests a second per app per tenant. We send
    # at 45: requests leave on time but arrive with a few ms of jitter, and at exactly 50 about 3%
    # of them landed in a full second and were refused.
    seconds_between_sends: float = Field(0.5, ge=0, le=60)
    messages_per_second: float = Field(45.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _complete(self):
        if self.enabled and self.app_id and not self.app_password and self.app_type != "UserAssignedMSI":
            raise ValueError("app_id is set but app_password is not (set PAIRBOT_TEAMS_APP_PASSWORD)")
        if self.enabled and self.app_type == "SingleTenant" and not self.tenant_id:
            raise ValueError("app_type SingleTenant needs tenant_id")
        return self


class ProgrammeSettings(_Section):
    # The programme new cohorts get (`programme_for_new_cohorts`); empty: the built-in one.
    file: str = ""
    meeting_minutes: int = Field(45, ge=15, le=240)
    # A pair is quiet after the longer of its contract and the programme's spacing, plus this.
    quiet_grace_weeks: int = Field(1, ge=0, le=8)
    # The coordinator hears of a pair still quiet this long after its nudge.
    escalate_weeks_after_nudge: int = Field(1, ge=1, le=8)


class SchedulerSettings(_Section):
    # New cohorts' time zone (unless `cohort create --timezone` names another); coordinator views
    # show a cohort's dates in its zone.
    timezone: str = "Europe/London"
    # Above 1, `pairbot serve` is a rehearsal: programme time runs this many times faster.
    speed: float = Field(1.0, ge=1, le=1_000_000)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a known time zone (e.g. Europe/London)") from None
        return value


class OrganisationSettings(_Section):
    name: str = "My NHS Trust"
    coordinators: list[str] = []
    facilitators: list[str] = []
    # When nudges, reminders and digests wait for morning (each person may set their own).
    quiet_hours: str = DEFAULT_QUIET_HOURS

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_quiet_hours(value)  # QuietHoursError is a ValueError: pydantic reports it with the key
        return value

    # Whose bank holidays meetings and programme steps avoid (each organisation may set its own).
    nation: str = DEFAULT_NATION

    @field_validator("nation")
    @classmethod
    def _nation(cls, value: str) -> str:
        return parse_nation(value)  # NationError is a ValueError, named with the key like quiet_hours

    # Coordinators hear this many weeks ahead that someone rotates to another post or starts leave
    # of two weeks or more (bot/flows/moving_on.py); the pair is offered a meeting before then.
    rotation_warning_weeks: int = Field(3, ge=1, le=12)


class CalendarSettings(_Section):
    # Invitations' UIDs are meeting-<id>@<domain>; empty: the organisation's workspace or tenant id.
    domain: str = ""
    # Who workshop invitations come from (ORGANIZER), and a buddy meeting's when its proposer has
    # no email; empty: the cohort's first coordinator with an email.
    organiser_email: str = ""
    organiser_name: str = "Pairbot"
    # Signs Teams' "Add to calendar" links (HMAC-SHA256), so they cannot be guessed; empty: a key
    # derived from [teams] app_password. Changing it makes links already sent stop working.
    link_secret: str = ""
    # This server's address as people's browsers reach it (behind a proxy or load balancer): where
    # those links point. Empty: http://<[server] host>:<[server] port>.
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' must start with https:// (or http://)")
        return value.rstrip("/")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", value):
            raise ValueError(f"'{value}' is not a domain name (e.g. trust.nhs.uk)")
        return value.lower()

    @field_validator("organiser_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
            raise ValueError(f"'{value}' is not an email address")
        return value


class DeliverySettings(_Section):
    batch_size: int = Field(200, ge=1, le=5000)
    # /healthz says the outbox has fallen behind when a due delivery has waited longer than this.
    behind_after_minutes: int = Field(15, ge=1, le=24 * 60)
    # Sends in flight at once per platform; also the most a crash can make go twice.
    concurrency: int = Field(32, ge=1, le=500)
    # A delivery the platform keeps refusing is retried this long from when it was due, then failed
    # (and the coordinators told).
    give_up_after_hours: int = Field(24, ge=1, le=24 * 14)


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    slack: SlackSettings = SlackSettings()
    teams: TeamsSettings = TeamsSettings()
    programme: ProgrammeSettings = ProgrammeSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    organisation: OrganisationSettings = OrganisationSettings()
    delivery: DeliverySettings = DeliverySettings()
    calendar: CalendarSettings = CalendarSettings()
    source: str | None = None


SECTIONS = [name for name in Settings.model_fields if name != "source"]
SECRETS = {("slack", "bot_token"), ("slack", "signing_secret"), ("slack", "app_token"),
           ("slack", "client_secret"), ("teams", "app_password"), ("calendar", "link_secret")}
_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "a string in quotes",
    "list_type": "a list like [\"a\", \"b\"]", "dict_type": "a [section] table", "model_type": "a [section] table",
}


def _describe_error(error: dict, where: str) -> str:
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    section, key = (loc + ["", ""])[:2]
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        if len(loc) == 1:
            return f"{where}: unknown section or key '{section}' (known sections: {', '.join(SECTIONS)})"
        known = ", ".join(k for k in Settings.model_fields[section].annotation.model_fields)
        return f"{where}: [{section}] unknown key '{'.'.join(loc[1:])}' (known keys: {known})"
    name = f"[{section}] {'.'.join(loc[1:])}" if key else f"[{section}]"
    if kind in _EXPECTED:
        return f"{where}: {name}: expected {_EXPECTED[kind]}, got {given!r}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{where}: {name}: {given!r} is out of range ({error['msg'].lower()})"
    if kind == "literal_error":
        return f"{where}: {name}: {given!r} is not allowed ({error['msg'].replace('Input should be', 'expected')})"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {name}: {message}"


def _coerce(raw: str, annotation: Any, variable: str) -> Any:
    text = raw.strip()
    try:
        if annotation is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError("true or false")
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
        if annotation == list[str]:
            return [part.strip() for part in text.split(",") if part.strip()]
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}[annotation]
        raise ConfigError(f"environment variable {variable}: expected {expected}, got {raw!r}") from None
    return raw


def _from_environment(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        model = Settings.model_fields[section].annotation
        for key, field in model.model_fields.items():
            variable = f"PAIRBOT_{section}_{key}".upper()
            if variable in env:
                values.setdefault(section, {})[key] = _coerce(env[variable], field.annotation, variable)
    return values


def load_settings(path: str | os.PathLike | None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        file = Path(path)
        where = str(path)
        if not file.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as problem:
            raise ConfigError(f"{where}: not valid TOML: {problem}") from None
    for section, values in _from_environment(env).items():
        if not isinstance(data.get(section, {}), dict):
            continue
        data.setdefault(section, {}).update(values)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as problem:
        raise ConfigError("\n".join(_describe_error(e, where) for e in problem.errors())) from None
    return settings.model_copy(update={"source": str(path) if path else None})


def programme_for_new_cohorts(settings: Settings) -> Programme | None:
    """The programme `[programme] file` names, read and checked; None for the built-in one."""
    path = settings.programme.file
    if not path:
        return None
    try:
        return load_programme(path)
    except ProgrammeError as problem:
        where = settings.source or "the config"
        raise ConfigError(f"{where}: [programme] file = {path!r} cannot be used:\n{problem}") from None


def default_settings() -> Settings:
    return Settings()


def describe(settings: Settings) -> str:
    """A summary for `pairbot check-config`; secrets only as set / not set."""
    lines = [f"Config from {settings.source or 'built-in defaults'}"]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for key, value in getattr(settings, section).model_dump().items():
            if (section, key) in SECRETS:
                shown = "set" if value else "not set"
            elif section == "database" and key == "url":
                shown = make_url(value).render_as_string(hide_password=True)
            else:
                shown = repr(value)
            lines.append(f"  {key} = {shown}")
    return "\n".join(lines)
