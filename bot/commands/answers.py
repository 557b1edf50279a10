"""A participant's own survey answers: see them (`my-answers`) and change one while its survey is
still open (`answer SURVEY NUMBER VALUE`)."""

from __future__ import annotations

from sqlalchemy import select

from bot.commands.common import Call, CommandSpec, Refusal, whole_number
from bot.flows import survey as survey_flow
from bot.messages import Message
from bot.models import Participant
from bot.surveys import Survey, default_surveys
from bot.dates import short_date

ANSWER_USAGE = "answer SURVEY NUMBER VALUE, e.g. answer pre 3 4"


def _participant(call: Call) -> Participant:
    found = None
    if call.caller is not None and call.caller.id is not None:
        found = call.session.scalars(select(Participant).where(Participant.person_id == call.caller.id,
                                                               Participant.status.in_(("active", "paused")))
                                     .order_by(Participant.id.desc())).first()
    if found is None:
        raise Refusal("You are not in a programme, so there are no answers of yours to show.")
    return found


def _survey(name: str) -> Survey:
    surveys = default_surveys()
    for survey in surveys.values():
        if name.lower() in (survey.id, survey.phase, survey.id.removesuffix("_survey")):
            return survey
    known = ", ".join(s.id.removesuffix("_survey") for s in surveys.values())
    raise Refusal(f"There is no survey called '{name}' (surveys: {known}).")


def _my_answers(call: Call) -> Message:
    who = _participant(call)
    found = survey_flow.answers_of(call.ctx, who)
    if not found:
        return Message("You have not answered a survey yet.", intent="my_answers")
    lines = []
    for survey, closes, rows in found:
        name = survey.id.removesuffix("_survey")
        state = (f"open until {short_date(closes, weekday=True)}" if closes and call.ctx.now < closes else
                 f"closed on {short_date(closes, weekday=True)}" if closes else "open")
        lines.append(f"{survey.title} ({name}, {state}):")
        lines += [f"{n}. {item.text}: {answer}" for n, item, answer in rows]
    lines.append(f"To change an answer while its survey is open: {ANSWER_USAGE}.")
    return Message("\n".join(lines), intent="my_answers")


def _answer(call: Call) -> Message:
    if len(call.args) < 3:
        raise Refusal(f"Usage: {ANSWER_USAGE}")
    number = whole_number(call.args[1], "the question's number", 1, 999)
    who = _participant(call)
    survey = _survey(call.args[0])
    reply = survey_flow.change_answer(call.ctx, who, survey, number, " ".join(call.args[2:]))
    if reply.intent == "error":
        raise Refusal(reply.text)
    return reply


COMMANDS = (
    CommandSpec("my-answers", (), "your survey answers, and until when you can change them", "my-answers",
                _my_answers),
    CommandSpec("answer", (), "change one of your survey answers while the survey is open", "answer pre 3 4",
                _answer),
)
