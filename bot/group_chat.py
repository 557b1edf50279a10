"""What the bot does with an event from a group conversation (a pair's group chat, a channel): other
people read there, so nothing personal is answered, saved or shown in it.

- Typed text never answers a personal question and is never saved: remarks between buddies are
  theirs, and get no reply. Only a greeting to the bot gets a line saying where to find it.
- Personal commands (survey answers, a copy of one's data, erasure) run as if sent in the person's
  own chat: their answer goes there through the outbox, and the group sees a short pointer.
- Buttons carry their own reference and work as anywhere else ("did you meet?" in the pair's
  chat), except on personal questions (reflections, surveys), which are answered in private.
"""

from __future__ import annotations

import dataclasses
import hashlib

from bot import commands, outbox
from bot.context import FlowContext
from bot.events import Clicked, Command, InboundEvent, Said, Submitted
from bot.messages import Message, Recipient
from bot.models import Person

POINTER = "I've sent you that in our private chat."
GREETING = ("I'm Pairbot. I keep what is yours to our private chat: message me there, and send 'help' "
            "to see what I can do.")
PERSONAL_QUESTION = ("That question is just for you, so I only take its answer in our private chat. "
                     "Please answer it there.")
# Commands whose answer is about the person alone (their answers, their data, its erasure, their rota).
PERSONAL_COMMANDS = frozenset({"my-answers", "answer", "my-data", "forget-me", "rota"})
# Flows whose questions are personal: what is written there is private by default.
PERSONAL_FLOWS = frozenset({"reflection", "survey"})
GREETINGS = frozenset({"help", "?", "hi", "hello"})


def from_group(event: InboundEvent) -> bool:
    return bool(getattr(event, "in_group", False))


def handle(ctx: FlowContext, event: InboundEvent, person: Person | None) -> list[Message] | None:
    """The replies to show in the group for an event from it; None when the event goes on as it
    would from the person's own chat (a button on a pair's message)."""
    if isinstance(event, Said):
        words = event.text.strip().lower().split()
        return [Message(GREETING, intent="help")] if words and words[0] in GREETINGS else []
    if isinstance(event, Command):
        first = event.text.strip().split(" ", 1)[0].lower()
        if first not in PERSONAL_COMMANDS:
            return None
        reply = commands.run(ctx, dataclasses.replace(event, in_group=False), person)
        _to_own_chat(ctx, event, reply)
        return [Message(POINTER, intent="pointer")]
    if isinstance(event, (Clicked, Submitted)):
        reference = event.action if isinstance(event, Clicked) else event.form
        if reference.partition(":")[0] in PERSONAL_FLOWS:
            return [Message(PERSONAL_QUESTION, intent="error")]
        return None
    return []


def _to_own_chat(ctx: FlowContext, event: Command, reply: Message) -> None:
    """The command's answer, to the person alone. A file keeps the command that made it, for
    platforms that make the file again when the person accepts it (Teams)."""
    if reply.document is not None and not reply.document.command:
        reply = dataclasses.replace(reply, document=dataclasses.replace(reply.document, command=event.text.strip()))
    asked = event.event_id or f"{ctx.now.isoformat()}:{hashlib.sha1(event.text.encode()).hexdigest()[:8]}"
    ctx.outgoing.append(outbox.Outgoing(key=f"private:{event.who.key()}:{asked}"[:200],
                                        recipient=Recipient.person(event.who), message=reply,
                                        intent=reply.intent))
