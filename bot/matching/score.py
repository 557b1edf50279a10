"""How well two people fit (the weighted preferences) and whether they may be paired at all (the hard rules).

Two forms of the same thing: the scalar functions (pair_score, breaks_rule) explain one pair and
write rationales; Cohort scores whole blocks of pairs at once with numpy so that a 2,000 x 2,000
matrix costs a few array operations rather than four million Python calls. The tests hold the two
to the same numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .model import DEFAULT_WEIGHTS, NO_RULES, Candidate, Group, Rules, Weights
from .seniority import seniority_level

LINE_MANAGER = "line manager"
EXCLUSION = "exclusion"
EARLIER_BUDDY = "earlier buddy"
SAME_PERSON = "same person"
HARD_RULES = (LINE_MANAGER, EXCLUSION, EARLIER_BUDDY)
CLOSE_SENIORITY = 0.2   # a level gap up to this reads as "close" in a rationale


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Part:
    """One preference that contributed to a pair's score, with the words a coordinator reads."""
    points: float
    words: str


def score_parts(a: Candidate, b: Candidate, weights: Weights = DEFAULT_WEIGHTS) -> list[Part]:
    parts = []
    if _key(a.site) and _key(a.site) == _key(b.site) and weights.site:
        parts.append(Part(weights.site, f"same site ({a.site.strip()})"))
    dept_a, dept_b = _key(a.department), _key(b.department)
    if dept_a and dept_b and weights.department:
        if weights.department_mode == "same" and dept_a == dept_b:
            parts.append(Part(weights.department, f"same department ({a.department.strip()})"))
        elif weights.department_mode == "different" and dept_a != dept_b:
            parts.append(Part(weights.department,
                              f"different departments ({a.department.strip()}, {b.department.strip()})"))
    level_a, level_b = seniority_level(a.grade), seniority_level(b.grade)
    if level_a is not None and level_b is not None and weights.seniority:
        gap = abs(level_a - level_b)
        words = f"close seniority ({a.grade.strip()}, {b.grade.strip()})" if gap <= CLOSE_SENIORITY else ""
        parts.append(Part(weights.seniority * (1 - gap), words))
    shared = a.goals & b.goals
    if shared and weights.goals:
        parts.append(Part(weights.goals * (len(shared) / len(a.goals | b.goals)),
                          "shared goals: " + ", ".join(sorted(shared))))
    asked_ab, asked_ba = b.id in a.requests, a.id in b.requests
    if (asked_ab or asked_ba) and weights.mutual:
        if asked_ab and asked_ba:
            parts.append(Part(weights.mutual, "asked for each other"))
        else:
            asker, asked = (a, b) if asked_ab else (b, a)
            parts.append(Part(weights.mutual / 2, f"{asker.label} asked for {asked.label}"))
    return parts


def pair_score(a: Candidate, b: Candidate, weights: Weights = DEFAULT_WEIGHTS) -> float:
    """The weighted preferences two people share; never negative."""
    return float(sum(part.points for part in score_parts(a, b, weights)))


def rules_broken(a: Candidate, b: Candidate, rules: Rules = NO_RULES) -> list[str]:
    """Every hard rule pairing a with b would break, most personal first."""
    if a.id == b.id:
        return [SAME_PERSON]
    pair = frozenset((a.id, b.id))
    checks = ((LINE_MANAGER, a.line_manager == b.id or b.line_manager == a.id),
              (EXCLUSION, pair in rules.exclusions), (EARLIER_BUDDY, pair in rules.earlier))
    return [rule for rule, broken in checks if broken]


def breaks_rule(a: Candidate, b: Candidate, rules: Rules = NO_RULES) -> str | None:
    """The hard rule pairing a with b would break ("line manager", "exclusion", "earlier buddy"), or None."""
    broken = rules_broken(a, b, rules)
    return broken[0] if broken else None


def allowed(a: Candidate, b: Candidate, rules: Rules = NO_RULES) -> bool:
    return breaks_rule(a, b, rules) is None


def group_score(members: Sequence[int], by_id: Mapping[int, Candidate], weights: Weights) -> float:
    people = [by_id[i] for i in members]
    return sum(pair_score(people[x], people[y], weights)
               for x in range(len(people)) for y in range(x + 1, len(people)))


def total_score(groups: Iterable[Group], by_id: Mapping[int, Candidate], weights: Weights = DEFAULT_WEIGHTS) -> float:
    """The matching's score recomputed from its members (the benchmark's independent check)."""
    return float(sum(group_score(group.members, by_id, weights) for group in groups))


def _codes(texts: list[str]) -> np.ndarray:
    """Equal (normalised) texts get equal codes; an empty text gets -1 so it never matches."""
    keys = np.array([_key(t) for t in texts] + [""], dtype=object)
    _, codes = np.unique(keys, return_inverse=True)
    codes = codes.astype(np.int64)
    empty = codes[-1]
    return np.where(codes[:-1] == empty, -1, codes[:-1])


class Cohort:
    """The enrolled people as arrays, indexed 0..n-1 in id order, with the rules and weights.

    scores(rows, cols) and forbidden(rows, cols) give len(rows) x len(cols) matrices;
    pair_scores(a, b) and pair_forbidden(a, b) the same for aligned index vectors.
    """

    def __init__(self, candidates: Sequence[Candidate], rules: Rules = NO_RULES, weights: Weights = DEFAULT_WEIGHTS):
        people = sorted(candidates, key=lambda c: c.id)
        counts = Counter(c.id for c in people)
        if len(counts) != len(people):
            repeated = sorted(i for i, count in counts.items() if count > 1)
            raise ValueError(f"each person may be in the cohort once; repeated ids: {repeated}")
        self.people: tuple[Candidate, ...] = tuple(people)
        self.rules, self.weights = rules, weights
        self.index = {c.id: n for n, c in enumerate(people)}
        self.by_id = {c.id: c for c in people}
        n = len(people)
        self.roles = np.array([c.role for c in people], dtype=object)
        self.site = _codes([c.site for c in people])
        self.department = _codes([c.department for c in people])
        self.profession = _codes([c.profession for c in people])
        levels = [seniority_level(c.grade) for c in people]
        self.level = np.array([np.nan if v is None else v for v in levels], dtype=np.float64)

        # Goals: a person x tag incidence matrix, so shared goals for a block is one product.
        tags = sorted({g for c in people for g in c.goals})
        tag_index = {t: k for k, t in enumerate(tags)}
        rows = [n_ for n_, c in enumerate(people) for _ in c.goals]
        cols = [tag_index[g] for c in people for g in c.goals]
        self.goals = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(len(tags), 1)))
        self.goal_count = np.asarray(self.goals.sum(axis=1)).ravel()

        # Requests: asked[i, j] = 1 when i asked for j (and j is in the cohort).
        pairs = [(self.index[c.id], self.index[r]) for c in people for r in c.requests if r in self.index]
        self.asked = self._matrix(pairs, n, symmetric=False)

        # Hard rules as one symmetric sparse matrix: only the few forbidden pairs are ever listed.
        banned = [(n_, self.index[c.line_manager]) for n_, c in enumerate(people)
                  if c.line_manager is not None and c.line_manager in self.index and c.line_manager != c.id]
        for pair in rules.exclusions | rules.earlier:
            a, b = tuple(pair)
            if a in self.index and b in self.index:
                banned.append((self.index[a], self.index[b]))
        banned += [(i, i) for i in range(n)]
        self.banned = self._matrix(banned, n, symmetric=True)

    @staticmethod
    def _matrix(pairs: list[tuple[int, int]], n: int, symmetric: bool) -> sparse.csr_matrix:
        if symmetric:
            pairs = pairs + [(b, a) for a, b in pairs]
        rows = np.array([p[0] for p in pairs], dtype=np.int64)
        cols = np.array([p[1] for p in pairs], dtype=np.int64)
        matrix = sparse.csr_matrix((np.ones(len(pairs)), (rows, cols)), shape=(n, n))
        matrix.data[:] = 1.0  # duplicates were summed; a listed pair counts once
        return matrix

    def __len__(self) -> int:
        return len(self.people)

    def where_role(self, role: str) -> np.ndarray:
        return np.flatnonzero(self.roles == role)

    def scores(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Pair scores of every row person with every column person (float64 matrix)."""
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        inter = (self.goals[rows] @ self.goals[cols].T).toarray()
        asked = (self.asked[rows][:, cols] + self.asked[cols][:, rows].T).toarray()
        return self._combine(rows[:, None], cols[None, :], inter, asked)

    def pair_scores(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pair scores of a[k] with b[k] for each k."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        inter = np.asarray(self.goals[a].multiply(self.goals[b]).sum(axis=1)).ravel()
        asked = np.asarray(self.asked[a, b]).ravel() + np.asarray(self.asked[b, a]).ravel()
        return self._combine(a, b, inter, asked)

    def _combine(self, a: np.ndarray, b: np.ndarray, shared_goals: np.ndarray, asked: np.ndarray) -> np.ndarray:
        """The score formula once, for index arrays that broadcast (a column against a row, or two vectors)."""
        w = self.weights
        site_a, site_b = self.site[a], self.site[b]
        score = w.site * ((site_a == site_b) & (site_a >= 0))
        if w.department_mode != "any":
            dept_a, dept_b = self.department[a], self.department[b]
            known = (dept_a >= 0) & (dept_b >= 0)
            fits = (dept_a == dept_b) if w.department_mode == "same" else (dept_a != dept_b)
            score = score + w.department * (known & fits)
        fit = 1.0 - np.abs(self.level[a] - self.level[b])
        score = score + w.seniority * np.nan_to_num(fit, nan=0.0)   # unknown grade: no contribution
        union = self.goal_count[a] + self.goal_count[b] - shared_goals
        with np.errstate(invalid="ignore", divide="ignore"):
            jaccard = np.where(union > 0, shared_goals / np.where(union > 0, union, 1), 0.0)
        score = score + w.goals * jaccard
        return score + (w.mutual / 2) * asked

    def forbidden(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """True where pairing the row person with the column person breaks a hard rule."""
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        return self.banned[rows][:, cols].toarray() > 0

    def kept_apart(self, person: int) -> frozenset[int]:
        """Everyone (cohort indices, themselves included) the person may not share a group with."""
        start, end = self.banned.indptr[person], self.banned.indptr[person + 1]
        return frozenset(self.banned.indices[start:end].tolist())

    def pair_forbidden(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        return np.asarray(self.banned[a, b]).ravel() > 0
