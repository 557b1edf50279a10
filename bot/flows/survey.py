"""Short surveys of 1-5 items: a form where the platform shows one, otherwise one question at a
time in chat. An answer that does not fit is re-asked with what is expected."""

from __future__ import annotations

from sqlalchemy import select

from bot.capabilities import FORMS
from bot.context import FlowContext
from bot.flows.base import StepInfo, choice, choices_state, fill
from bot.messages import Field, Form, Message
from bot.models import Cohort, Participant, Prompt, SurveyResponse
from bot.surveys import Item, Survey, get_survey

FLOW = "survey"


def _answered(ctx: FlowContext, participant: Participant, survey: Survey) -> set[str]:
    return set(
        ctx.session.scalars(
            select(SurveyResponse.item).where(SurveyResponse.participant_id == participant.id,
                                              SurveyResponse.survey == survey.id)
        )
    )


def _next_item(ctx: FlowContext, participant: Participant, survey: Survey) -> tuple[int, Item] | None:
    done = _answered(ctx, participant, survey)
    for index, item in enumerate(survey.items):
        if item.id not in done:
            return index, item
    return None


def start(ctx: FlowContext, cohort: Cohort, participant: Participant, step: StepInfo) -> int:
    survey = get_survey(step.params.get("survey") or step.intent)
    if _next_item(ctx, participant, survey) is None:
        return 0
    intro = fill(step.text, first_name=participant.person.first_name, cohort=cohort.name, week=step.week)
    key = f"step:{cohort.id}:{step.step_id}:participant:{participant.id}"
    if ctx.capabilities.has(participant.person.platform, FORMS):
        ctx.open_prompt(participant, FLOW, 0, survey=survey.id, mode="form")
        ctx.send_to(participant, Message(intro or survey.title, form=survey_form(survey), intent=step.intent), key)
    else:
        ctx.send_to(participant, question(ctx, participant, survey, intro), key)
    return 1


def survey_form(survey: Survey) -> Form:
    fields = tuple(
        Field(id=item.id, label=item.text, kind=item.kind, low_anchor=item.low, high_anchor=item.high,
              options=item.options, optional=item.optional)
        for item in survey.items
    )
    return Form(id=f"{FLOW}:{survey.id}", title=survey.title[:24], fields=fields, submit_label="Send")


def question(ctx: FlowContext, participant: Participant, survey: Survey, lead: str = "") -> Message:
    """The next unanswered item, with its choices, as a prompt that a typed answer can fill."""
    found = _next_item(ctx, participant, survey)
    if found is None:
        return Message(f"Thank you, that's the whole {survey.title.lower()} survey done.", intent="survey_done")
    index, item = found
    if item.kind == "scale":
        options = tuple(choice(str(n), FLOW, "answer", survey.id, item.id, n) for n in range(1, 6))
        hint = f"1 = {item.low}, 5 = {item.high}"
    elif item.kind == "choice":
        options = tuple(choice(o, FLOW, "answer", survey.id, item.id, o) for o in item.options)
        hint = ""
    else:
        options = (choice("Skip", FLOW, "answer", survey.id, item.id, "skip"),) if item.optional else ()
        hint = "Reply with a few words."
    ctx.close_prompts(FLOW, 0, [participant.id])
    ctx.open_prompt(participant, FLOW, 0, survey=survey.id, item=item.id, free_text=item.kind == "text",
                    choices=choices_state(options))
    heading = f"{survey.title}, question {index + 1} of {len(survey.items)}:"
    text = "\n".join(part for part in (lead, heading, item.text, hint) if part)
    return Message(text, choices=options, intent="survey_question")


def _store(ctx: FlowContext, who: Participant, survey: Survey, item: Item, value, text) -> None:
    existing = ctx.session.scalars(
        select(SurveyResponse).where(SurveyResponse.participant_id == who.id, SurveyResponse.survey == survey.id,
                                     SurveyResponse.item == item.id)
    ).first()
    if existing:
        existing.value, existing.text, existing.answered_at = value, text, ctx.now
    else:
        ctx.session.add(SurveyResponse(participant_id=who.id, survey=survey.id, item=item.id, value=value,
                                       text=text, answered_at=ctx.now))
    ctx.session.flush()


def _answer(ctx: FlowContext, who: Participant, survey: Survey, item: Item, raw: str) -> Message:
    try:
        value, text = item.parse(raw)
    except ValueError as problem:
        return _reask(ctx, who, survey, item, str(problem))
    _store(ctx, who, survey, item, value, text)
    reply = question(ctx, who, survey)
    if reply.intent == "survey_done":
        ctx.close_prompts(FLOW, 0, [who.id], status="answered")
        _after_completion(ctx, who, survey)
    return reply


def _reask(ctx: FlowContext, who: Participant, survey: Survey, item: Item, problem: str) -> Message:
    again = question(ctx, who, survey)
    return Message(f"Sorry, I didn't catch that. {problem}\n{again.text}", choices=again.choices,
                   intent="reask")


def _after_completion(ctx: FlowContext, who: Participant, survey: Survey) -> None:
    if survey.id != "fit_check":
        return
    answers = {
        r.item: r
        for r in ctx.session.scalars(select(SurveyResponse).where(SurveyResponse.participant_id == who.id,
                                                                  SurveyResponse.survey == survey.id))
    }
    fit = answers.get("pair_fit")
    wants = answers.get("wants_repairing")
    if (fit and fit.value is not None and fit.value <= 2) or (wants and wants.text == "yes"):
        cohort = ctx.session.get(Cohort, who.cohort_id)
        ctx.tell_coordinators(
            cohort,
            f"Fit check: {who.person.name} rated their pairing {fit.value if fit else '?'}/5"
            f"{' and would like to talk about re-pairing' if wants and wants.text == 'yes' else ''}.",
            key=f"fit_check:{who.id}",
        )


def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    if verb != "answer":
        raise LookupError(f"unknown survey action '{verb}'")
    survey_id, item_id, answer = value.split(":", 2)
    survey = get_survey(survey_id)
    return _answer(ctx, who, survey, survey.item(item_id), answer)


def on_text(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> Message:
    survey = get_survey(prompt.state["survey"])
    if prompt.state.get("mode") == "form":
        return question(ctx, who, survey, "Let's do it here in chat instead.")
    return _answer(ctx, who, survey, survey.item(prompt.state["item"]), text)


def on_form(ctx: FlowContext, who: Participant, form_ref: str, answers) -> Message:
    """A whole form at once: keep every valid answer, name each one that is not."""
    survey = get_survey(form_ref)
    problems = []
    already = _answered(ctx, who, survey)
    for item in survey.items:
        raw = answers.get(item.id)
        if raw is None or str(raw).strip() == "":
            if not item.optional and item.id not in already:
                problems.append(f"'{item.text}': no answer; expected {item.expects()}")
            continue
        try:
            value, text = item.parse(str(raw))
        except ValueError:
            problems.append(f"'{item.text}': '{raw}' is not {item.expects()}")
            continue
        _store(ctx, who, survey, item, value, text)
    if problems:
        return Message("Saved your other answers. Please check:\n" + "\n".join(f"• {p}" for p in problems),
                       form=survey_form(survey), intent="reask")
    for prompt in ctx.session.scalars(select(Prompt).where(Prompt.participant_id == who.id, Prompt.flow == FLOW,
                                                           Prompt.status == "open")):
        if prompt.state.get("survey") == survey.id:
            prompt.status, prompt.answered_at = "answered", ctx.now
    _after_completion(ctx, who, survey)
    return Message(f"Thank you, that's the whole {survey.title.lower()} survey done.", intent="survey_done")
