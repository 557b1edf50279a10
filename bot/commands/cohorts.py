"""Cohort commands: create, list, show, and moving the timeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from bot import enrolment
from bot.commands.common import Call, CommandSpec, Refusal, done, find_cohort, need, options, parse_date
from bot.messages import Message
from bot.models import Cohort, Organisation, Pair, Participant, StepRun
from bot.programme import Programme, ProgrammeError, default_programme, parse_programme
from bot.dates import short_date

CREATE_USAGE = "cohort create NAME --start YYYY-MM-DD [--programme FILE] [--timezone Europe/London]"
MAX_SHIFT_WEEKS = 26


def _programme(call: Call, name: str | None) -> Programme:
    """The configured (or built-in) programme, or the programme file attached to the command (at
    the console, the file named is attached by the console itself)."""
    if not name:
        return call.ctx.options.programme or default_programme()
    upload = next((u for u in call.event.uploads if u.name == name or Path(u.name).name == name), None)
    if upload is None:
        raise Refusal(f"Attach the programme file '{name}' to the message that has the command.")
    try:
        return parse_programme(upload.text, upload.name)
    except ProgrammeError as problem:
        raise Refusal(f"The programme file has problems, so no cohort was created:\n{problem}") from None


def _create(call: Call) -> Message:
    words, opts = options(call.args, ("start", "programme", "timezone"))
    if not words or "start" not in opts:
        raise Refusal(f"Usage: {CREATE_USAGE}")
    name = " ".join(words)
    if len(name) > 200:
        raise Refusal("A cohort name can have at most 200 characters.")
    start = parse_date(opts["start"], "start date")
    zone = opts.get("timezone") or call.ctx.options.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refusal(f"'{zone}' is not a time zone I know: use a name like Europe/London.") from None
    taken = call.session.scalars(select(Cohort).where(Cohort.organisation_id == call.organisation_id,
                                                      func.lower(Cohort.name) == name.lower())).first()
    if taken is not None:
        raise Refusal(f"There is already a cohort called '{taken.name}'; choose another name.")
    programme = _programme(call, opts.get("programme"))
    org = call.session.get(Organisation, call.organisation_id)
    cohort = enrolment.create_cohort(call.session, org, name, start, programme, zone, call.ctx.now)
    call.audit("cohort create", f"{name}, start {start.isoformat()}, {programme.name} ({programme.source})")
    first = call.ctx.timeline(cohort)[0].due if programme.steps else None
    extra = f" Its first step is due {short_date(first, weekday=True, year=True)}." if first else ""
    return done(f"Created {cohort.name} ({programme.name}, {len(programme.steps)} steps, starting "
                f"{short_date(start, weekday=True, year=True)}, {zone}). It is a draft: enrol people, pair them, then 'start'.{extra}")


def _list(call: Call) -> Message:
    cohorts = list(call.session.scalars(select(Cohort).where(Cohort.organisation_id == call.organisation_id)
                                        .order_by(Cohort.start_date, Cohort.id)))
    if not cohorts:
        return Message("There are no cohorts yet: create one with 'cohort create NAME --start YYYY-MM-DD'.",
                       intent="status")
    counts = dict(call.session.execute(
        select(Participant.cohort_id, func.count()).where(Participant.status != "removed")
        .group_by(Participant.cohort_id)).all())
    lines = [f"• {c.name}: {c.status}, starts {short_date(c.start_date, year=True)}, {counts.get(c.id, 0)} people"
             for c in cohorts]
    return Message("Cohorts:\n" + "\n".join(lines), intent="status")


def _show(call: Call) -> Message:
    cohort = find_cohort(call, " ".join(call.args) or None, open_only=False)
    programme = Programme.from_dict(cohort.programme)
    people = dict(call.session.execute(
        select(Participant.role, func.count()).where(Participant.cohort_id == cohort.id,
                                                     Participant.status != "removed")
        .group_by(Participant.role)).all())
    pairs = dict(call.session.execute(select(Pair.status, func.count()).where(Pair.cohort_id == cohort.id)
                                      .group_by(Pair.status)).all())
    ran = set(call.session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
    upcoming = [(d.due, d.step) for d in call.ctx.timeline(cohort) if d.step.id not in ran]
    lines = [
        f"{cohort.name}: {cohort.status}; starts {short_date(cohort.start_date, weekday=True, year=True)} ({cohort.timezone})",
        f"Programme: {programme.name}, {len(programme.steps)} steps, {len(ran)} done",
        "People: " + (", ".join(f"{n} {role}s" for role, n in sorted(people.items())) or "none yet"),
        f"Pairs: {pairs.get('active', 0)} active, {pairs.get('proposed', 0)} proposed",
        f"Department preference for matching: {cohort.settings.get('department_mode', 'different')}",
    ]
    if upcoming:
        lines.append("Next: " + "; ".join(f"{short_date(due)} {s.intent}" for due, s in upcoming[:3]))
    return Message("\n".join(lines), intent="status")


def _shift(call: Call) -> Message:
    need(call.args, 1, "timeline shift WEEKS [COHORT] (WEEKS may be negative, e.g. -1)")
    try:
        weeks = int(call.args[0])
    except ValueError:
        raise Refusal(f"'{call.args[0]}' is not a whole number of weeks.") from None
    if weeks == 0 or abs(weeks) > MAX_SHIFT_WEEKS:
        raise Refusal(f"Shift by 1 to {MAX_SHIFT_WEEKS} weeks, forwards or back (e.g. 2 or -1).")
    cohort = find_cohort(call, " ".join(call.args[1:]) or None)
    ran = set(call.session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
    new_start = cohort.start_date + timedelta(weeks=weeks)
    due_now = [d.step for d in call.ctx.timeline(cohort, start=new_start)
               if d.step.id not in ran and d.due <= call.ctx.now]
    cohort.start_date = new_start
    call.ctx.cohorts_changed.add(cohort.id)
    call.audit("timeline shift", f"{cohort.name} by {weeks} weeks, start now {new_start.isoformat()}")
    text = (f"Moved {cohort.name}'s steps that have not run yet by {weeks} week{'s' if abs(weeks) != 1 else ''}: "
            f"the programme now counts from {short_date(new_start, weekday=True, year=True)}. Steps already done stay done.")
    if due_now and cohort.status == "running":
        text += " These are now due and will go out at once: " + ", ".join(s.id for s in due_now) + "."
    return done(text)


COMMANDS = (
    CommandSpec("cohort create", ("coordinator",), "create a cohort (a draft until you start it)",
                "cohort create \"Spring 2027\" --start 2027-03-01", _create),
    CommandSpec("cohort list", ("coordinator", "facilitator"), "every cohort, with its status", "cohort list",
                _list),
    CommandSpec("cohort show", ("coordinator", "facilitator"), "one cohort's programme, people and pairs",
                "cohort show \"Spring 2027\"", _show),
    CommandSpec("timeline shift", ("coordinator",), "move the steps still to come by some weeks",
                "timeline shift 2", _shift),
)
