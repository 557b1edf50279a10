"""Before/after statistics for one survey item: the Wilcoxon signed-rank test on linked answers.

DOMAIN.md ("Evaluation"): per item, n of complete pairs of answers, median before and after,
median change, the Wilcoxon signed-rank p-value and an effect size. Answers are ordinal (1-5) and
groups small, so the test is scipy's, on the differences after minus before, with zero
differences dropped (Wilcoxon's own treatment): exact where no answers tie, else the normal
approximation with the tie correction. The effect size is r = |Z| / sqrt(n), Z from the
normal approximation (with the tie correction) and n the number of non-zero differences, so r
and p describe the same comparison. With fewer than six linked pairs, or no change at all, the
test is not run and the result says why.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from scipy.stats import wilcoxon

MIN_LINKED_PAIRS = 6
TOO_FEW = "fewer than six linked pairs: the test cannot be run"
NO_CHANGE = "nobody's answer changed: the test cannot be run"


@dataclass(frozen=True)
class Change:
    """One item's before/after comparison for one group of people."""

    n: int  # people who answered both before and after
    median_before: float | None
    median_after: float | None
    median_change: float | None
    p_value: float | None
    effect_r: float | None
    note: str = ""  # why there is no p-value, when there is none

    @property
    def tested(self) -> bool:
        return self.p_value is not None


def compare(before: Sequence[float], after: Sequence[float]) -> Change:
    """`before[i]` and `after[i]` are one person's answers."""
    if len(before) != len(after):
        raise ValueError("before and after must be linked answers of the same people")
    n = len(before)
    if n == 0:
        return Change(0, None, None, None, None, None, TOO_FEW)
    differences = [a - b for b, a in zip(before, after, strict=True)]
    medians = (statistics.median(before), statistics.median(after), statistics.median(differences))
    if n < MIN_LINKED_PAIRS:
        return Change(n, *medians, None, None, TOO_FEW)
    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return Change(n, *medians, None, None, NO_CHANGE)
    # Exact p where the exact null distribution holds (no ties, no zeros, up to 50 differences);
    # otherwise the normal approximation with the tie correction. (scipy's own choice for ties
    # is a permutation test that takes seconds for a dozen answers.)
    approx = wilcoxon(differences, zero_method="wilcox", method="approx")
    exact_applies = len(nonzero) == n and len({abs(d) for d in nonzero}) == n and n <= 50
    p_value = float(wilcoxon(differences, method="exact").pvalue) if exact_applies else float(approx.pvalue)
    effect = abs(float(approx.zstatistic)) / math.sqrt(len(nonzero))
    return Change(n, *medians, p_value, effect)
