"""`rota`: anyone enrolled can say their shifts, leave and rotation date, or attach their rota's
.ics file, at any time; `rota` alone shows what is held (bot/flows/rota_questions.py)."""

from __future__ import annotations

from bot.commands.common import Call, CommandSpec
from bot.flows import rota_questions
from bot.messages import Message


def _rota(call: Call) -> Message:
    if call.caller is None:
        return Message("I don't know you yet: ask your programme coordinator to enrol you.", intent="unknown_person")
    return rota_questions.command(call.ctx, call.caller, " ".join(call.args), call.event.uploads)


COMMANDS = (
    CommandSpec("rota", (), "your shifts, leave and rotation date (or attach your rota's calendar file)",
                "rota nights 1 in 4 from 11 Jan, leave 1-5 Mar, rotate 7 Apr", _rota),
)
