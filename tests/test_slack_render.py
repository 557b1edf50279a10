"""Block Kit rendering: every payload is checked with slack_sdk.models, which knows Slack's limits."""

from __future__ import annotations

import json

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from adapters.slack import render
from bot.capabilities import FORMS, GROUP_CONVERSATION
from bot.messages import Choice, Field, Form, Link, Message
from bot.programme import default_programme
from bot.surveys import default_surveys
from bot.flows.survey import survey_form
from harness import make_harness


def assert_valid_message(payload: dict) -> None:
    assert 1 <= len(payload["blocks"]) <= 50
    assert 0 < len(payload["text"]) <= 3000
    for block in payload["blocks"]:
        parsed = Block.parse(block)
        parsed.validate_json()
        # Nothing we send is dropped by the model (an unknown key would be).
        assert json.loads(json.dumps(parsed.to_dict())) == block


def assert_valid_view(view: dict) -> None:
    model = View(**view)
    model.validate_json()
    for block in view["blocks"]:
        Block.parse(block).validate_json()


def test_every_message_of_a_whole_programme_renders_within_slacks_limits(tmp_path):
    h = make_harness(f"sqlite:///{tmp_path / 'p.sqlite'}", capabilities=frozenset({GROUP_CONVERSATION, FORMS}))
    for step in default_programme().steps:
        h.run_step(step.id)
    assert len(h.sender.sent) > 20
    forms = 0
    for n, (_recipient, message) in enumerate(h.sender.sent):
        assert_valid_message(render.message_payload(message, delivery_key=f"step:1:x:participant:{n}"))
        if message.form is not None:
            forms += 1
            assert_valid_view(render.form_view(message.form, {"form": message.form.id, "key": "k", "channel": "D1",
                                                              "ts": "1.2"}))
    assert forms >= 4  # surveys, the contract and reflections come as modals


@pytest.mark.parametrize("survey", sorted(default_surveys()))
def test_every_default_survey_is_a_valid_modal_with_1_to_5_selects(survey):
    form = survey_form(default_surveys()[survey])
    view = render.form_view(form, {"form": form.id})
    assert_valid_view(view)
    for field, block in zip(form.fields, view["blocks"], strict=True):
        assert block["block_id"] == field.id and block["optional"] == field.optional
        if field.kind == "scale":
            options = block["element"]["options"]
            assert [o["value"] for o in options] == ["1", "2", "3", "4", "5"]
            assert field.low_anchor in options[0]["text"]["text"] and field.high_anchor in options[4]["text"]["text"]
        elif field.kind == "text":
            assert block["element"]["type"] == "plain_text_input"


def test_oversized_messages_are_cut_visibly_and_stay_valid():
    text = ("A long line of programme news. " * 200 + "\n") * 12  # about 75,000 characters
    choices = tuple(Choice(f"Option {n} " + "x" * 90, "meeting:pick", f"{n}:" + "v" * 2100) for n in range(40))
    links = tuple(Link(f"Link {n}", f"https://example.nhs.uk/{n}") for n in range(30))
    payload = render.message_payload(Message(text, choices=choices, links=links))
    assert_valid_message(payload)
    assert payload["text"].endswith("…")
    buttons = [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert all(len(e["text"]["text"]) <= 75 for e in buttons)
    assert sum(1 for e in buttons if "url" not in e) == 40  # every choice is still offered


def test_a_huge_form_is_still_a_valid_modal():
    fields = tuple(Field(f"q{n}", "Question " + "?" * 2500, "scale", "Strongly disagree " * 10, "Strongly agree")
                   for n in range(120))
    view = render.form_view(Form("survey:big", "A title far longer than twenty-four characters", fields,
                                 "A submit label that is too long"), {"form": "survey:big", "pad": "x" * 5000})
    assert_valid_view(view)
    assert len(view["blocks"]) == 100
    assert json.loads(view["private_metadata"]) == {"form": "survey:big"}


def test_scale_choices_become_a_select_and_other_choices_buttons():
    scale = render.message_payload(Message("How confident?", choices=tuple(
        Choice(str(n), "survey:answer", f"pre:q1:{n}") for n in range(1, 6))))
    assert scale["blocks"][-1]["elements"][0]["type"] == "static_select"
    yes_no = render.message_payload(Message("Did you meet?", choices=(
        Choice("Yes, we met", "meeting:outcome", "1:held"), Choice("No", "meeting:outcome", "1:not_held"))))
    assert [e["type"] for e in yes_no["blocks"][-1]["elements"]] == ["button", "button"]
    assert render.parse_choice_value(yes_no["blocks"][-1]["elements"][0]["value"]) == ("meeting:outcome", "1:held")


def test_answered_message_loses_its_buttons_and_says_who_chose_what():
    payload = render.message_payload(Message("Pick <one> & go", choices=(Choice("Tue 12:00", "meeting:pick", "1:0"),)))
    blocks = render.answered_blocks(payload["blocks"], "U0BEN", "Tue 12:00")
    assert [b["type"] for b in blocks] == ["section", "context"]
    assert blocks[0]["text"]["text"] == "Pick &lt;one&gt; &amp; go"
    assert blocks[1]["elements"][0]["text"] == "✓ <@U0BEN> chose *Tue 12:00*"
    assert_valid_message({"text": "x", "blocks": blocks})


def test_form_answers_read_selects_and_text_and_skip_empty_optional_fields():
    values = {
        "q1": {"answer": {"type": "static_select", "selected_option": {"value": "4"}}},
        "q2": {"answer": {"type": "plain_text_input", "value": "Better rota planning"}},
        "q3": {"answer": {"type": "plain_text_input", "value": None}},
        "q4": {"answer": {"type": "static_select", "selected_option": None}},
    }
    assert render.form_answers(values) == {"q1": "4", "q2": "Better rota planning"}


def test_home_view_is_valid():
    view = render.home_view("My programme: Spring 2027", [("My pair", "Ben Okafor (Manager)"),
                                                          ("Next steps", "• Mon 11 Jan: Buddy meeting")])
    assert_valid_view(view)
