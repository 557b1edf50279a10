"""Coordinator commands, one grammar for every platform (Slack's /pairbot, Teams chat, the console).

Every command names the roles that may run it; anyone else gets a polite refusal that changes
nothing. A command that cannot be done as asked says why and writes nothing: each one runs in its
own savepoint, and what it queued to send is dropped with it."""

from __future__ import annotations

import difflib
import shlex

from bot.commands import answers, cohorts, organisation, pairing, people, privacy, reporting, rota, steering, workshops
from bot.commands.common import Call, CommandSpec, Refusal, as_typed_on_a_phone, roles
from bot.context import FlowContext
from bot.events import Command
from bot.messages import Message
from bot.models import Person

__all__ = ["COMMAND_WORDS", "PARTICIPANT_HELP", "REGISTRY", "Call", "CommandSpec", "Refusal", "help_message",
           "roles", "run"]

PARTICIPANT_HELP = (
    "I'm Pairbot, and I help you and your buddy keep meeting. Answer my questions with the buttons "
    "or by typing the number. You can also send:\n"
    "• availability Mon 12:00-14:00, Thu 17:00-18:00 (when you could usually meet)\n"
    "• rota nights 1 in 4 from 11 Jan, leave 1-5 Mar, rotate 7 Apr (your shifts, leave and when you move "
    "post; or send your rota's calendar file with the message 'rota')\n"
    "• my-answers (your survey answers; change one with 'answer pre 3 4' while the survey is open)\n"
    "• my-data (a copy of what I hold about you), forget-me (erase it)\n"
    "• quiet-hours 08:00-16:00 (when nudges and reminders wait; for night shifts)\n"
    "• help (this message)"
)


def _help(call: Call) -> Message:
    return help_message(call.ctx, call.caller)


REGISTRY: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec("help", (), "what you can do", "help", _help),
        *cohorts.COMMANDS,
        *people.COMMANDS,
        *pairing.COMMANDS,
        *steering.COMMANDS,
        *reporting.COMMANDS,
        *privacy.COMMANDS,
        *answers.COMMANDS,
        *rota.COMMANDS,
        *workshops.COMMANDS,
        *organisation.COMMANDS,
    )
}
# First words that start a command (Teams tells commands from chat by them).
COMMAND_WORDS = frozenset(name.split()[0] for name in REGISTRY)


def help_message(ctx: FlowContext, person: Person | None) -> Message:
    """What this person can do: the participant's guide, then the commands their roles allow."""
    held = roles(ctx, person)
    allowed = [c for c in REGISTRY.values() if not c.roles or held.intersection(c.roles)]
    lines = [f"• {c.example}: {c.summary}" for c in allowed]
    return Message(f"{PARTICIPANT_HELP}\n\nCommands you can use:\n" + "\n".join(lines), intent="help")


def _spec_for(words: list[str]) -> tuple[CommandSpec | None, int]:
    if len(words) >= 2 and f"{words[0]} {words[1]}".lower() in REGISTRY:
        return REGISTRY[f"{words[0]} {words[1]}".lower()], 2
    return REGISTRY.get(words[0].lower()), 1


def _unknown(words: list[str]) -> Message:
    typed = " ".join(words[:2]).lower()
    near = difflib.get_close_matches(typed, REGISTRY, n=1, cutoff=0.6) or \
        difflib.get_close_matches(words[0].lower(), REGISTRY, n=1, cutoff=0.6)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    return Message(f"I don't know the command '{words[0]}'.{hint} Send 'help' for the list.", intent="error")


def _mistyped_subcommand(words: list[str]) -> str | None:
    """'pair confrim' would otherwise run 'pair' for a cohort called "confrim"."""
    subcommands = [name for name in REGISTRY if name.startswith(f"{words[0].lower()} ")]
    near = difflib.get_close_matches(f"{words[0]} {words[1]}".lower(), subcommands, n=1, cutoff=0.8)
    return near[0] if near else None


def run(ctx: FlowContext, event: Command, person: Person | None, trusted: bool = False) -> Message:
    """Run a command for `person`; `trusted` (the console operator) skips the role check."""
    try:
        words = shlex.split(as_typed_on_a_phone(event.text))
    except ValueError as problem:
        what = "it ends with a backslash" if "escaped" in str(problem) else "a quotation mark is not closed"
        return Message(f"I couldn't read that command: {what}.", intent="error")
    if not words:
        words = ["help"]
    spec, used = _spec_for(words)
    if spec is None:
        return _unknown(words)
    if used == 1 and len(words) > 1 and (typo := _mistyped_subcommand(words)):
        return Message(f"I don't know '{words[0]} {words[1]}'. Did you mean '{typo}'? Send 'help' for the list.",
                       intent="error")
    if spec.roles and not trusted and not roles(ctx, person).intersection(spec.roles):
        who = " or ".join(f"{r}s" for r in spec.roles)
        return Message(f"Sorry, '{spec.name}' is for {who} of this programme. Send 'help' to see what you "
                       f"can do.", intent="refused")
    queued = (len(ctx.outgoing), len(ctx.wakeups), set(ctx.cohorts_changed))
    savepoint = ctx.session.begin_nested()
    try:
        reply = spec.run(Call(ctx, person, words[used:], event))
    except Refusal as refusal:
        savepoint.rollback()
        del ctx.outgoing[queued[0]:], ctx.wakeups[queued[1]:]
        ctx.cohorts_changed.intersection_update(queued[2])
        return Message(str(refusal), intent="error")
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return reply
