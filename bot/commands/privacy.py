"""A person's own data: `my-data` (a copy of everything held about them) and `forget-me`
(erasure, after a confirmation). Anyone may run these, about themselves only."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from bot import privacy
from bot.commands.common import Call, CommandSpec, Refusal
from bot.messages import Document, Message
from bot.models import RoleGrant


def _my_data(call: Call) -> Message:
    if call.caller is None or call.caller.id is None:
        return Message("I hold nothing about you.", intent="my_data")
    data = privacy.personal_data(call.session, call.caller)
    call.audit("my-data", "a copy of their data")
    return Message("Here is everything Pairbot holds about you, as a JSON file. To have it erased, send "
                   "'forget-me'.", intent="my_data",
                   document=Document(f"pairbot-my-data-{call.ctx.now:%Y%m%d}.json", "application/json",
                                     json.dumps(data, indent=2, ensure_ascii=False)))


def _forget_me(call: Call) -> Message:
    if call.caller is None:
        return Message("I hold nothing about you.", intent="status")
    return Message("This erases your profile, your answers, your reflections and the messages I sent you. What "
                   "your programme counts (meetings your pair held, how many finished a survey) stays, without "
                   "your name. It cannot be undone. To go ahead, send 'forget-me confirm'.", intent="forget_me")


def _forget_me_confirm(call: Call) -> Message:
    if call.caller is None:
        return Message("I hold nothing about you.", intent="status")
    coordinators = call.session.scalar(select(func.count()).select_from(RoleGrant).where(
        RoleGrant.organisation_id == call.organisation_id, RoleGrant.role == "coordinator"))
    mine = call.session.scalar(select(RoleGrant.id).where(RoleGrant.person_id == call.caller.id,
                                                          RoleGrant.role == "coordinator"))
    if mine is not None and coordinators <= 1:
        raise Refusal("You are the only coordinator here: make someone else a coordinator first "
                      "('coordinator add'), then send 'forget-me confirm' again.")
    removed = privacy.erase(call.session, call.caller, call.ctx.now)
    counts = ", ".join(f"{n} {what}" for what, n in removed.items() if n) or "your profile"
    return Message(f"Done: I have erased your personal data ({counts}). Goodbye, and thank you for taking part.",
                   intent="forgotten")


COMMANDS = (
    CommandSpec("my-data", (), "a copy of everything Pairbot holds about you", "my-data", _my_data),
    CommandSpec("forget-me", (), "erase your personal data (asks you to confirm)", "forget-me", _forget_me),
    CommandSpec("forget-me confirm", (), "erase your personal data now", "forget-me confirm", _forget_me_confirm),
)
