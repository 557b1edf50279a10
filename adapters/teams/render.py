"""Core messages as Adaptive Cards 1.5: pure functions from `bot.messages` values to card dicts.

Teams sends an Action.Submit back as a message activity whose `value` is the action's `data`
merged with the card's inputs; `SUBMIT_KIND` in that data says which of ours it was.
Teams' limit is about 28 KB per message (learn.microsoft.com, 2026-11); text is cut well inside it.
"""

from __future__ import annotations

from typing import Any

from bot.messages import Choice, Field, Message

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
SUBMIT_KIND = "pairbot"
CHOICE, PICK, FORM = "choice", "pick", "form"
PICK_INPUT = "pairbot_pick"
FIELD_PREFIX = "field_"
TEXT_LIMIT = 8000
LABEL_LIMIT = 200
INPUT_TEXT = 3000


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    # Only what the official 1.5 schema allows (Teams' own "msteams" extras would fail it).
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        card["actions"] = actions
    return card


def markdown_lines(text: str) -> str:
    """TextBlock text is Markdown, where a single newline is no line break (Teams runs the lines
    together, 2026-11): each line, bullets included, becomes a paragraph of its own."""
    return "\n\n".join(line.rstrip() for line in text.split("\n") if line.strip())


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": markdown_lines(cut(text, TEXT_LIMIT)) or " ", "wrap": True, **style}


def _is_scale(choices: tuple[Choice, ...]) -> bool:
    return len(choices) >= 3 and all(c.label.isdigit() for c in choices)


def _submit(title: str, data: dict[str, Any], primary: bool = False) -> dict[str, Any]:
    action = {"type": "Action.Submit", "title": cut(title, LABEL_LIMIT), "data": data}
    if primary:
        action["style"] = "positive"
    return action


def message_card(message: Message, delivery_key: str = "") -> dict[str, Any]:
    """The card for one message; `delivery_key` lets the answer find the message again."""
    body = [_text(message.text)]
    actions: list[dict[str, Any]] = []
    if message.form is not None:
        body.extend(_input(f) for f in message.form.fields)
        actions.append(_submit(message.form.submit_label,
                               {SUBMIT_KIND: FORM, "form": message.form.id, "key": delivery_key}, primary=True))
    if message.choices and _is_scale(message.choices):
        # A 1-5 item: a compact choice set and one button, not five buttons in a row.
        body.append({"type": "Input.ChoiceSet", "id": PICK_INPUT, "style": "compact", "isRequired": True,
                     "errorMessage": "Choose one of 1 to 5.", "label": "Your answer",
                     "choices": [{"title": c.label, "value": f"{c.action}|{c.value}"} for c in message.choices]})
        actions.append(_submit("Send", {SUBMIT_KIND: PICK, "key": delivery_key}, primary=True))
    else:
        actions.extend(_submit(c.label, {SUBMIT_KIND: CHOICE, "action": c.action, "value": c.value,
                                         "label": c.label, "key": delivery_key})
                       for c in message.choices)
    actions.extend({"type": "Action.OpenUrl", "title": cut(link.label, LABEL_LIMIT), "url": link.url}
                   for link in message.links)
    return _card(body, actions)


def _input(field: Field) -> dict[str, Any]:
    common = {"id": FIELD_PREFIX + field.id, "label": cut(field.label, LABEL_LIMIT * 5),
              "isRequired": not field.optional}
    if field.kind == "scale":
        choices = []
        for n in range(1, 6):
            anchor = field.low_anchor if n == 1 else field.high_anchor if n == 5 else ""
            choices.append({"title": f"{n} – {anchor}" if anchor else str(n), "value": str(n)})
        return {"type": "Input.ChoiceSet", "style": "compact", "choices": choices,
                "errorMessage": "Choose one of 1 to 5.", **common}
    if field.kind == "choice":
        return {"type": "Input.ChoiceSet", "style": "compact", "errorMessage": "Choose one.",
                "choices": [{"title": cut(o, LABEL_LIMIT), "value": o} for o in field.options], **common}
    return {"type": "Input.Text", "isMultiline": True, "maxLength": INPUT_TEXT,
            "errorMessage": "Write a few words, or leave it for later.", **common}


def answered_card(message: Message | None, note: str, replies: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """The card after an answer: the question as it was, no buttons or inputs, what was chosen, and
    the bot's plain answer to it."""
    body = [_text(message.text)] if message is not None else []
    body.append(_text(f"✓ {note}", isSubtle=True, weight="Bolder"))
    body.extend(_text(reply) for reply in replies)
    return _card(body)


def submitted_form(value: dict[str, Any]) -> dict[str, str]:
    """A form's answers from an Action.Submit value: {field id: answer}, empty fields left out."""
    answers = {}
    for key, answer in value.items():
        if key.startswith(FIELD_PREFIX) and answer not in (None, ""):
            answers[key[len(FIELD_PREFIX):]] = str(answer)
    return answers
