"""Matching a cohort's clinicians with managers: hard rules, weighted preferences, groups of 2-4.

    from bot.matching import Candidate, Rules, Weights, match
    matching = match(candidates, Rules.from_pairs(exclusions=[(12, 40)]), Weights(department_mode="same"), seed=7)

Plain Python, numpy and scipy only; the command layer turns a Matching into messages.
"""

from .assign import match
from .baselines import greedy, random_matching
from .model import (
    CLINICIAN,
    MANAGER,
    OTHER,
    Candidate,
    Group,
    Matching,
    Rules,
    Unplaced,
    Weights,
)
from .score import allowed, breaks_rule, pair_score, total_score
from .seniority import seniority_level

__all__ = [
    "CLINICIAN", "MANAGER", "OTHER", "Candidate", "Group", "Matching", "Rules", "Unplaced", "Weights",
    "allowed", "breaks_rule", "greedy", "match", "pair_score", "random_matching", "seniority_level",
    "total_score",
]
