"""The pair contract: goals, how often to meet, a shadowing plan and confidentiality.

Any member may fill it in for the pair; in chat it is asked one question at a time."""

from __future__ import annotations

from sqlalchemy import select

from bot.capabilities import FORMS
from bot import reach
from bot.context import FlowContext, active_members, names
from bot.flows.base import StepInfo, choice, choices_state, fill
from bot.messages import Field, Form, Message
from bot.models import Cohort, Contract, Pair, Participant, Prompt

FLOW = "contract"
FREQUENCIES = ("weekly", "fortnightly", "monthly")
QUESTIONS = (
    ("goals", "What do you each want to get out of the programme? (a sentence or two)", "text", ()),
    ("frequency", "How often will you meet?", "choice", FREQUENCIES),
    ("shadowing_plan", "What will you shadow, and roughly when? (e.g. 'ward round in March, a capacity meeting in April')",
     "text", ()),
    ("confidentiality", "Do you agree to keep what you share with each other confidential?", "choice", ("yes", "no")),
)


def _contract(ctx: FlowContext, pair: Pair) -> Contract:
    contract = ctx.session.scalars(select(Contract).where(Contract.pair_id == pair.id)).first()
    if contract is None:
        contract = Contract(pair_id=pair.id)
        ctx.session.add(contract)
        ctx.session.flush()
    return contract


def _form(pair: Pair) -> Form:
    return Form(id=f"{FLOW}:{pair.id}", title="Our pair contract",
                fields=tuple(Field(q, label, kind, options=opts) for q, label, kind, opts in QUESTIONS),
                submit_label="Save contract")


def start(ctx: FlowContext, cohort: Cohort, pair: Pair, step: StepInfo) -> int:
    members = active_members(pair)
    if len(members) < 2 or _contract(ctx, pair).completed_at:
        return 0
    sent = 0
    for member in members:
        others = [m for m in members if m.id != member.id]
        lead = fill(step.text, first_name=member.person.first_name, buddy_names=names(others),
                    cohort=cohort.name, week=step.week) + reach.note_for(others)
        key = f"step:{cohort.id}:{step.step_id}:participant:{member.id}"
        if ctx.capabilities.has(member.person.platform, FORMS):
            ctx.open_prompt(member, FLOW, pair.id, mode="form")
            ctx.send_to(member, Message(f"{lead}\nOne of you can fill it in for both.", form=_form(pair),
                                        intent="contract"), key)
        else:
            message, asked = _ask(ctx, member, pair, f"{lead}\nOne of you can answer for both.")
            ctx.send_to(member, message, key, asks=asked)
        sent += 1
    return sent


def _pending_fields(contract: Contract) -> list[tuple]:
    pending = [q for q in QUESTIONS if q[0] != "confidentiality" and not getattr(contract, q[0])]
    if contract.completed_at is None:
        pending.append(QUESTIONS[-1])
    return pending


def _question(ctx: FlowContext, member: Participant, pair: Pair, lead: str = "") -> Message:
    return _ask(ctx, member, pair, lead)[0]


def _ask(ctx: FlowContext, member: Participant, pair: Pair, lead: str = "") -> tuple[Message, Prompt]:
    """The next contract question, and the prompt it opened."""
    contract = _contract(ctx, pair)
    pending = _pending_fields(contract)
    field_id, label, kind, options = pending[0]
    choices = tuple(choice(o, FLOW, "answer", pair.id, field_id, o) for o in options)
    ctx.close_prompts(FLOW, pair.id, [member.id])
    prompt = ctx.open_prompt(member, FLOW, pair.id, field=field_id, choices=choices_state(choices))
    text = "\n".join(p for p in (lead, f"Contract: {label}") if p)
    return Message(text, choices=choices, intent="contract_question"), prompt


def _set(ctx: FlowContext, who: Participant, pair: Pair, field_id: str, raw: str) -> str | None:
    """Store one answer; returns a problem to re-ask with, or None."""
    raw = raw.strip()
    contract = _contract(ctx, pair)
    if field_id == "frequency":
        if raw.lower() not in FREQUENCIES:
            return f"Please answer with one of: {', '.join(FREQUENCIES)}."
        contract.frequency = raw.lower()
    elif field_id == "confidentiality":
        if raw.lower() not in ("yes", "no"):
            return "Please answer yes or no."
        contract.confidentiality = raw.lower() == "yes"
        contract.completed_by = who.id
        contract.completed_at = ctx.now
    elif field_id in ("goals", "shadowing_plan"):
        if not raw:
            return "Please write a few words."
        setattr(contract, field_id, raw[:4000])
    else:
        raise LookupError(f"unknown contract question '{field_id}'")
    return None


def _summary(contract: Contract) -> str:
    return (f"Goals: {contract.goals}\nMeeting: {contract.frequency}\nShadowing plan: {contract.shadowing_plan}\n"
            f"Confidentiality agreed: {'yes' if contract.confidentiality else 'no'}")


def _finish(ctx: FlowContext, who: Participant, pair: Pair) -> Message:
    contract = _contract(ctx, pair)
    ctx.close_prompts(FLOW, pair.id, status="answered")
    for other in active_members(pair):
        if other.id != who.id:
            ctx.send_to(other, Message(f"{who.person.name} recorded your pair contract:\n{_summary(contract)}",
                                       intent="contract_done"), f"contract:{pair.id}:done:to:{other.id}")
    return Message(f"Contract saved and shared with your buddy:\n{_summary(contract)}", intent="contract_done")


def _pair_of(ctx: FlowContext, who: Participant, pair_id: int) -> Pair:
    pair = ctx.session.get(Pair, pair_id)
    member_ids = {m.participant_id for m in pair.members} if pair else set()
    if pair is None or who.id not in member_ids:
        raise LookupError("That contract belongs to another pair.")
    return pair


def _answer(ctx: FlowContext, who: Participant, pair: Pair, field_id: str, raw: str) -> Message:
    contract = _contract(ctx, pair)
    if contract.completed_at:
        return Message(f"Your contract is already recorded:\n{_summary(contract)}", intent="ack")
    problem = _set(ctx, who, pair, field_id, raw)
    if problem:
        again = _question(ctx, who, pair)
        return Message(f"{problem}\n{again.text}", choices=again.choices, intent="reask")
    if contract.completed_at:
        return _finish(ctx, who, pair)
    return _question(ctx, who, pair)


def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    pair_id, field_id, raw = value.split(":", 2)
    return _answer(ctx, who, _pair_of(ctx, who, int(pair_id)), field_id, raw)


def _field_for(ctx: FlowContext, pair: Pair, prompt: Prompt) -> str | None:
    if prompt.state.get("mode") == "form":
        pending = _pending_fields(_contract(ctx, pair))
        return pending[0][0] if pending else None
    return prompt.state.get("field")


def on_text(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> Message:
    pair = _pair_of(ctx, who, prompt.ref_id)
    field_id = _field_for(ctx, pair, prompt)
    if field_id is None:
        return _answer(ctx, who, pair, "confidentiality", text)
    # Typed instead of using the form: the text answers the first open question, then chat goes on.
    return _answer(ctx, who, pair, field_id, text)


def accepts(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> bool:
    pair = ctx.session.get(Pair, prompt.ref_id)
    field_id = _field_for(ctx, pair, prompt) if pair else None
    typed = text.strip().lower()
    if field_id == "frequency":
        return typed in FREQUENCIES
    if field_id == "confidentiality":
        return typed in ("yes", "no")
    return field_id is not None and bool(typed)


def settled(ctx: FlowContext, who: Participant, prompt: Prompt) -> str | None:
    """A late answer to a contract a buddy has already recorded."""
    pair = ctx.session.get(Pair, prompt.ref_id)
    contract = ctx.session.scalars(select(Contract).where(Contract.pair_id == pair.id)).first() if pair else None
    if contract is None or contract.completed_at is None:
        return None
    by = ctx.session.get(Participant, contract.completed_by) if contract.completed_by else None
    whom = "you" if by is not None and by.id == who.id else (by.person.name if by is not None else "your pair")
    return f"Your pair contract is already recorded (by {whom}):\n{_summary(contract)}\n"


def about(ctx: FlowContext, prompt: Prompt) -> str:
    pair = ctx.session.get(Pair, prompt.ref_id)
    field_id = _field_for(ctx, pair, prompt) if pair else None
    label = next((q[1] for q in QUESTIONS if q[0] == field_id), "")
    short = label.split("?")[0].split(" (")[0]
    return f"the contract question “{short}?”" if short else "your pair contract"


def on_form(ctx: FlowContext, who: Participant, form_ref: str, answers) -> Message:
    pair = _pair_of(ctx, who, int(form_ref))
    if _contract(ctx, pair).completed_at:
        return Message(f"Your contract is already recorded:\n{_summary(_contract(ctx, pair))}", intent="ack")
    problems = []
    for field_id, label, _kind, _options in QUESTIONS:
        problem = _set(ctx, who, pair, field_id, str(answers.get(field_id, "")))
        if problem:
            problems.append(f"'{label}': {problem}")
    if problems:
        _contract(ctx, pair).completed_at = None
        return Message("Please check:\n" + "\n".join(f"• {p}" for p in problems), form=_form(pair), intent="reask")
    return _finish(ctx, who, pair)
