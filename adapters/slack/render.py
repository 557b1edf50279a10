"""Core messages as Block Kit: pure functions from `bot.messages` values to Slack payload dicts.

Limits (api.slack.com/reference/block-kit, checked 2026-11): 50 blocks in a message, 100 in a
modal; section text 3,000 characters; button text 75, button value 2,000; option text 75, option
value 150; modal title and submit label 24; private_metadata 3,000; plain-text input 3,000.
Everything longer is cut here, visibly (with an ellipsis), so Slack never refuses a payload.
"""

from __future__ import annotations

import json
from typing import Any

from bot.messages import Choice, Field, Form, Message

# action_id prefixes our listeners match on (one listener per kind, not per button).
CHOICE_ACTION = "pairbot_choice"
SELECT_ACTION = "pairbot_select"
FORM_ACTION = "pairbot_form"
LINK_ACTION = "pairbot_link"
FORM_CALLBACK = "pairbot_form"
ANSWER_ACTION = "answer"

MESSAGE_BLOCKS = 50
MODAL_BLOCKS = 100
SECTION_TEXT = 3000
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
OPTION_TEXT = 75
OPTION_VALUE = 150
MODAL_TITLE = 24
INPUT_LABEL = 2000
INPUT_TEXT = 3000
FALLBACK_TEXT = 3000
METADATA = 3000


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit) or " ", "emoji": True}


def _sections(text: str, room: int) -> list[dict[str, Any]]:
    """Text as sections, split at line breaks so no section passes Slack's limit."""
    chunks: list[str] = []
    current = ""
    for line in escape(text).split("\n"):
        while len(line) > SECTION_TEXT:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:SECTION_TEXT])
            line = line[SECTION_TEXT:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > SECTION_TEXT:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    if len(chunks) > room:
        chunks = chunks[: room - 1] + [cut(chunks[room - 1], SECTION_TEXT - 1) + "…"]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks if chunk.strip()]


def choice_value(choice: Choice) -> str:
    return f"{choice.action}|{choice.value}"


def parse_choice_value(value: str) -> tuple[str, str]:
    action, sep, rest = value.partition("|")
    if not sep:
        raise ValueError(f"'{value}' is not a Pairbot choice")
    return action, rest


def _is_scale(choices: tuple[Choice, ...]) -> bool:
    return len(choices) >= 3 and all(c.label.isdigit() for c in choices)


def _choice_blocks(choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    if not choices:
        return []
    if _is_scale(choices) and all(len(choice_value(c)) <= OPTION_VALUE for c in choices):
        # A 1-5 item: a select keeps the message short on a phone.
        return [{
            "type": "actions",
            "elements": [{
                "type": "static_select",
                "action_id": SELECT_ACTION,
                "placeholder": _plain("Choose 1-5", 150),
                "options": [{"text": _plain(c.label, OPTION_TEXT), "value": choice_value(c)} for c in choices[:100]],
            }],
        }]
    buttons = [
        {"type": "button", "action_id": f"{CHOICE_ACTION}_{n}", "text": _plain(c.label, BUTTON_TEXT),
         "value": choice_value(c)[:BUTTON_VALUE]}
        for n, c in enumerate(choices)
    ]
    # An actions block holds at most 25 elements.
    return [{"type": "actions", "elements": buttons[i:i + 25]} for i in range(0, len(buttons), 25)]


def message_payload(message: Message, delivery_key: str = "") -> dict[str, Any]:
    """`text` (the notification and screen-reader fallback) and `blocks` for chat.postMessage."""
    tail: list[dict[str, Any]] = []
    if message.form is not None:
        tail.append({"type": "actions", "elements": [{
            "type": "button", "action_id": FORM_ACTION, "style": "primary",
            "text": _plain(f"Open: {message.form.title}", BUTTON_TEXT), "value": cut(delivery_key, BUTTON_VALUE),
        }]})
    tail.extend(_choice_blocks(message.choices))
    if message.links:
        tail.append({"type": "actions", "elements": [
            {"type": "button", "action_id": f"{LINK_ACTION}_{n}", "text": _plain(link.label, BUTTON_TEXT),
             "url": link.url[:3000]}
            for n, link in enumerate(message.links[:25])
        ]})
    body = _sections(message.text, MESSAGE_BLOCKS - len(tail))
    return {"text": cut(message.text, FALLBACK_TEXT), "blocks": body + tail}


def answered_blocks(blocks: list[dict[str, Any]], user_id: str, label: str) -> list[dict[str, Any]]:
    """The message as it was, without its buttons, and a line saying who chose what."""
    kept = [b for b in blocks if b.get("type") != "actions"][: MESSAGE_BLOCKS - 1]
    note = f"✓ <@{user_id}> chose *{escape(cut(label, 200))}*" if user_id else f"✓ {escape(cut(label, 200))}"
    return kept + [{"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]


def _input(field: Field) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": field.id, "label": _plain(field.label, INPUT_LABEL),
                             "optional": field.optional}
    if field.kind == "scale":
        options = []
        for n in range(1, 6):
            anchor = field.low_anchor if n == 1 else field.high_anchor if n == 5 else ""
            options.append({"text": _plain(f"{n} – {anchor}" if anchor else str(n), OPTION_TEXT), "value": str(n)})
        block["element"] = {"type": "static_select", "action_id": ANSWER_ACTION,
                            "placeholder": _plain("Choose 1-5", 150), "options": options}
    elif field.kind == "choice":
        block["element"] = {"type": "static_select", "action_id": ANSWER_ACTION,
                            "placeholder": _plain("Choose one", 150),
                            "options": [{"text": _plain(o, OPTION_TEXT), "value": o[:OPTION_VALUE]}
                                        for o in field.options[:100]]}
    else:
        block["element"] = {"type": "plain_text_input", "action_id": ANSWER_ACTION, "multiline": True,
                            "max_length": INPUT_TEXT}
    return block


def form_view(form: Form, metadata: dict[str, str]) -> dict[str, Any]:
    """A modal for a multi-item form; `metadata` comes back with the submission."""
    private = json.dumps(metadata, separators=(",", ":"))
    if len(private) > METADATA:
        private = json.dumps({"form": form.id}, separators=(",", ":"))
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "private_metadata": private,
        "title": _plain(form.title, MODAL_TITLE),
        "submit": _plain(form.submit_label, MODAL_TITLE),
        "close": _plain("Cancel", MODAL_TITLE),
        "blocks": [_input(f) for f in form.fields[:MODAL_BLOCKS]],
    }


def form_answers(state_values: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A view_submission's state as {field id: answer}; empty optional fields are left out."""
    answers: dict[str, str] = {}
    for block_id, actions in state_values.items():
        element = actions.get(ANSWER_ACTION) or {}
        if element.get("type") == "static_select":
            picked = element.get("selected_option") or {}
            value = picked.get("value")
        else:
            value = element.get("value")
        if value not in (None, ""):
            answers[block_id] = str(value)
    return answers


def home_view(title: str, sections: list[tuple[str, str]]) -> dict[str, Any]:
    """The App Home tab: a header and one titled section per part of "my programme"."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(title, 150)}]
    for heading, body in sections:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": cut(f"*{escape(heading)}*\n{escape(body)}", SECTION_TEXT)}})
        blocks.append({"type": "divider"})
    return {"type": "home", "blocks": blocks[:MODAL_BLOCKS]}
