"""Seniority level (0 to 1) from the free-text grade or band a person gives.

The table is ours, a suggestion rather than any national equivalence: it puts doctors' training
grades and Agenda for Change bands on one rough scale so that "close seniority" means something
when a registrar is paired with a Band 8a manager. Coordinators can read the levels off LEVELS.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Agenda for Change bands; "Band 8" without a letter reads as 8a, the band's entry point.
BAND_LEVELS = {
    "1": 0.0, "2": 0.0, "3": 0.05, "4": 0.10, "5": 0.15, "6": 0.30, "7": 0.45,
    "8": 0.55, "8a": 0.55, "8b": 0.65, "8c": 0.75, "8d": 0.85, "9": 0.95,
}
FOUNDATION_LEVELS = {1: 0.10, 2: 0.15}
CORE_TRAINING_LEVEL = 0.25            # CT1-3, ST1-2, SHO
SPECIALTY_LEVELS = {1: 0.25, 2: 0.25, 3: 0.40, 4: 0.40, 5: 0.40, 6: 0.55, 7: 0.55, 8: 0.55}
REGISTRAR_LEVEL = 0.55                # SpR, "Registrar" with no year
SAS_LEVEL = 0.60                      # SAS, staff grade, associate specialist, specialty doctor
CONSULTANT_LEVEL = 0.80

# The table as a coordinator would read it.
LEVELS = {
    "FY1": 0.10, "FY2": 0.15, "CT1-3 / ST1-2 / SHO": 0.25, "ST3-5": 0.40,
    "ST6-8 / SpR / Registrar": 0.55, "SAS / Staff grade / Associate specialist": 0.60,
    "Consultant": 0.80, **{f"Band {band}": level for band, level in BAND_LEVELS.items() if band != "8"},
}

_BAND = re.compile(r"\b(?:afc\s*)?band\s*(\d)\s*([a-d])?\b")
_BARE_BAND = re.compile(r"^(\d)\s*([a-d])?$")
_FOUNDATION = re.compile(r"\b(?:fy|f|foundation\s*(?:year)?)\s*([12])\b")
_CORE = re.compile(r"\b(?:ct|cst|cmt)\s*([1-3])\b")
_SPECIALTY = re.compile(r"\b(?:st|str|specialty\s*(?:trainee|registrar))\s*([1-8])\b")
_WORDS = (
    (re.compile(r"\bconsultant\b"), CONSULTANT_LEVEL),
    (re.compile(r"\b(?:sas|staff\s*grade|associate\s*specialist|specialty\s*doctor)\b"), SAS_LEVEL),
    (re.compile(r"\b(?:spr|registrar|reg)\b"), REGISTRAR_LEVEL),
    (re.compile(r"\b(?:sho|senior\s*house\s*officer|core\s*trainee)\b"), CORE_TRAINING_LEVEL),
)


@lru_cache(maxsize=4096)
def seniority_level(grade: str) -> float | None:
    """0 (most junior) to 1 (most senior), or None when the text is not a grade we know."""
    text = " ".join(re.sub(r"[-_./,()]", " ", (grade or "").lower()).split())
    if not text:
        return None
    # Tighter patterns first: "Band 7" must not be read as a bare number elsewhere in the text.
    if found := _BAND.search(text) or _BARE_BAND.match(text):
        number, letter = found.group(1), found.group(2) or ""
        return BAND_LEVELS.get(number + letter if number == "8" else number)
    if found := _FOUNDATION.search(text):
        return FOUNDATION_LEVELS[int(found.group(1))]
    if _CORE.search(text):
        return CORE_TRAINING_LEVEL
    if found := _SPECIALTY.search(text):
        return SPECIALTY_LEVELS[int(found.group(1))]
    for pattern, level in _WORDS:
        if pattern.search(text):
            return level
    return None
