"""Simpler matchers to measure the optimal one against (benchmark and tests).

Both make their clinician-manager pairs their own way and then place the leftovers exactly as
match() does, so the three are compared on the same terms.
"""

from __future__ import annotations

from collections.abc import Sequence

from .assign import TieBreak, greedy_cells, place_everyone
from .model import (
    CLINICIAN,
    DEFAULT_WEIGHTS,
    MANAGER,
    NO_RULES,
    Candidate,
    Matching,
    Rules,
    Weights,
)
from .score import Cohort


def greedy_pairs(cohort: Cohort, ties: TieBreak) -> list[tuple[int, int]]:
    """(clinician, manager) cohort indices: the best-scoring allowed pair first, while both are free."""
    clinicians, managers = cohort.where_role(CLINICIAN), cohort.where_role(MANAGER)
    if not len(clinicians) or not len(managers):
        return []
    return greedy_cells(cohort.scores(clinicians, managers), cohort.forbidden(clinicians, managers),
                        clinicians, managers, len(cohort), ties)


def random_pairs(cohort: Cohort, ties: TieBreak) -> list[tuple[int, int]]:
    """(clinician, manager) cohort indices paired in a seeded random order; forbidden pairs are skipped."""
    clinicians = ties.rng.permutation(cohort.where_role(CLINICIAN))
    managers = ties.rng.permutation(cohort.where_role(MANAGER))
    count = min(len(clinicians), len(managers))
    clinicians, managers = clinicians[:count], managers[:count]
    keep = ~cohort.pair_forbidden(clinicians, managers) if count else []
    return list(zip(clinicians[keep].tolist(), managers[keep].tolist()))


def greedy(candidates: Sequence[Candidate], rules: Rules = NO_RULES, weights: Weights = DEFAULT_WEIGHTS,
           seed: int = 0) -> Matching:
    cohort, ties = Cohort(candidates, rules, weights), TieBreak(seed)
    return place_everyone(cohort, greedy_pairs(cohort, ties), ties)


def random_matching(candidates: Sequence[Candidate], rules: Rules = NO_RULES, weights: Weights = DEFAULT_WEIGHTS,
                    seed: int = 0) -> Matching:
    cohort, ties = Cohort(candidates, rules, weights), TieBreak(seed)
    return place_everyone(cohort, random_pairs(cohort, ties), ties)
