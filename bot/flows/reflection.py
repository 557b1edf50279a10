"""Reflection prompts: free text, private to its author unless they choose to share it."""

from __future__ import annotations

import re

from bot.capabilities import FORMS
from bot.context import FlowContext
from bot.flows.base import StepInfo, buddy_names, choice, choices_state, fill
from bot.messages import Choice, Field, Form, Message
from bot.models import Cohort, Meeting, Participant, Prompt, Reflection

FLOW = "reflection"
PRIVACY = "Only you can see what you write."


def ask(ctx: FlowContext, participant: Participant, *, key: str, question: str,
        meeting: Meeting | None = None, step_id: str = "", about: str = "your reflection") -> None:
    """`about` says which reflection this is, in a few words, should the person be asked which
    question their words were for."""
    ref = meeting.id if meeting else 0
    options = (choice("Skip this one", FLOW, "skip", ref),)
    form = None
    if ctx.capabilities.has(participant.person.platform, FORMS):
        form = Form(id=f"{FLOW}:{ref}", title="Reflection",
                    fields=(Field("reflection", question, "text"),), submit_label="Save privately")
    prompt_text = f"{question}\n{PRIVACY} Reply with a few lines." if form is None else f"{question}\n{PRIVACY}"
    mode = {"mode": "form"} if form is not None else {}
    prompt = ctx.open_prompt(participant, FLOW, ref, step_id=step_id, free_text=True, choices=choices_state(options),
                             about=about, **mode)
    ctx.send_to(participant, Message(prompt_text, choices=options, form=form, intent="reflect"), key, asks=prompt)


def start(ctx: FlowContext, cohort: Cohort, participant: Participant, step: StepInfo) -> int:
    question = fill(step.text, first_name=participant.person.first_name, buddy_names=buddy_names(ctx, participant),
                    cohort=cohort.name, week=step.week)
    ask(ctx, participant, key=f"step:{cohort.id}:{step.step_id}:participant:{participant.id}",
        question=question or "What have you learned so far?", step_id=step.step_id,
        about=f"your week {step.week} reflection")
    return 1


def _save(ctx: FlowContext, who: Participant, prompt: Prompt | None, ref: int, text: str) -> Message:
    text = text.strip()
    if not text:
        return Message("That reflection was empty; write a few lines, or choose 'Skip this one'.", intent="reask")
    ctx.session.add(Reflection(participant_id=who.id, meeting_id=ref or None,
                               step_id=(prompt.state.get("step_id", "") if prompt else ""),
                               text=text[:8000], shared=False, created_at=ctx.now))
    ctx.close_prompts(FLOW, ref, [who.id], status="answered")
    return Message(f"Saved. {PRIVACY}", intent="ack")


def on_text(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> Message:
    if text.strip().lower() == "skip":
        return on_click(ctx, who, "skip", str(prompt.ref_id or 0))
    if not accepts(ctx, who, prompt, text):
        return Message(f"Was “{text.strip()}” meant as your reflection? A reflection is a few words or lines "
                       f"about what you noticed; write them, or choose 'Skip this one'.",
                       choices=tuple(Choice(**c) for c in prompt.state.get("choices", [])), intent="reask")
    return _save(ctx, who, prompt, prompt.ref_id or 0, text)


def accepts(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> bool:
    # "4" or "yes" is an answer to a button somewhere, not a reflection.
    return bool(text.strip()) and not re.fullmatch(r"(?i)\s*(?:\d{1,2}|y|n|yes|no|maybe|ok)[.!]?\s*", text)


def about(ctx: FlowContext, prompt: Prompt) -> str:
    return prompt.state.get("about") or "your reflection"


def on_form(ctx: FlowContext, who: Participant, form_ref: str, answers) -> Message:
    prompt = _open_prompt(ctx, who, int(form_ref or 0))
    return _save(ctx, who, prompt, int(form_ref or 0), str(answers.get("reflection", "")))


def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    if verb != "skip":
        raise LookupError(f"unknown reflection action '{verb}'")
    ctx.close_prompts(FLOW, int(value or 0), [who.id], status="answered")
    return Message("No problem, skipped.", intent="ack")


def _open_prompt(ctx: FlowContext, who: Participant, ref: int) -> Prompt | None:
    from sqlalchemy import select

    return ctx.session.scalars(
        select(Prompt).where(Prompt.flow == FLOW, Prompt.ref_id == ref, Prompt.participant_id == who.id,
                             Prompt.status == "open").order_by(Prompt.id.desc())
    ).first()
