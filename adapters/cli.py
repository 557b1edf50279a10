"""The `pairbot` command: the composition root that wires the core, the timeline and the adapters.

click gives us sub-commands, help text and argument errors that name the bad option."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

CONFIG_HELP = "Config file (TOML). Default: $PAIRBOT_CONFIG, else ./pairbot.toml if present, else built-in defaults."


def _load_settings(config_path: str | None):
    import os

    from bot.config import ConfigError, load_settings

    path = config_path or os.environ.get("PAIRBOT_CONFIG")
    if path is None and Path("pairbot.toml").exists():
        path = "pairbot.toml"
    try:
        return load_settings(path)
    except ConfigError as problem:
        raise click.ClickException(str(problem)) from None


@click.group()
def main() -> None:
    """Pairbot runs paired learning programmes for clinicians and managers in Slack and Teams."""


@main.command()
@click.option("--seconds", default=25.0, show_default=True, help="Wall-clock seconds for the whole programme.")
@click.option("--everyone", is_flag=True, help="Show every participant's conversation, not a selection.")
def demo(seconds: float, everyone: bool) -> None:
    """Run a whole programme for 12 made-up people at high speed, on SQLite, with a transcript."""
    from adapters.console.demo import main as run

    if not 3 <= seconds <= 600:
        raise click.BadParameter("must be between 3 and 600", param_hint="--seconds")
    run(click.echo, seconds=seconds, everyone=everyone)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def serve(config_path: str | None, log_level: str) -> None:
    """Run Pairbot: the web server for Slack (and Teams), the programme timeline and delivery."""
    import asyncio
    import logging

    from adapters.runtime import StartupError, serve as run

    settings = _load_settings(config_path)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(settings))
    except StartupError as problem:
        raise click.ClickException(str(problem)) from None


@main.command("teams-package")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--out", default=".", show_default=True, type=click.Path(file_okay=True),
              help="Folder for the zip (or a path ending in .zip).")
@click.option("--developer-url", required=True,
              help="https:// address of your organisation's page about Pairbot (shown in Teams' app details).")
@click.option("--domain", "domains", multiple=True, help="A domain the app may open (repeatable).")
def teams_package(config_path: str | None, out: str, developer_url: str, domains: tuple[str, ...]) -> None:
    """Build the zip a Teams admin uploads: manifest.json with the bot id from [teams] app_id, and icons."""
    from adapters.teams.package import build_package

    settings = _load_settings(config_path)
    try:
        path = build_package(settings.teams.app_id, Path(out), developer_url=developer_url, valid_domains=domains)
    except ValueError as problem:
        raise click.ClickException(str(problem)) from None
    click.echo(f"Teams app package written to {path}. Upload it in the Teams admin centre (Manage apps > Upload).")


@main.command("check-config")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def check_config(path: str | None) -> None:
    """Validate a config file (and the programme file it names) and print what it sets (secrets
    shown only as set / not set)."""
    from bot.config import ConfigError, describe, programme_for_new_cohorts

    settings = _load_settings(path)
    click.echo(describe(settings))
    try:
        programme_for_new_cohorts(settings)
    except ConfigError as problem:
        raise click.ClickException(str(problem)) from None
    click.echo("Config OK.")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--database", help="A database URL, overriding the config.")
def db_upgrade(config_path: str | None, database: str | None) -> None:
    """Bring the database schema up to date (Alembic)."""
    from bot import migrate
    from bot.db import Database

    url = database or _load_settings(config_path).database.url
    store = Database(url)
    before = migrate.current_revision(store.engine)
    migrate.upgrade(store.engine)
    after = migrate.current_revision(store.engine)
    click.echo(f"Database at revision {after}" + (" (already up to date)" if before == after else f" (was {before})"))


@main.group()
def programme() -> None:
    """Programme files."""


def _parse_date(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date like 2026-01-05") from None


@programme.command("show")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--start", callback=_parse_date, help="The cohort's start date (YYYY-MM-DD). Default: next Monday.")
@click.option("--timezone", "tz_name", default="Europe/London", show_default=True)
@click.option("--nation", "nation_name", default="England", show_default=True,
              help="Whose bank holidays to keep clear: England, Wales, Scotland or Northern Ireland.")
def programme_show(file: str | None, start: date | None, tz_name: str, nation_name: str) -> None:
    """Print a programme's timeline with real dates and each group meeting's date, time and place
    (FILE defaults to the built-in programme); what falls on a bank holiday is moved to the next
    working day and marked."""
    from datetime import timedelta

    from bot.bank_holidays import NationError, parse_nation
    from bot.programme import ProgrammeError, default_programme, load_programme, render_timeline

    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"'{tz_name}' is not a known time zone", param_hint="--timezone") from None
    try:
        nation = parse_nation(nation_name)
    except NationError as problem:
        raise click.BadParameter(str(problem), param_hint="--nation") from None
    try:
        loaded = load_programme(file) if file else default_programme()
    except ProgrammeError as problem:
        raise click.ClickException(str(problem)) from None
    if start is None:
        today = date.today()
        start = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    click.echo(render_timeline(loaded, start, tz, nation=nation))


def _core_on(config_path: str | None, database: str | None):
    """The core on the configured database, for console commands (no platform, no timeline: what a
    command changes reaches the running server's timeline through the database, within seconds). New
    cohorts get the configured programme and time zone, as in `pairbot serve`."""
    from bot import migrate
    from bot.clock import SystemClock
    from bot.config import ConfigError, programme_for_new_cohorts
    from bot.context import CoreOptions
    from bot.core import Pairbot
    from bot.db import Database

    settings = _load_settings(config_path)
    try:
        programme = programme_for_new_cohorts(settings)
    except ConfigError as problem:
        raise click.ClickException(str(problem)) from None
    store = Database(database or settings.database.url)
    if not migrate.is_up_to_date(store.engine):
        raise click.ClickException(f"the database at {store.engine.url.render_as_string(hide_password=True)} "
                                   f"has no Pairbot schema or an old one: run 'pairbot db upgrade' first")
    options = CoreOptions.from_settings(settings, programme)
    return Pairbot(store, SystemClock(), options=options)


def _operate(core, text: str, files: tuple[str, ...], organisation: str | None) -> None:
    import getpass
    import shlex

    from bot.events import Upload

    try:
        words = shlex.split(text)
    except ValueError:
        words = []  # the core names the unclosed quotation mark
    # A programme file named in the command is attached, as a chat user would attach it.
    named = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--programme"]
    uploads = []
    for path in (*files, *named):
        try:
            uploads.append(Upload(path, Path(path).read_text(encoding="utf-8-sig")))
        except (OSError, UnicodeDecodeError) as problem:
            raise click.ClickException(f"cannot read {path}: {problem}") from None
    try:
        reply = core.operate(text, tuple(uploads), organisation, getpass.getuser())
    except LookupError as problem:
        raise click.ClickException(str(problem)) from None
    click.echo(reply.text)
    if reply.document is not None:
        target = Path(reply.document.name)
        target.write_text(reply.document.content, encoding="utf-8")
        click.echo(f"Wrote {target}")
    if reply.intent in ("error", "refused"):
        raise SystemExit(1)


@main.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--file", "files", multiple=True, type=click.Path(dir_okay=False),
              help="Attach a file (a CSV for 'import'); repeatable.")
@click.option("--organisation", help="The organisation (name or workspace id) when there is more than one.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--database", help="A database URL, overriding the config.")
def command(words: tuple[str, ...], files: tuple[str, ...], organisation: str | None, config_path: str | None,
            database: str | None) -> None:
    """Run a coordinator command as in chat, e.g. pairbot command pair confirm. Quote names with
    spaces: pairbot command 'cohort create "Spring 2027" --start 2027-03-01'."""
    _operate(_core_on(config_path, database), " ".join(words), files, organisation)


@main.command()
@click.argument("cohort", required=False)
@click.option("--organisation", help="The organisation (name or workspace id) when there is more than one.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--database", help="A database URL, e.g. sqlite:///pairbot-demo.sqlite")
def status(cohort: str | None, organisation: str | None, config_path: str | None, database: str | None) -> None:
    """The cohort at a glance (the newest cohort unless COHORT names one)."""
    import shlex

    _operate(_core_on(config_path, database), "status" + (f" {shlex.quote(cohort)}" if cohort else ""), (),
             organisation)


@main.command()
@click.argument("cohort")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for report.html and the CSVs.")
@click.option("--organisation", help="The organisation (name or workspace id) when there is more than one.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--database", help="A database URL, overriding the config.")
def report(cohort: str, out: str, organisation: str | None, config_path: str | None, database: str | None) -> None:
    """Write COHORT's evaluation: report.html (self-contained, charts inside) and CSVs of its figures."""
    from sqlalchemy import func, select

    from bot.evaluation.report import write_report
    from bot.evaluation.results import cohort_results
    from bot.models import Cohort, Organisation

    core = _core_on(config_path, database)
    with core.db.session() as session:
        query = select(Cohort).join(Organisation, Organisation.id == Cohort.organisation_id) \
            .where(func.lower(Cohort.name) == cohort.lower())
        if organisation:
            query = query.where((func.lower(Organisation.name) == organisation.lower())
                                | (Organisation.workspace == organisation))
        found = list(session.scalars(query))
        if len(found) != 1:
            names = ", ".join(sorted(set(session.scalars(select(Cohort.name))))) or "none yet"
            raise click.ClickException(f"no cohort called {cohort!r} (cohorts: {names})" if not found else
                                       f"more than one organisation has a cohort called {cohort!r}: "
                                       f"name one with --organisation")
        results = cohort_results(session, found[0])
    for path in write_report(results, Path(out)):
        click.echo(f"Wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
