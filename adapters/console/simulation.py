"""Simulated participants for the demo: each reads what Pairbot sends and answers like a person
would, through the same inbound events a real adapter produces."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bot.events import Address, Clicked, InboundEvent, Said
from bot.messages import Message

REFLECTIONS = [
    "Seeing the bed meeting made the 8am pressure on the wards make sense.",
    "I hadn't realised how much of the rota gap work lands on the service manager.",
    "We agreed I'll bring the discharge delays data to the next meeting.",
    "Shadowing the night shift showed me why escalation calls get missed.",
    "Good chat about how a business case actually gets approved.",
]


@dataclass
class Persona:
    address: Address
    name: str
    role: str
    availability: str
    quiet_until_nudged: bool = False
    answers_nonsense_first: bool = False
    rng: random.Random = field(default_factory=random.Random)
    said_nonsense: bool = False
    meetings_agreed: int = 0

    def decide(self, message: Message) -> InboundEvent | None:
        intent = message.intent
        if intent == "quiet_pair_nudge":
            if not self.quiet_until_nudged:
                return None  # a busy pair between meetings: the next proposal will come anyway
            self.quiet_until_nudged = False
            return self._click(message, "meeting:propose")
        if self.quiet_until_nudged and intent not in ("survey_question", "reask", "enrol", "group_meeting"):
            return None
        if intent == "enrol":
            return Said(self.address, self.availability)
        if intent in ("propose_buddy", "propose_shadowing") or any(c.action == "meeting:slot" for c in message.choices):
            slots = [c for c in message.choices if c.action == "meeting:slot"]
            if slots:
                return Clicked(self.address, slots[0].action, self.rng.choice(slots).value)
            return None
        if intent == "did_you_meet":
            outcome = "yes" if self.rng.random() < 0.93 else "rescheduled"
            return self._click(message, "meeting:outcome", suffix=outcome)
        if intent == "reflect":
            return Said(self.address, self.rng.choice(REFLECTIONS))
        if intent in ("survey_question", "reask") and any(c.action == "survey:answer" for c in message.choices):
            if self.answers_nonsense_first and not self.said_nonsense:
                self.said_nonsense = True
                return Said(self.address, "banana")
            return self._survey_answer(message)
        if intent == "survey_question":  # a free-text item
            return Said(self.address, "Protected time for the meetings would help.")
        if intent in ("contract", "contract_question"):
            if message.choices:
                return Clicked(self.address, message.choices[0].action, message.choices[0].value)
            if "goals" in message.text.lower() or "get out of" in message.text.lower():
                return Said(self.address, "Understand each other's pressures and fix one discharge delay.")
            return Said(self.address, "Ward round in month 2, a capacity meeting in month 3.")
        if intent == "group_meeting":
            pick = 0 if self.rng.random() < 0.8 else 2
            return Clicked(self.address, message.choices[pick].action, message.choices[pick].value)
        if intent == "project":
            stages = [c for c in message.choices if c.action == "project:stage"]
            return Clicked(self.address, stages[1].action, stages[min(len(stages) - 1, 1 + self.rng.randint(0, 2))].value)
        return None

    def _click(self, message: Message, action: str, suffix: str | None = None) -> InboundEvent | None:
        for option in message.choices:
            if option.action == action and (suffix is None or option.value.endswith(":" + suffix)):
                return Clicked(self.address, option.action, option.value)
        return None

    def _survey_answer(self, message: Message) -> InboundEvent:
        options = [c for c in message.choices if c.action == "survey:answer"]
        labels = [c.label for c in options]
        if labels == ["1", "2", "3", "4", "5"]:
            # Scores drift upwards over the programme, as the published evaluations found.
            post = "post_survey" in options[0].value or "pulse" in options[0].value
            pick = self.rng.choice([3, 4, 4, 5] if post else [2, 2, 3, 3, 4])
            if ":pair_fit:" in options[0].value:
                pick = 2 if self.quiet_until_nudged else self.rng.choice([4, 5])
            return Clicked(self.address, options[pick - 1].action, options[pick - 1].value)
        choice = options[0] if "share_free_text" not in options[0].value else options[-1]
        if "wants_repairing" in options[0].value:
            choice = options[0]
        return Clicked(self.address, choice.action, choice.value)
