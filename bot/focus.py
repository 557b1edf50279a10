"""Conversation focus: a person answers one thing at a time.

Buttons carry their own reference, so a click can answer any open question whenever it comes.
Typed text has no reference, so it is routed here:

- A question asked in chat (availability, a survey or contract question, a reflection without a
  form) waits its turn while another chat question is open: its message is held on the prompt and
  sent when the one before it is answered (`hold_and_release`, run as each unit of work commits).
- Typed text answers the chat question in focus when it fits it. Otherwise it goes to the one open
  question it fits; a short answer such as "2" or "yes" only ever counts for the question in focus.
- When it fits more than one, the person is asked which, with a button per question.
- Text that fits nothing is kept (a `TypedNote`), and the person is told what the bot is waiting for.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from bot import outbox
from bot.flows import (contract, group_meeting, meeting, moving_on, profile, project, reflection, rota_questions,
                       survey)
from bot.flows.base import choice
from bot.messages import Choice, Message
from bot.models import Participant, Person, Prompt, TypedNote

if TYPE_CHECKING:
    from bot.context import FlowContext

FLOW = "focus"

# Flow name (the part of an action before ':') -> module with on_click / on_text / on_form.
FLOWS = {
    "meeting": meeting,
    "reflection": reflection,
    "survey": survey,
    "contract": contract,
    "group": group_meeting,
    "profile": profile,
    "project": project,
    "rota": rota_questions,
    moving_on.FLOW: moving_on,
}

# A question left unanswered this long stops holding the next one back: ignoring one question
# must not stop the programme (the older one stays open and can still be answered).
HOLD_AT_MOST = timedelta(days=1)
# A question left unanswered this long before the one in focus no longer competes for typed text.
LEFT_ASIDE = timedelta(days=7)
# A question settled this recently explains a late answer to it.
SETTLED_LATELY = timedelta(days=14)

# Short replies that stand for a button: they only ever count for the question in focus.
_SHORT_ANSWER = re.compile(r"^(?:[0-9]{1,2}|y|n|yes|no|maybe|not sure|skip|ok|none)$")


def cleaned(text: str) -> str:
    return text.strip().rstrip(".!").strip().lower()


def is_chat_question(prompt: Prompt) -> bool:
    """A question answered by typing in the chat (not a button or a form)."""
    return prompt.asks_in_chat


def match_choice(prompt: Prompt, text: str) -> Choice | None:
    """A typed answer that names one of the prompt's buttons, by its label or its number."""
    options = [Choice(**c) for c in prompt.state.get("choices", [])]
    typed = cleaned(text)
    for option in options:
        if typed == option.label.lower():
            return option
    if re.fullmatch(r"[0-9]{1,2}", typed) and not prompt.state.get("free_text"):
        if options and all(o.label.isdecimal() for o in options):
            return next((o for o in options if o.label == typed), None)
        index = int(typed)
        if 1 <= index <= len(options):
            return options[index - 1]
    return None


def _names_a_choice(prompt: Prompt, text: str) -> bool:
    picked = match_choice(prompt, text)
    return picked is not None and cleaned(text) == picked.label.lower()


def _short(text: str) -> bool:
    return bool(_SHORT_ANSWER.match(cleaned(text)))


def _fits(ctx: FlowContext, prompt: Prompt, text: str, in_focus: bool) -> bool:
    if not in_focus and not _takes_text(prompt):
        # Buttons out of focus take their own label typed in full ("Spotted one"); a bare "2" could
        # be for them too, but `route` then asks rather than take it.
        picked = match_choice(prompt, text)
        return picked is not None and (_short(text) or cleaned(text) == picked.label.lower())
    if match_choice(prompt, text) is not None:
        return True
    module = FLOWS.get(prompt.flow)
    accepts = getattr(module, "accepts", None)
    return bool(accepts and accepts(ctx, _who(ctx, prompt), prompt, text))


def _takes_text(prompt: Prompt) -> bool:
    """Whether a question takes words (not only a choice of buttons)."""
    return prompt.flow in ("profile", "rota", "survey", "contract", "reflection")


def _who(ctx: FlowContext, prompt: Prompt) -> Participant:
    return ctx.session.get(Participant, prompt.participant_id)


def describe(ctx: FlowContext, prompt: Prompt) -> str:
    """What a question is about, in a few words, for "which question?" and "I'm waiting for"."""
    module = FLOWS.get(prompt.flow)
    about = getattr(module, "about", None)
    return about(ctx, prompt) if about else prompt.flow


def open_prompts(ctx: FlowContext, person: Person) -> list[Prompt]:
    """The person's open questions, the one asked last first."""
    return list(ctx.session.scalars(
        select(Prompt).join(Participant, Participant.id == Prompt.participant_id)
        .where(Participant.person_id == person.id, Prompt.status == "open")
        .order_by(Prompt.asked_at.desc(), Prompt.id.desc())
    ))


def _current(ctx: FlowContext, prompt: Prompt) -> bool:
    """Whether its moment has not passed (an invitation to a workshop that is over has)."""
    still_open = getattr(FLOWS.get(prompt.flow), "still_open", None)
    return still_open is None or still_open(ctx, prompt)


def answer(ctx: FlowContext, prompt: Prompt, text: str) -> Message:
    """Give typed text to one question."""
    who = _who(ctx, prompt)
    module = FLOWS[prompt.flow]
    picked = match_choice(prompt, text)
    if picked is not None:
        return module.on_click(ctx, who, picked.action.partition(":")[2], picked.value)
    return module.on_text(ctx, who, prompt, text)


def route(ctx: FlowContext, person: Person, text: str, help_text: str) -> Message:
    """Typed text from a person's own conversation: answer the question it is meant for."""
    prompts = open_prompts(ctx, person)
    if not any(_names_a_choice(p, text) for p in prompts):
        settled = _settled_choice_reply(ctx, person, text)
        if settled is not None:
            return settled  # "Yes, we met", typed after a buddy had answered it: never a reflection
    # A question whose moment has passed (a workshop that is over) is never the one in focus, but
    # it still competes for text meant for it: if chosen, its flow says what it is now.
    focus = next((p for p in prompts if _current(ctx, p)), None)
    fitting = [p for p in prompts if _fits(ctx, p, text, in_focus=p is focus)]
    if focus is not None and focus in fitting and is_chat_question(focus) and all(
            p is focus or p.asked_at < focus.asked_at - LEFT_ASIDE for p in fitting):
        # The question just asked, over others left unanswered for more than a week before it.
        return answer(ctx, focus, text)
    if len(fitting) == 1 and _short(text) and (fitting[0].state or {}).get("mode") == "form":
        # A bare "1" beside a form: forms are not answered by typing, so it may well be meant for
        # a question the person saw earlier; ask rather than take it.
        return _ask_which(ctx, person, text, fitting)
    if len(fitting) == 1 and (fitting[0] is focus or not _short(text)):
        chosen = fitting[0]
        reply = answer(ctx, chosen, text)
        if chosen is focus:
            return reply
        return _prefixed(reply, f"I took that as {describe(ctx, chosen)}.")
    if fitting:
        # Several questions could take it, or a bare "2" or "yes" would answer one not in focus.
        return _ask_which(ctx, person, text, fitting)
    _keep(ctx, person, text)
    settled = None if _short(text) else _settled_reply(ctx, person)
    if settled is not None:
        return settled  # words for a question a buddy has since settled, not for the one in focus
    if focus is not None:
        return answer(ctx, focus, text)  # the flow says what it expected and asks again
    return Message(f"I'm not waiting for an answer from you just now, but I've kept what you wrote.\n{help_text}",
                   intent="help")


def _settled_choice_reply(ctx: FlowContext, person: Person, text: str) -> Message | None:
    """Text that names a button of a question settled lately (by a buddy, say): say so, and keep it."""
    for recent in ctx.session.scalars(
            select(Prompt).join(Participant, Participant.id == Prompt.participant_id)
            .where(Participant.person_id == person.id, Prompt.status.in_(("answered", "closed")),
                   Prompt.answered_at > ctx.now - SETTLED_LATELY)
            .order_by(Prompt.answered_at.desc(), Prompt.id.desc()).limit(20)):
        if not _names_a_choice(recent, text):
            continue
        settled = getattr(FLOWS.get(recent.flow), "settled", None)
        reply = settled(ctx, _who(ctx, recent), recent) if settled else None
        if reply is None:
            return None
        _keep(ctx, person, text)
        return Message(f"{reply} I've kept what you wrote.", intent="already")
    return None


def _settled_reply(ctx: FlowContext, person: Person) -> Message | None:
    """Nothing fits, but a question was settled lately (a buddy recorded the contract or noted the
    project, a meeting was confirmed): say so, rather than re-ask something else or say nothing was asked."""
    recent = ctx.session.scalars(
        select(Prompt).join(Participant, Participant.id == Prompt.participant_id)
        .where(Participant.person_id == person.id, Prompt.status.in_(("answered", "closed")),
               Prompt.answered_at > ctx.now - SETTLED_LATELY)
        .order_by(Prompt.answered_at.desc(), Prompt.id.desc())).first()
    module = FLOWS.get(recent.flow) if recent is not None else None
    settled = getattr(module, "settled", None)
    reply = settled(ctx, _who(ctx, recent), recent) if settled else None
    if reply is None:
        return None
    return Message(f"{reply} I've kept what you wrote.", intent="already")


def _listing(ctx: FlowContext, prompts: list[Prompt]) -> str:
    about = list(dict.fromkeys(describe(ctx, p) for p in prompts[:4]))
    return about[0] if len(about) == 1 else ", ".join(about[:-1]) + " and " + about[-1]


def _prefixed(reply: Message, note: str) -> Message:
    return Message(f"{note}\n{reply.text}", choices=reply.choices, form=reply.form, links=reply.links,
                   intent=reply.intent)


def _keep(ctx: FlowContext, person: Person, text: str, status: str = "kept") -> TypedNote:
    note = TypedNote(person_id=person.id, text=text[:4000], status=status, received_at=ctx.now)
    ctx.session.add(note)
    ctx.session.flush()
    return note


def _quote(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= 40 else one_line[:39] + "…"


def _ask_which(ctx: FlowContext, person: Person, text: str, fitting: list[Prompt]) -> Message:
    note = _keep(ctx, person, text, status="asked")
    options = tuple(choice(_label(describe(ctx, p)), FLOW, "pick", note.id, p.id) for p in fitting[:4])
    options += (choice("Neither", FLOW, "pick", note.id, 0),)
    return Message(f"Which question is “{_quote(text)}” your answer to?", choices=options, intent="which_question")


def _label(about: str) -> str:
    text = about[0].upper() + about[1:]
    return text if len(text) <= 75 else text[:74] + "…"  # Slack's longest button text


def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    if verb != "pick":
        raise LookupError(f"unknown action '{verb}'")
    note_id, _, prompt_id = value.partition(":")
    note = ctx.session.get(TypedNote, int(note_id))
    if note is None or note.person_id != who.person_id:
        raise LookupError("that question is not one I asked you.")
    if note.status != "asked":
        return Message(f"Already done: I took “{_quote(note.text)}” as {note.taken_for or 'a note'}.", intent="ack")
    prompt = ctx.session.get(Prompt, int(prompt_id or 0)) if prompt_id != "0" else None
    if prompt is None:
        note.status = "kept"
        waiting = open_prompts(ctx, who.person)
        tail = f" I'm waiting for {_listing(ctx, waiting)}." if waiting else ""
        return Message(f"OK, I've kept what you wrote and taken it for nothing.{tail}", intent="ack")
    if prompt.status != "open":
        note.status = "kept"
        return Message(f"That question has been answered already, so I've kept “{_quote(note.text)}” as a note.",
                       intent="ack")
    about = describe(ctx, prompt)
    note.status, note.taken_for, note.prompt_id = "taken", about[:200], prompt.id
    return _prefixed(answer(ctx, prompt, note.text), f"I took that as {about}.")


# --- questions wait their turn -------------------------------------------------------------------
def hold_and_release(ctx: FlowContext) -> None:
    """Before a unit of work commits: a chat question sent to someone who already has one open waits
    (its message is kept on the prompt); someone whose chat questions are all answered gets the
    oldest waiting one."""
    _hold(ctx)
    _release(ctx)


def _hold(ctx: FlowContext) -> None:
    queued = {id(item) for item in ctx.outgoing}  # a refused command drops what it queued
    asked = [(item, prompt) for item, prompt in ctx.questions
             if id(item) in queued and prompt.status == "open" and is_chat_question(prompt)]
    ctx.questions.clear()
    if not asked:
        return
    ctx.session.flush()
    participant_ids = {prompt.participant_id for _item, prompt in asked}
    person_of = {}
    for chunk in _chunks(sorted(participant_ids)):
        person_of.update(ctx.session.execute(select(Participant.id, Participant.person_id)
                                             .where(Participant.id.in_(chunk))).all())
    new_ids = {prompt.id for _item, prompt in asked}
    busy: dict[int, set[tuple[str, int | None]]] = {}
    for chunk in _chunks(sorted(set(person_of.values()))):
        for person_id, other in ctx.session.execute(
                select(Participant.person_id, Prompt).join(Participant, Participant.id == Prompt.participant_id)
                .where(Participant.person_id.in_(chunk), Prompt.status == "open",
                       Prompt.asked_at > ctx.now - HOLD_AT_MOST)):
            if other.id not in new_ids and other.asks_in_chat:
                busy.setdefault(person_id, set()).add((other.flow, other.ref_id))
    held = set()
    for item, prompt in asked:
        person_id = person_of[prompt.participant_id]
        others = busy.get(person_id, set()) - {(prompt.flow, prompt.ref_id)}
        if not others:
            busy.setdefault(person_id, set()).add((prompt.flow, prompt.ref_id))
            continue
        prompt.status = "waiting"
        prompt.state = {**prompt.state, "held": {
            "key": item.key, "recipient": item.recipient.to_dict(), "message": item.message.to_dict(),
            "cohort_id": item.cohort_id, "intent": item.intent,
            "available_at": item.available_at.isoformat() if item.available_at else None}}
        held.add(id(item))
    if held:
        ctx.outgoing[:] = [item for item in ctx.outgoing if id(item) not in held]


def pending_prompts(ctx: FlowContext, cohort_id: int, flows: tuple[str, ...]) -> list[tuple[Prompt, str]]:
    """For the daily sweep, in one query: the cohort's questions held back (any flow), and those
    of `flows` still open, each with its participant's status."""
    return list(ctx.session.execute(
        select(Prompt, Participant.status).join(Participant, Participant.id == Prompt.participant_id)
        .where(Participant.cohort_id == cohort_id, Prompt.status.in_(("open", "waiting")),
               or_(Prompt.status == "waiting", Prompt.flow.in_(flows)))
        .order_by(Prompt.id)).all())


def release_stale(ctx: FlowContext, pending: list[tuple[Prompt, str]]) -> None:
    """From the daily sweep (`pending`: see pending_prompts): questions held behind one that has
    gone unanswered for a day go out."""
    ctx.answered_participants.update(prompt.participant_id for prompt, _ in pending if prompt.status == "waiting")


def _release(ctx: FlowContext) -> None:
    if not ctx.answered_participants:
        return
    ctx.session.flush()
    answered = sorted(ctx.answered_participants)
    ctx.answered_participants.clear()
    from bot.messages import Recipient

    # Their people's open and waiting prompts, in one query per chunk (this runs on every answer).
    of_person: dict[int, list[Prompt]] = {}
    for chunk in _chunks(answered):
        people = select(Participant.person_id).where(Participant.id.in_(chunk)).scalar_subquery()
        for person_id, prompt in ctx.session.execute(
                select(Participant.person_id, Prompt).join(Participant, Participant.id == Prompt.participant_id)
                .where(Participant.person_id.in_(people), Prompt.status.in_(("open", "waiting")))
                .order_by(Prompt.id)):
            of_person.setdefault(person_id, []).append(prompt)
    for person_id in sorted(of_person):
        prompts = of_person[person_id]
        if any(p.status == "open" and is_chat_question(p) and p.asked_at > ctx.now - HOLD_AT_MOST for p in prompts):
            continue
        waiting = next((p for p in prompts if p.status == "waiting"), None)
        if waiting is None:
            continue
        held = waiting.state.get("held") or {}
        waiting.status, waiting.asked_at = "open", ctx.now
        waiting.state = {k: v for k, v in waiting.state.items() if k != "held"}
        if held:
            ctx.outgoing.append(outbox.Outgoing(
                key=held["key"], recipient=Recipient.from_dict(held["recipient"]),
                message=Message.from_dict(held["message"]), cohort_id=held.get("cohort_id"),
                intent=held.get("intent", ""), available_at=_later_of(ctx.now, held.get("available_at"))))


def _later_of(now, iso: str | None):
    from datetime import datetime

    return max(now, datetime.fromisoformat(iso)) if iso else None


def _chunks(values: list, size: int = 500):
    for start in range(0, len(values), size):
        yield values[start:start + size]
