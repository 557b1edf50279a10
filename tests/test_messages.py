"""A message keeps every part of itself through the outbox's JSON."""

from __future__ import annotations

import dataclasses
import json

from bot.messages import Choice, Document, Field, Form, Invitation, Link, Message


def full_message() -> Message:
    return Message(
        text="Before we start: 2 questions",
        choices=(Choice("Yes", "rsvp", "42:yes"), Choice("No", "rsvp", "42:no")),
        form=Form("pre", "Before we start", (
            Field("q1", "How confident are you?", "scale", "Not at all", "Very", optional=True),
            Field("q2", "Which?", "choice", options=("A", "B")),
        ), submit_label="Send answers"),
        links=(Link("Programme", "https://trust.example/programme"),),
        intent="survey",
        document=Document("answers.csv", "text/csv", "a,b\n1,2\n", command="my-answers"),
        replaces="k:1",
        recount="digest:1:Before we start",
        invitation=Invitation(meeting_id=3, participant_id=4, sequence=2, cancelled=True),
        reply_key="k:reply:1",
    )


def test_every_field_of_a_message_survives_the_outbox_json():
    message = full_message()
    stored = json.loads(json.dumps(message.to_dict()))
    assert Message.from_dict(stored) == message
    # The hand-written to_dict names every field: one added later and forgotten would fail here.
    assert stored == json.loads(json.dumps(dataclasses.asdict(message)))
    assert set(stored) == {f.name for f in dataclasses.fields(Message)}


def test_a_plain_message_round_trips_with_its_defaults():
    message = Message("Hello")
    assert Message.from_dict(json.loads(json.dumps(message.to_dict()))) == message
