"""Survey definitions (bot/surveys/default.toml): items, scales and their anchors."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    kind: str  # scale | choice | text
    low: str = ""
    high: str = ""
    options: tuple[str, ...] = ()
    optional: bool = False
    scale: str = ""  # the scale's name (knowledge, preparedness, agreement...): the item's domain

    def expects(self) -> str:
        """What a valid answer looks like, for a re-ask."""
        if self.kind == "scale":
            return f"a number from 1 ({self.low}) to 5 ({self.high})"
        if self.kind == "choice":
            return "one of: " + ", ".join(self.options)
        return "a few words" + (" (or 'skip')" if self.optional else "")

    def parse(self, answer: str) -> tuple[int | None, str | None]:
        """(value, text) for a valid answer; raises ValueError naming what is expected."""
        cleaned = answer.strip()
        if self.kind == "scale":
            if cleaned in {"1", "2", "3", "4", "5"}:
                return int(cleaned), None
            raise ValueError(f"Please answer with {self.expects()}.")
        if self.kind == "choice":
            for option in self.options:
                if cleaned.lower() == option.lower():
                    return None, option
            if cleaned.isdigit() and 1 <= int(cleaned) <= len(self.options):
                return None, self.options[int(cleaned) - 1]
            raise ValueError(f"Please answer with {self.expects()}.")
        if not cleaned or (self.optional and cleaned.lower() == "skip"):
            if self.optional:
                return None, ""
            raise ValueError("Please write a few words.")
        return None, cleaned[:4000]


@dataclass(frozen=True)
class Survey:
    id: str
    title: str
    phase: str
    items: tuple[Item, ...]
    closes_after_days: int = 14  # answers can be given and changed until then
    remind_after_days: int = 3  # one reminder, to those who have not finished

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


@lru_cache(maxsize=1)
def default_surveys() -> dict[str, Survey]:
    data = tomllib.loads(resources.files("bot.surveys").joinpath("default.toml").read_text("utf-8"))
    scales = data["scales"]
    surveys: dict[str, Survey] = {}
    for survey_id, spec in data["surveys"].items():
        items = []
        if "repeat_items_of" in spec:
            items.extend(surveys[spec["repeat_items_of"]].items)
        for raw in spec["items"]:
            scale = scales.get(raw.get("scale", ""), {})
            items.append(
                Item(
                    id=raw["id"],
                    text=raw["text"],
                    kind=raw.get("kind", "scale"),
                    low=scale.get("low", ""),
                    high=scale.get("high", ""),
                    options=tuple(raw.get("options", ())),
                    optional=raw.get("optional", False),
                    scale=raw.get("scale", "") if raw.get("kind", "scale") == "scale" else "",
                )
            )
        surveys[survey_id] = Survey(survey_id, spec["title"], spec["phase"], tuple(items),
                                    int(spec.get("closes_after_days", 14)), int(spec.get("remind_after_days", 3)))
    return surveys


def get_survey(survey_id: str) -> Survey:
    surveys = default_surveys()
    if survey_id not in surveys:
        raise KeyError(f"unknown survey '{survey_id}' (known: {', '.join(sorted(surveys))})")
    return surveys[survey_id]
