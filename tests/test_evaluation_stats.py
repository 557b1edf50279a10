"""The before/after statistics: a hand-worked case, agreement with scipy on generated data (ties
and zero differences included), and the cases where the test must not be run."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm, wilcoxon

from bot.evaluation.stats import NO_CHANGE, TOO_FEW, compare


def test_a_hand_worked_case_with_ties_and_a_zero_difference():
    before = [3, 2, 4, 3, 2, 4, 1, 3]
    after = [4, 4, 4, 4, 3, 3, 3, 4]
    # Differences 1 2 0 1 1 -1 2 1: the zero is dropped (n = 7). |d| = 1 five times share ranks 1-5
    # (3 each), |d| = 2 twice share ranks 6-7 (6.5 each). W- = 3 (the -1), W+ = 4*3 + 2*6.5 = 25.
    # Normal approximation: mean 7*8/4 = 14, variance 7*8*15/24 - (5^3-5 + 2^3-2)/48 = 35 - 2.625,
    # so Z = (3 - 14) / sqrt(32.375) = -1.9332 and r = 1.9332 / sqrt(7) = 0.7307.
    result = compare(before, after)
    assert result.n == 8
    assert (result.median_before, result.median_after, result.median_change) == (3, 4, 1)
    assert result.effect_r == pytest.approx(11 / math.sqrt(32.375) / math.sqrt(7), abs=1e-9)
    assert result.effect_r == pytest.approx(0.7307, abs=1e-4)
    # Ties, so the p-value is the normal one on that Z: 2 * (1 - Phi(1.9332)) = 0.0532.
    assert result.p_value == pytest.approx(2 * norm.sf(11 / math.sqrt(32.375)), rel=1e-9)
    assert result.p_value == pytest.approx(0.0532, abs=1e-4)


def test_without_ties_or_zeros_the_p_value_is_exact():
    # Differences 1..7, all positive: only the all-positive sign pattern is as extreme on each
    # side, so p = 2 / 2^7.
    result = compare([1] * 7, [2, 3, 4, 5, 6, 7, 8])
    assert result.p_value == pytest.approx(2 / 128)
    assert result.note == ""


def test_fewer_than_six_linked_pairs_say_the_test_cannot_be_run():
    result = compare([1, 2, 3, 2, 1], [3, 4, 5, 4, 3])
    assert result.n == 5 and result.p_value is None and result.effect_r is None
    assert result.note == TOO_FEW and "cannot be run" in result.note
    assert result.median_change == 2  # the medians are still reported
    assert compare([], []).note == TOO_FEW


def test_no_change_at_all_is_said_rather_than_tested():
    result = compare([3] * 8, [3] * 8)
    assert result.p_value is None and result.note == NO_CHANGE and result.median_change == 0


def test_answers_must_be_linked_pairs():
    with pytest.raises(ValueError):
        compare([1, 2], [1])


scores = st.integers(min_value=1, max_value=5)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(scores, scores), min_size=6, max_size=60))
def test_agrees_with_scipy_on_generated_answers(pairs):
    before = [b for b, _ in pairs]
    after = [a for _, a in pairs]
    result = compare(before, after)
    differences = [a - b for b, a in pairs]
    nonzero = [d for d in differences if d]
    if not nonzero:
        assert result.p_value is None and result.note == NO_CHANGE
        return
    # Our own Wilcoxon: ranks of |d| with ties averaged, W+, the tie-corrected normal Z.
    n = len(nonzero)
    magnitudes = sorted(abs(d) for d in nonzero)
    ranks = {}
    for value in set(magnitudes):
        first = magnitudes.index(value) + 1
        ranks[value] = first + (magnitudes.count(value) - 1) / 2
    w_plus = sum(ranks[abs(d)] for d in nonzero if d > 0)
    ties = sum(magnitudes.count(v) ** 3 - magnitudes.count(v) for v in set(magnitudes))
    variance = n * (n + 1) * (2 * n + 1) / 24 - ties / 48
    z = (w_plus - n * (n + 1) / 4) / math.sqrt(variance)
    assert result.effect_r == pytest.approx(abs(z) / math.sqrt(n), rel=1e-9, abs=1e-12)
    if len(nonzero) == len(differences) and len(set(magnitudes)) == n and n <= 50:
        assert result.p_value == pytest.approx(float(wilcoxon(differences, method="exact").pvalue), rel=1e-9)
    else:
        assert result.p_value == pytest.approx(min(1.0, 2 * norm.sf(abs(z))), rel=1e-9, abs=1e-12)
    assert 0 <= result.p_value <= 1
