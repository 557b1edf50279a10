"""Asking for someone's rota so a junior doctor can answer on a phone in a minute: after their
usual free times, "Do you work shifts?" with a button per answer, then at most two short typed
follow-ups (the pattern, then leave and the rotation date), each with an example. Anyone can also
send 'rota ...' at any time, with their rota's .ics file attached to import it, and 'rota' alone
to see what is held."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from bot import rota
from bot.context import FlowContext
from bot.events import Upload
from bot.flows.base import choice, choices_state
from bot.messages import Message
from bot.models import Cohort, Participant, Person, Prompt
from bot.rota_file import RotaFileError, read_calendar
from bot.rota_text import EXAMPLE, RotaChange, RotaError, applied, parse_rota
from bot.dates import short_date

FLOW = "rota"
ANSWERS = (  # button label -> what it stands for
    ("No, regular days", "regular"),
    ("Nights sometimes", "nights"),
    ("Long days", "long_days"),
    ("Weekends", "weekends"),
    ("I'll send my rota file", "file"),
)
PATTERN_EXAMPLES = {
    "nights": "'nights 1 in 4 from 11 Jan' (I'll take Mon-Thu 20:00-08:30 unless you say, "
              "like 'nights Fri-Sun 21:00-09:00 1 in 4 from 15 Jan')",
    "long_days": "'long days 1 in 3 from 11 Jan' (I'll take Mon-Fri 08:00-20:30 unless you say, "
                 "like 'long days Tue, Thu')",
    "weekends": "'weekends 1 in 3 from 16 Jan' (I'll take Sat-Sun 08:00-20:30 unless you say other hours)",
}
LEAVE_QUESTION = "Any leave booked, or a date you move post? Reply like 'leave 1-5 Mar, rotate 7 Apr', or 'none'."
HOW_TO_CHANGE = "Change it any time with 'rota ...'; send 'rota' to see it."
OPEN_COHORTS = ("draft", "running", "paused")
PUT_ASIDE_AFTER = timedelta(days=7)


# --- the questions -----------------------------------------------------------------------------------
def ask_after_availability(ctx: FlowContext, who: Participant) -> Message | None:
    """"Do you work shifts?", the first time someone gives their free times in enrolment."""
    if who.rota_plan is not None or ctx.session.scalars(
            select(Prompt.id).where(Prompt.participant_id == who.id, Prompt.flow == FLOW)).first() is not None:
        return None
    options = tuple(choice(label, FLOW, "shifts", who.id, answer) for label, answer in ANSWERS)
    ctx.open_prompt(who, FLOW, who.id, step="shifts", choices=choices_state(options))
    return Message("Do you work shifts? I'll keep meeting times clear of them.", choices=options,
                   intent="rota_question")


def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    participant_id, _, answer = value.partition(":")
    if verb != "shifts" or participant_id != str(who.id) or answer not in {a for _label, a in ANSWERS}:
        raise LookupError("that button is not one I know.")
    prompt = _open(ctx, who, "shifts")
    if prompt is None and who.rota_plan is not None:
        return Message(f"You've told me already. Your rota: {rota.plan_of(who).describe()}. {HOW_TO_CHANGE}",
                       intent="already")
    if prompt is not None:  # else it was put aside unanswered (close_stale): the button still works
        ctx.settle(prompt)
    if answer == "regular":
        rota.store(who, rota.plan_of(who).as_regular_days())
        return _ask_leave(ctx, who, "Thanks: regular days, so I'll go by your usual free times.")
    if answer == "file":
        return _ask_leave(ctx, who, "Please send your rota file here with the message 'rota': the calendar "
                                    "(.ics) that your e-rostering app exports.\nMeanwhile:")
    ctx.open_prompt(who, FLOW, who.id, step="pattern", kind=answer)
    return Message(f"Which {rota.KINDS[answer].label}? Reply like {PATTERN_EXAMPLES[answer]}.", intent="rota_question")


def on_text(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> Message:
    step = (prompt.state or {}).get("step")
    try:
        change = parse_rota(text, _today(ctx, who))
    except RotaError as problem:
        example = PATTERN_EXAMPLES.get((prompt.state or {}).get("kind"), f"'{EXAMPLE}'") if step == "pattern" \
            else "'leave 1-5 Mar, rotate 7 Apr', or 'none'" if step == "leave" else f"'{EXAMPLE}'"
        return Message(f"Sorry, I couldn't read that: {problem}. For example: {example}.", intent="reask")
    if change.nothing and step == "shifts":
        # A bare "no" may be meant for something else; the button (or "regular days") says it.
        return Message("Tap 'No, regular days' if you don't work shifts, or reply like 'nights 1 in 4 from 11 Jan'.",
                       intent="reask")
    ctx.settle(prompt)
    plan = _apply(ctx, who, change)
    if change.nothing or step == "leave" or change.leave or change.rotates:
        return _done(plan, "Thanks." if change.nothing else "Thanks, got it.")
    return _ask_leave(ctx, who, f"Got it: {plan.describe()}.")


def accepts(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> bool:
    try:
        change = parse_rota(text, _today(ctx, who))
    except RotaError:
        return False
    if change.nothing and (prompt.state or {}).get("step") == "shifts":
        return False
    return change.says_anything and not change.clear


def close_stale(ctx: FlowContext, pending: list[tuple[Prompt, str]]) -> None:
    """From the daily sweep (`pending`: the cohort's open prompts, bot/focus.pending_prompts): rota
    questions unanswered for a week are put aside, so words meant for something else weeks later
    are not taken for them ('rota ...' and the buttons still work)."""
    for prompt, _status in pending:
        if prompt.flow == FLOW and prompt.status == "open" and prompt.asked_at is not None \
                and prompt.asked_at < ctx.now - PUT_ASIDE_AFTER:
            ctx.settle(prompt, "closed")


def about(ctx: FlowContext, prompt: Prompt) -> str:
    step = (prompt.state or {}).get("step")
    if step == "pattern":
        return f"your {rota.KINDS.get((prompt.state or {}).get('kind'), rota.KINDS['nights']).label}"
    if step == "leave":
        return "your leave and rotation date"
    return "whether you work shifts"


# --- 'rota ...' at any time ----------------------------------------------------------------------------
def command(ctx: FlowContext, person: Person, text: str, uploads: tuple[Upload, ...] = ()) -> Message:
    """'rota' shows theirs; 'rota nights 1 in 4 from 11 Jan, leave 1-5 Mar' changes it; an .ics
    attached is imported; 'rota clear' starts again."""
    members = _memberships(ctx, person)
    if not members:
        raise LookupError("you are not enrolled in a cohort at the moment.")
    who = members[0]
    files = [u for u in uploads if u.name.lower().endswith((".ics", ".ical", ".ifb", ".icalendar"))
             or len(uploads) == 1]
    if not text.strip() and not files:
        plan = rota.plan_of(who)
        if who.rota_plan is None or (plan.is_empty and plan.works_shifts is None):
            return Message(f"I have no rota for you yet. Tell me like 'rota {EXAMPLE}', or send your rota file (.ics) "
                           f"with the message 'rota'.", intent="rota")
        return Message(f"Your rota: {plan.describe()}.\nChange it like 'rota {EXAMPLE}', send your rota file (.ics) "
                       f"with the message 'rota', or 'rota clear' to start again.", intent="rota")
    today = _today(ctx, who)
    try:
        change = parse_rota(text, today) if text.strip() else RotaChange()
    except RotaError as problem:
        return Message(f"Sorry, I couldn't read that: {problem}. For example: 'rota {EXAMPLE}'.", intent="reask")
    lines = []
    if files:
        try:
            imported = read_calendar(files[0].name, files[0].text, rota.zone_of(who), today)
        except RotaFileError as problem:
            return Message(str(problem), intent="error")
        plan = rota.plan_of(who).with_file(imported.shifts, imported.leave, files[0].name, today)
        for member in members:
            rota.store(member, plan)
        lines.append(_imported_text(files[0].name, imported))
    plan = _apply(ctx, who, change, members)
    for prompt in _open_prompts(ctx, members):
        ctx.settle(prompt)  # they have told me; no follow-up needed
    if change.clear:
        return Message(f"Done: I've cleared your rota. Tell me again like 'rota {EXAMPLE}'.", intent="ack")
    lines.append(f"Your rota is now: {plan.describe()}.")
    return Message("\n".join(lines) + "\n" + _promise(plan), intent="ack")


# --- helpers -----------------------------------------------------------------------------------------
def _apply(ctx: FlowContext, who: Participant, change: RotaChange,
           members: list[Participant] | None = None) -> rota.RotaPlan:
    plan = applied(rota.plan_of(who), change)
    for member in members or [who]:
        rota.store(member, plan)
    return plan


def _ask_leave(ctx: FlowContext, who: Participant, lead: str) -> Message:
    ctx.open_prompt(who, FLOW, who.id, step="leave")
    return Message(f"{lead}\n{LEAVE_QUESTION}", intent="rota_question")


def _done(plan: rota.RotaPlan, lead: str) -> Message:
    return Message(f"{lead} Your rota: {plan.describe()}.\n{_promise(plan)}", intent="ack")


def _promise(plan: rota.RotaPlan) -> str:
    """What the bot will do with it, in a line."""
    nights = any(p.kind == "nights" for p in plan.patterns) or any(s.kind == "nights" for s in plan.shifts)
    keeps = "your shifts, your leave" + (" or the 46 hours after a run of nights" if nights else "")
    if plan.patterns or plan.shifts or plan.leave:
        return f"I won't suggest meeting times in {keeps}. {HOW_TO_CHANGE}"
    return HOW_TO_CHANGE


def _imported_text(name: str, imported) -> str:
    shifts = imported.shifts
    text = f"I read {len(shifts)} shift{'s' if len(shifts) != 1 else ''}"
    if shifts:
        text += f" ({short_date(min(s.start for s in shifts))} to {short_date(max(s.end for s in shifts), year=True)})"
    if imported.leave:
        text += f" and {len(imported.leave)} spell{'s' if len(imported.leave) != 1 else ''} of leave"
    text += f" from {name}."
    if imported.more_than_kept:
        text += f" It has more than {len(shifts)}: I kept the first {len(shifts)}; send a shorter export later."
    if imported.left_out:
        text += (f" {imported.left_out} other entr{'ies' if imported.left_out != 1 else 'y'} (rest days, all-day "
                 f"notes, cancelled or free time) I left out.")
    return text


def _open(ctx: FlowContext, who: Participant, step: str) -> Prompt | None:
    return next((p for p in _open_prompts(ctx, [who]) if (p.state or {}).get("step") == step), None)


def _open_prompts(ctx: FlowContext, members: list[Participant]) -> list[Prompt]:
    return list(ctx.session.scalars(select(Prompt).where(
        Prompt.participant_id.in_([m.id for m in members]), Prompt.flow == FLOW, Prompt.status == "open")))


def _memberships(ctx: FlowContext, person: Person) -> list[Participant]:
    """Their memberships of cohorts still going, newest first (a rota is the person's, in each)."""
    return list(ctx.session.scalars(
        select(Participant).join(Cohort, Cohort.id == Participant.cohort_id)
        .where(Participant.person_id == person.id, Cohort.status.in_(OPEN_COHORTS),
               Participant.status.in_(("active", "paused")))
        .order_by(Participant.id.desc())))


def _today(ctx: FlowContext, who: Participant) -> date:
    return ctx.now.astimezone(rota.zone_of(who)).date()
