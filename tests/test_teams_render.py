"""Adaptive Cards: every card the Teams adapter can produce validates against the official
Adaptive Cards 1.5 schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from adapters.teams import inbound, render
from bot.capabilities import FORMS
from bot.flows.survey import survey_form
from bot.messages import Choice, Field, Form, Link, Message
from bot.programme import default_programme
from bot.surveys import default_surveys
from conftest import shared_schema
from harness import make_harness


@pytest.fixture(scope="module")
def card_validator():
    with open(shared_schema("adaptive-card-1.5.json"), encoding="utf-8") as file:
        schema = json.load(file)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def assert_valid(validator, card: dict) -> None:
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(card)]
    assert not problems, problems[:5]
    assert card["version"] == "1.5"


def test_every_card_of_a_whole_programme_is_valid_adaptive_card_1_5(tmp_path, card_validator):
    h = make_harness(f"sqlite:///{tmp_path / 'p.sqlite'}", capabilities=frozenset({FORMS}))
    for step in default_programme().steps:
        h.run_step(step.id)
    assert len(h.sender.sent) > 20
    for n, (_recipient, message) in enumerate(h.sender.sent):
        card = render.message_card(message, f"step:1:x:participant:{n}")
        assert_valid(card_validator, card)
        assert_valid(card_validator, render.answered_card(message, "You chose: Yes", [message.text]))
    assert any(m.form for _r, m in h.sender.sent)


@pytest.mark.parametrize("survey", sorted(default_surveys()))
def test_surveys_are_cards_with_1_to_5_choice_sets(survey, card_validator):
    form = survey_form(default_surveys()[survey])
    card = render.message_card(Message("Please answer", form=form), "k")
    assert_valid(card_validator, card)
    inputs = card["body"][1:]
    for field, element in zip(form.fields, inputs, strict=True):
        assert element["id"] == "field_" + field.id and element["isRequired"] is (not field.optional)
        if field.kind == "scale":
            assert element["type"] == "Input.ChoiceSet"
            assert [c["value"] for c in element["choices"]] == ["1", "2", "3", "4", "5"]
        elif field.kind == "text":
            assert element["type"] == "Input.Text" and element["isMultiline"] is True
    assert card["actions"][0]["data"] == {"pairbot": "form", "form": form.id, "key": "k"}


def test_choices_links_and_a_scale_question_and_their_round_trip(card_validator):
    message = Message("Did you meet?", choices=(Choice("Yes, we met", "meeting:outcome", "4:held"),
                                                Choice("No", "meeting:outcome", "4:not_held")),
                      links=(Link("Chat with Ben", "https://teams.microsoft.com/l/chat/0/0?users=ben@x.nhs.uk"),))
    card = render.message_card(message, "step:1:k")
    assert_valid(card_validator, card)
    submit = card["actions"][0]
    assert submit["type"] == "Action.Submit" and card["actions"][-1]["type"] == "Action.OpenUrl"
    activity = {"from": {"id": "29:asha"}, "conversation": {"tenantId": "tenant-1"}, "id": "act-1",
                "value": submit["data"]}
    event = inbound.event(activity)
    assert (event.action, event.value, event.who.user) == ("meeting:outcome", "4:held", "29:asha")

    scale = Message("How confident?", choices=tuple(Choice(str(n), "survey:answer", f"pulse:q1:{n}") for n in range(1, 6)))
    card = render.message_card(scale, "k2")
    assert_valid(card_validator, card)
    picked = inbound.event({"from": {"id": "29:asha"}, "conversation": {"tenantId": "t"}, "id": "a2",
                            "value": {**card["actions"][0]["data"], "pairbot_pick": card["body"][1]["choices"][3]["value"]}})
    assert (picked.action, picked.value) == ("survey:answer", "pulse:q1:4")


def test_oversized_text_and_many_fields_stay_valid(card_validator):
    fields = tuple(Field(f"q{n}", "Question " * 100, "choice", options=tuple(f"Option {i}" for i in range(30)))
                   for n in range(40))
    card = render.message_card(Message("x" * 50_000, form=Form("survey:big", "Big", fields)), "k")
    assert_valid(card_validator, card)
    assert len(card["body"][0]["text"]) <= render.TEXT_LIMIT
    assert len(json.dumps(card)) < 28_000 * 4  # well inside what a Teams activity can carry once compressed


def test_typed_commands_and_chat_text_are_told_apart():
    base = {"from": {"id": "29:rita"}, "conversation": {"tenantId": "t"}, "id": "m1"}
    assert type(inbound.event({**base, "text": "status Spring 2027"})).__name__ == "Command"
    assert type(inbound.event({**base, "text": "<at>Pairbot</at> help"})).__name__ == "Said"
    assert type(inbound.event({**base, "text": "availability Mon 12:00-13:00"})).__name__ == "Said"
    assert inbound.event({**base, "text": "  "}) is None


def test_the_stored_reference_is_botbuilders_conversation_reference():
    from botbuilder.schema import Activity, ConversationReference
    from botbuilder.core import TurnContext

    posted = {"type": "message", "id": "m1", "channelId": "msteams", "serviceUrl": "https://smba.example/uk/",
              "from": {"id": "29:asha", "name": "Asha", "aadObjectId": "a-1"},
              "recipient": {"id": "28:bot", "name": "Pairbot"}, "locale": "en-GB",
              "conversation": {"id": "a:1", "tenantId": "t", "conversationType": "personal"}}
    ours = ConversationReference().deserialize(inbound.reference(posted))
    theirs = TurnContext.get_conversation_reference(Activity().deserialize(posted))
    theirs.activity_id = None
    assert ours.serialize() == theirs.serialize()
    assert ours.service_url == "https://smba.example/uk/" and ours.conversation.id == "a:1"


def test_the_schema_check_is_not_vacuous(card_validator):
    card = render.message_card(Message("Hello"), "k")
    card["body"][0]["type"] = "TextBlok"
    assert list(card_validator.iter_errors(card))


def test_every_line_break_and_bullet_of_a_whole_programme_survives_in_the_card(tmp_path, card_validator):
    """TextBlock text is Markdown: one newline is no line break, so each line must be a paragraph."""
    h = make_harness(f"sqlite:///{tmp_path / 'p.sqlite'}", capabilities=frozenset({FORMS}))
    for step in default_programme().steps:
        h.run_step(step.id)
    messages = [m for _r, m in h.sender.sent] + h.say("rita", "help")
    multi_line = [m for m in messages if "\n" in m.text.strip()]
    assert len(multi_line) > 20 and any("\n• " in m.text for m in multi_line)
    for message in multi_line:
        lines = [line.rstrip() for line in message.text.split("\n") if line.strip()]
        for card in (render.message_card(message, "k"), render.answered_card(message, "You chose: Yes", [message.text])):
            assert_valid(card_validator, card)
            shown = card["body"][0]["text"]
            assert shown.split("\n\n") == lines, message.text
            assert "\n" not in shown.replace("\n\n", ""), shown
        assert render.answered_card(None, "x", [message.text])["body"][1]["text"].split("\n\n") == lines
