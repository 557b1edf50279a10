"""What the organisation follows: whose bank holidays (England, Wales, Scotland or Northern
Ireland) meetings and programme steps keep clear of."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.bank_holidays import NationError, bank_holidays_between, parse_nation
from bot.commands.common import OPEN_STATUSES, Call, CommandSpec, Refusal, done
from bot.messages import Message
from bot.models import Cohort, Organisation, StepRun

COMING_UP = timedelta(days=183)
MOVES_SHOWN = 6


def _coming(call: Call, nation: str) -> str:
    today = call.ctx.now.astimezone(ZoneInfo(call.ctx.options.timezone)).date()
    days = bank_holidays_between(today, today + COMING_UP, nation)[:4]
    if not days:
        return "None in the next six months."
    return "Coming up: " + ", ".join(f"{d:%a} {d.day} {d:%b} ({name})" for d, name in days) + "."


def _bank_holidays(call: Call) -> Message:
    organisation = call.session.get(Organisation, call.organisation_id)
    current = call.ctx.nation(call.organisation_id)
    if not call.args:
        whose = "set for your organisation" if organisation.nation else "Pairbot's default"
        return Message(f"Meetings and programme steps keep clear of {current}'s bank holidays ({whose}; change "
                       f"it like 'bank-holidays Scotland'). {_coming(call, current)}", intent="status")
    try:
        nation = parse_nation(" ".join(call.args))
    except NationError as problem:
        raise Refusal(str(problem)) from None
    if nation == current and organisation.nation:
        return Message(f"Your organisation already follows {nation}'s bank holidays. {_coming(call, nation)}",
                       intent="status")
    cohorts = list(call.session.scalars(select(Cohort).where(
        Cohort.organisation_id == call.organisation_id, Cohort.status.in_(OPEN_STATUSES)).order_by(Cohort.id)))
    before = {c.id: {d.step.id: d.due for d in call.ctx.timeline(c)} for c in cohorts}
    organisation.nation = nation
    moves = []
    for cohort in cohorts:
        ran = set(call.session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
        for dated in call.ctx.timeline(cohort):
            was = before[cohort.id][dated.step.id]
            if dated.step.id not in ran and dated.due != was and dated.due > call.ctx.now:
                moves.append(f"• {cohort.name}: {dated.step.id} now {dated.due:%a} {dated.due.day} {dated.due:%b} "
                             f"(was {was:%a} {was.day} {was:%b})")
        call.ctx.cohorts_changed.add(cohort.id)
    call.audit("bank-holidays", f"{nation} (was {current})")
    text = (f"Your organisation now follows {nation}'s bank holidays: no meeting is offered on one, and a "
            f"programme step due on one goes on the next working day. {_coming(call, nation)}")
    if moves:
        more = len(moves) - MOVES_SHOWN
        text += "\nSteps that move:\n" + "\n".join(moves[:MOVES_SHOWN]) + (f"\n• and {more} more" if more > 0 else "")
    return done(text)


COMMANDS = (
    CommandSpec("bank-holidays", ("coordinator",), "whose bank holidays to keep clear (England, Wales, Scotland "
                "or Northern Ireland)", "bank-holidays Scotland", _bank_holidays),
)
