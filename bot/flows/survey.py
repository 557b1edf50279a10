"""Short surveys of 1-5 items: a form where the platform shows one, otherwise one question at a
time in chat. An answer that does not fit is re-asked with what is expected."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.capabilities import FORMS
from bot.context import FlowContext
from bot.flows.base import StepInfo, buddy_names, choice, choices_state, fill
from bot.messages import Field, Form, Message
from bot.models import Cohort, Delivery, Participant, Prompt, StepRun, SurveyResponse
from bot.programme import Programme
from bot.surveys import Item, Survey, get_survey

FLOW = "survey"


def sent_at(ctx: FlowContext, cohort_id: int, survey: Survey) -> datetime | None:
    """When the cohort was sent this survey (its programme step ran); None if not yet."""
    # Asked on every answer; once the step has run its first run time never changes.
    known = ctx.recall(("survey_sent", cohort_id, survey.id))
    if known is not None:
        return known
    cohort = ctx.session.get(Cohort, cohort_id)
    steps = [s.id for s in Programme.from_dict(cohort.programme).steps
             if (s.params.get("survey") or s.intent) == survey.id]
    sent = ctx.session.scalar(select(func.min(StepRun.ran_at)).where(StepRun.cohort_id == cohort_id,
                                                                     StepRun.step_id.in_(steps))) if steps else None
    if sent is not None:
        ctx.remember(("survey_sent", cohort_id, survey.id), sent)
    return sent


def closes_at(ctx: FlowContext, cohort_id: int, survey: Survey) -> datetime | None:
    sent = sent_at(ctx, cohort_id, survey)
    days = ctx.options.survey_open_days or survey.closes_after_days
    return None if sent is None else sent + timedelta(days=days)


def _closed(ctx: FlowContext, who: Participant, survey: Survey) -> Message | None:
    closes = closes_at(ctx, who.cohort_id, survey)
    if closes is not None and ctx.now >= closes:
        return Message(f"The {named(survey)} survey closed on {closes:%a} {closes.day} {closes:%b}; your earlier "
                       f"answers stand.", intent="survey_closed")
    return None


def remind(ctx: FlowContext, participant_id: int) -> int:
    """Three days on: one reminder for each survey this person has started but not finished."""
    who = ctx.session.get(Participant, participant_id)
    if who is None or who.status != "active":
        return 0
    sent = 0
    for prompt in list(ctx.session.scalars(select(Prompt).where(Prompt.participant_id == who.id, Prompt.flow == FLOW,
                                                                Prompt.status == "open"))):
        survey = get_survey(prompt.state["survey"])
        if _next_item(ctx, who, survey) is None or _closed(ctx, who, survey) is not None:
            continue
        closes = closes_at(ctx, who.cohort_id, survey)
        lead = (f"A reminder: the {named(survey)} survey is open until {closes:%a} {closes.day} {closes:%b}."
                if closes else f"A reminder: the {named(survey)} survey is waiting for your answers.")
        if prompt.state.get("mode") == "form":
            message = Message(f"{lead} It takes two minutes.", form=survey_form(survey), intent="survey_reminder")
            asked = None
        else:
            ask, asked = ask_question(ctx, who, survey, lead)
            message = Message(ask.text, choices=ask.choices, intent="survey_reminder")
        ctx.send_to(who, message, f"survey:{survey.id}:reminder:{who.id}", asks=asked)
        sent += 1
    return sent


def remind_due(ctx: FlowContext, cohort: Cohort, pending: list[tuple[Prompt, str]]) -> int:
    """Run by the cohort's daily sweep (`pending`: its open prompts, bot/focus.pending_prompts): a
    reminder to each person whose survey has waited `remind_after_days` unfinished, once (the
    delivery key makes a second one a no-op)."""
    waiting = {}
    for prompt, status in pending:
        if prompt.flow != FLOW or prompt.status != "open" or status != "active":
            continue
        survey = get_survey(prompt.state["survey"])
        if prompt.created_at + timedelta(days=survey.remind_after_days) <= ctx.now:
            waiting[f"survey:{survey.id}:reminder:{prompt.participant_id}"] = prompt.participant_id
    if not waiting:
        return 0
    done = set()
    keys = list(waiting)
    for start in range(0, len(keys), 500):
        done.update(ctx.session.scalars(select(Delivery.idempotency_key).where(
            Delivery.idempotency_key.in_(keys[start:start + 500]))))
    return sum(remind(ctx, pid) for pid in sorted({p for k, p in waiting.items() if k not in done}))


def answers_of(ctx: FlowContext, who: Participant) -> list[tuple[Survey, datetime | None, list[tuple[int, Item, str]]]]:
    """Each survey sent to this person: when it closes, and their answers (number, item, answer)."""
    mine = {(r.survey, r.item): r for r in ctx.session.scalars(
        select(SurveyResponse).where(SurveyResponse.participant_id == who.id))}
    found = []
    for survey_id in dict.fromkeys(r.survey for r in mine.values()):
        survey = get_survey(survey_id)
        rows = [(n, item, str(mine[(survey_id, item.id)].value if mine[(survey_id, item.id)].value is not None
                            else mine[(survey_id, item.id)].text or "(skipped)"))
                for n, item in enumerate(survey.items, start=1) if (survey_id, item.id) in mine]
        found.append((survey, closes_at(ctx, who.cohort_id, survey), rows))
    return found


def change_answer(ctx: FlowContext, who: Participant, survey: Survey, number: int, raw: str) -> Message:
    """A participant changes one of their answers while the survey is open."""
    closed = _closed(ctx, who, survey)
    if closed is not None:
        return Message(closed.text, intent="error")
    if not 1 <= number <= len(survey.items):
        return Message(f"The {named(survey)} survey has questions 1 to {len(survey.items)}.", intent="error")
    item = survey.items[number - 1]
    try:
        value, text = item.parse(raw)
    except ValueError as problem:
        return Message(f"'{raw}' is not an answer to '{item.text}'. {problem}", intent="error")
    _store(ctx, who, survey, item, value, text)
    return Message(f"Changed: {item.text}: {value if value is not None else text or '(skipped)'}.", intent="answer_changed")


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
    intro = fill(step.text, first_name=participant.person.first_name, buddy_names=buddy_names(ctx, participant),
                 cohort=cohort.name, week=step.week)
    key = f"step:{cohort.id}:{step.step_id}:participant:{participant.id}"
    if ctx.capabilities.has(participant.person.platform, FORMS):
        ctx.open_prompt(participant, FLOW, 0, survey=survey.id, mode="form")
        ctx.send_to(participant, Message(intro or survey.title, form=survey_form(survey), intent=step.intent), key)
    else:
        message, asked = ask_question(ctx, participant, survey, intro)
        ctx.send_to(participant, message, key, asks=asked)
    return 1


def named(survey: Survey) -> str:
    """The survey's title as it reads inside a sentence: quoted, because titles are phrases
    ("Before we start", "How is your pairing going?")."""
    return f"'{survey.title}'"


def _done(survey: Survey) -> Message:
    return Message(f"Thank you, that's the {named(survey)} survey done.", intent="survey_done")


def survey_form(survey: Survey) -> Form:
    fields = tuple(
        Field(id=item.id, label=item.text, kind=item.kind, low_anchor=item.low, high_anchor=item.high,
              options=item.options, optional=item.optional)
        for item in survey.items
    )
    return Form(id=f"{FLOW}:{survey.id}", title=survey.title[:24], fields=fields, submit_label="Send")


def question(ctx: FlowContext, participant: Participant, survey: Survey, lead: str = "") -> Message:
    """The next unanswered item, with its choices, as a prompt that a typed answer can fill."""
    return ask_question(ctx, participant, survey, lead)[0]


def ask_question(ctx: FlowContext, participant: Participant, survey: Survey,
                 lead: str = "") -> tuple[Message, Prompt | None]:
    """`question`, and the prompt it opened (None when the survey is done)."""
    found = _next_item(ctx, participant, survey)
    if found is None:
        return _done(survey), None
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
    prompt = ctx.open_prompt(participant, FLOW, 0, survey=survey.id, item=item.id, free_text=item.kind == "text",
                             choices=choices_state(options))
    heading = f"{survey.title} (question {index + 1} of {len(survey.items)})"
    text = "\n".join(part for part in (lead, heading, item.text, hint) if part)
    return Message(text, choices=options, intent="survey_question"), prompt


def _store(ctx: FlowContext, who: Participant, survey: Survey, item: Item, value, text) -> None:
    _store_all(ctx, who, survey, [(item, value, text)])


def _store_all(ctx: FlowContext, who: Participant, survey: Survey, answers: list[tuple[Item, object, str]]) -> None:
    """Answers to items of one survey, each replacing an earlier answer to its item: one read and
    one write for a whole form."""
    if not answers:
        return
    existing = {r.item: r for r in ctx.session.scalars(select(SurveyResponse).where(
        SurveyResponse.participant_id == who.id, SurveyResponse.survey == survey.id,
        SurveyResponse.item.in_([item.id for item, _value, _text in answers])))}
    for item, value, text in answers:
        earlier = existing.get(item.id)
        if earlier is not None:
            earlier.value, earlier.text, earlier.answered_at = value, text, ctx.now
        else:
            ctx.session.add(SurveyResponse(participant_id=who.id, survey=survey.id, item=item.id, value=value,
                                           text=text, answered_at=ctx.now))
    ctx.session.flush()


def _answer(ctx: FlowContext, who: Participant, survey: Survey, item: Item, raw: str) -> Message:
    closed = _closed(ctx, who, survey)
    if closed is not None:
        _close_survey_prompts(ctx, who, survey)  # only this survey's: another may be open just now
        return closed
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


def _close_survey_prompts(ctx: FlowContext, who: Participant, survey: Survey) -> None:
    for prompt in list(ctx.session.scalars(select(Prompt).where(Prompt.participant_id == who.id, Prompt.flow == FLOW,
                                                                Prompt.status == "open"))):
        if (prompt.state or {}).get("survey") == survey.id:
            ctx.settle(prompt, "closed")


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
        # Typed instead of using the form: take it for the first unanswered question, then go on in chat.
        found = _next_item(ctx, who, survey)
        if found is None:
            return question(ctx, who, survey)
        return _answer(ctx, who, survey, found[1], text)
    return _answer(ctx, who, survey, survey.item(prompt.state["item"]), text)


def _item_for(ctx: FlowContext, who: Participant, prompt: Prompt) -> tuple[int, Item] | None:
    survey = get_survey(prompt.state["survey"])
    if prompt.state.get("mode") == "form":
        return _next_item(ctx, who, survey)
    item = survey.item(prompt.state["item"])
    return survey.items.index(item), item


def accepts(ctx: FlowContext, who: Participant, prompt: Prompt, text: str) -> bool:
    found = _item_for(ctx, who, prompt)
    if found is None:
        return False
    try:
        found[1].parse(text)
    except ValueError:
        return False
    return bool(text.strip())


def about(ctx: FlowContext, prompt: Prompt) -> str:
    survey = get_survey(prompt.state["survey"])
    who = ctx.session.get(Participant, prompt.participant_id)
    found = _item_for(ctx, who, prompt)
    if found is None:
        return f"the {named(survey)} survey"
    return f"question {found[0] + 1} of the {named(survey)} survey"


def on_form(ctx: FlowContext, who: Participant, form_ref: str, answers) -> Message:
    """A whole form at once: keep every valid answer, name each one that is not."""
    survey = get_survey(form_ref)
    closed = _closed(ctx, who, survey)
    if closed is not None:
        return closed
    problems, valid = [], []
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
        valid.append((item, value, text))
    _store_all(ctx, who, survey, valid)
    if problems:
        return Message("Saved your other answers. Please check:\n" + "\n".join(f"• {p}" for p in problems),
                       form=survey_form(survey), intent="reask")
    for prompt in ctx.session.scalars(select(Prompt).where(Prompt.participant_id == who.id, Prompt.flow == FLOW,
                                                           Prompt.status == "open")):
        if prompt.state.get("survey") == survey.id:
            ctx.settle(prompt)
    _after_completion(ctx, who, survey)
    return _done(survey)
