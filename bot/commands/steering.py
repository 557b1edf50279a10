"""Steering a cohort while it runs: start, pause and resume (a cohort, or one person until a
date), and nudging a pair."""

from __future__ import annotations

from sqlalchemy import func, select

from bot import reach
from bot.commands.common import (
    Call, CommandSpec, Refusal, current_pair, done, find_cohort, find_pair, find_participant, named_profile,
    need, options, pair_label, parse_date,
)
from bot.context import active_members, names
from bot.flows.base import choice
from bot.messages import Message
from bot.models import Pair, Participant
from bot.commands.pairing import unpaired
from bot.flows import absence
from bot.dates import short_date


def _names_person(call: Call, token: str) -> bool:
    return named_profile(call, token) is not None or "@" in token.strip("<>@") or token in call.event.unknown


def _start(call: Call) -> Message:
    cohort = find_cohort(call, " ".join(call.args) or None)
    if cohort.status == "running":
        return Message(f"{cohort.name} is already running.", intent="status")
    if cohort.status == "paused":
        raise Refusal(f"{cohort.name} is paused: use 'resume' to carry on.")
    people = call.session.scalar(select(func.count()).select_from(Participant).where(
        Participant.cohort_id == cohort.id, Participant.status == "active")) or 0
    if people == 0:
        raise Refusal(f"{cohort.name} has nobody enrolled yet: enrol people (or import a CSV) first.")
    cohort.status = "running"
    call.ctx.cohorts_changed.add(cohort.id)
    call.audit("start", cohort.name)
    text = f"Started {cohort.name}: {people} people; steps go out on the programme's dates from " \
           f"{short_date(cohort.start_date, weekday=True, year=True)} (steps already due go out now)."
    proposed = call.session.scalar(select(func.count()).select_from(Pair).where(
        Pair.cohort_id == cohort.id, Pair.status == "proposed")) or 0
    waiting = len(unpaired(call, cohort))
    if proposed:
        text += f" {proposed} proposed pairs are not confirmed yet ('pair confirm')."
    if waiting:
        text += f" {waiting} people are not in a confirmed pair; they get surveys and workshops, not pair steps."
    return done(text)


def _pause(call: Call) -> Message:
    words, opts = options(call.args, ("cohort",))
    if words and _names_person(call, words[0]):
        return _pause_person(call, words, opts.get("cohort"))
    cohort = find_cohort(call, " ".join(words) or opts.get("cohort"))
    if cohort.status != "running":
        raise Refusal(f"{cohort.name} is {cohort.status}, not running, so there is nothing to pause.")
    cohort.status = "paused"
    call.ctx.cohorts_changed.add(cohort.id)
    call.audit("pause", cohort.name)
    return done(f"Paused {cohort.name}: no programme steps, nudges or reminders go out until you 'resume'. "
                f"People can still answer what they already have.")


def _pause_person(call: Call, words: list[str], cohort_name: str | None) -> Message:
    if len(words) != 3 or words[1].lower() != "until":
        raise Refusal("Usage: pause PERSON until YYYY-MM-DD (or 'pause' for the whole cohort)")
    cohort = find_cohort(call, cohort_name)
    who = find_participant(call, cohort, words[0])
    back = parse_date(words[2], "return date")
    today = call.ctx.now.date()
    if back <= today:
        raise Refusal(f"{short_date(back, year=True)} is not in the future; give the date {who.person.name} is back.")
    if who.status == "removed":
        raise Refusal(f"{who.person.name} was removed from {cohort.name}.")
    who.status, who.paused_until = "paused", back
    pair = current_pair(call, who)
    call.ctx.send_to(who, Message(f"Your coordinator has paused your programme messages until {short_date(back, weekday=True)}. "
                                  f"Nothing is needed from you until then.", intent="paused"),
                     f"pause:{who.id}:{call.ctx.now.isoformat()}", cohort.id)
    text = f"Paused {who.person.name} until {short_date(back, weekday=True, year=True)}; they are resumed that day, or earlier with 'resume'."
    if pair is not None:
        rest = [m for m in active_members(pair) if m.id != who.id]
        if len(rest) >= 2:
            text += f" {names(rest)} carry on as a group meanwhile."
        elif rest:
            text += f" {names(rest)} gets no pair steps until then (the pair's meetings wait)."
    call.audit("pause", f"{who.person.name} until {back.isoformat()} in {cohort.name}")
    return done(text)


def _resume(call: Call) -> Message:
    words, opts = options(call.args, ("cohort",))
    if words and _names_person(call, words[0]):
        cohort = find_cohort(call, opts.get("cohort"))
        who = find_participant(call, cohort, words[0])
        if who.status != "paused":
            raise Refusal(f"{who.person.name} is {who.status}, not paused.")
        absence.resume(call.ctx, who, cohort.id)
        call.audit("resume", f"{who.person.name} in {cohort.name}")
        if not who.person.reachable:
            return done(f"{who.person.name} is back in {cohort.name}, but I can't reach them at the moment (they "
                        f"left the workspace or turned off the app), so steps reach them again once they write "
                        f"to me. {reach.pair_outlook(call.ctx, who)}")
        return done(f"{who.person.name} is back in {cohort.name}; they get the programme's steps again.")
    cohort = find_cohort(call, " ".join(words) or opts.get("cohort"))
    if cohort.status != "paused":
        raise Refusal(f"{cohort.name} is {cohort.status}, not paused.")
    cohort.status = "running"
    call.ctx.cohorts_changed.add(cohort.id)
    call.audit("resume", cohort.name)
    return done(f"Resumed {cohort.name}. Steps that fell due during the pause go out now, once each.")


def _nudge(call: Call) -> Message:
    words, opts = options(call.args, ("cohort",))
    need(words, 1, "nudge PAIR (#number or any member)")
    cohort = find_cohort(call, opts.get("cohort"))
    pair = find_pair(call, cohort, words[0])
    if pair.status != "active":
        raise Refusal(f"{pair_label(pair)} is only proposed; confirm it before nudging.")
    members = reach.reachable(active_members(pair))
    if not members:
        raise Refusal(f"Nobody in {pair_label(pair)} can be reached just now.")
    today = call.ctx.now.date().isoformat()
    message = Message("A friendly nudge from your programme coordinator: have you found a time to meet this "
                      "month? I can suggest some.", choices=(choice("Suggest times", "meeting", "propose", pair.id),),
                      intent="coordinator_nudge")
    for member in members:
        call.ctx.send_to(member, message, f"pair:{pair.id}:coordinator-nudge:{today}:to:{member.id}", cohort.id)
    pair.nudged_at = call.ctx.now
    call.audit("nudge", f"{pair_label(pair)} in {cohort.name}")
    return done(f"Nudged {names(members)} (at most once a day per pair).")


COMMANDS = (
    CommandSpec("start", ("coordinator",), "start a cohort's timeline", "start \"Spring 2027\"", _start),
    CommandSpec("pause", ("coordinator",), "pause a cohort, or one person until a date",
                "pause @asha until 2027-03-01", _pause),
    CommandSpec("resume", ("coordinator",), "resume a paused cohort or person", "resume @asha", _resume),
    CommandSpec("nudge", ("coordinator",), "nudge a pair to meet", "nudge @asha", _nudge),
)
