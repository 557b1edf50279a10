"""The optimal matcher: clinicians with managers as one assignment problem, then everyone else placed.

1. Core: the clinician x manager score matrix goes to scipy's linear_sum_assignment. Forbidden
   cells cost more than any set of real scores can win back, so the solver first makes as many
   allowed pairs as it can and only then the best-scoring ones; a forbidden cell it still had to
   use is dropped and both people join the leftovers.
2. Leftovers (the larger side's surplus, "other" roles, people the rules left out) join pairs as a
   third member, then trios as a fourth; the rest pair among themselves and the rounds repeat
   until nothing changes.
3. Someone still left may fit once a group changes: they take the place of the one member in
   their way (who moves on, at most one step further), or a trio or quartet splits in two with
   them. Whoever is still left after that is reported in `unplaced` with the reason.

A seeded jitter, far below any real score difference, breaks ties so a seed always gives the
same groups and another seed may choose differently among equally good options.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .model import (
    CLINICIAN,
    DEFAULT_WEIGHTS,
    MANAGER,
    NO_RULES,
    ROLES,
    Candidate,
    Group,
    Matching,
    Rules,
    Unplaced,
    Weights,
)
from .score import (
    HARD_RULES,
    Cohort,
    group_score,
    pair_score,
    rules_broken,
    score_parts,
)

TIE_JITTER_TOTAL = 1e-6   # the most jitter can add up to across one whole assignment
PROFESSION_MIX = 0.5      # leftover placement only: a group gains from a profession it lacks
GREEDY_CHUNK = 1 << 16


class TieBreak:
    """The seeded source of tie-breaking jitter; every solver call draws from it in a fixed order."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.Generator(np.random.PCG64(seed % 2**64))

    def jitter(self, shape: tuple[int, int]) -> np.ndarray:
        return self.rng.random(shape) * (TIE_JITTER_TOTAL / max(1, *shape))


def assign(score: np.ndarray, forbidden: np.ndarray, ties: TieBreak) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the best assignment (maximum score), keeping only allowed cells."""
    if score.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # One forbidden cell costs more than the best scores of every row together could repay.
    too_much = (float(score.max()) + 1.0) * (min(score.shape) + 1)
    cost = ties.jitter(score.shape)
    cost -= score
    cost[forbidden] = too_much
    rows, cols = linear_sum_assignment(cost)
    keep = ~forbidden[rows, cols]
    return rows[keep], cols[keep]


def greedy_cells(score: np.ndarray, forbidden: np.ndarray, row_people: np.ndarray, col_people: np.ndarray,
                 size: int, ties: TieBreak) -> list[tuple[int, int]]:
    """Best cell first, taken when neither person is taken yet; rows and columns may be the same people."""
    if score.size == 0:
        return []
    key = ties.jitter(score.shape)
    key += score
    key[forbidden] = -np.inf
    order = np.argsort(-key, axis=None)
    taken = np.zeros(size, dtype=bool)
    cells = []
    most = min(len(set(row_people.tolist()) | set(col_people.tolist())) // 2, len(row_people), len(col_people))
    width = score.shape[1]
    for start in range(0, order.size, GREEDY_CHUNK):
        chunk = order[start:start + GREEDY_CHUNK]
        chunk = chunk[np.isfinite(key.flat[chunk])]
        rows, cols = row_people[chunk // width], col_people[chunk % width]
        free = ~taken[rows] & ~taken[cols]   # most cells fall here once the early pairs are made
        for a, b in zip(rows[free].tolist(), cols[free].tolist()):
            if not taken[a] and not taken[b]:
                taken[a] = taken[b] = True
                cells.append((a, b))
        if len(cells) >= most or chunk.size < GREEDY_CHUNK:
            break
    return cells


def optimal_pairs(cohort: Cohort, ties: TieBreak) -> list[tuple[int, int]]:
    """(clinician, manager) cohort indices of the best allowed assignment."""
    clinicians, managers = cohort.where_role(CLINICIAN), cohort.where_role(MANAGER)
    if not len(clinicians) or not len(managers):
        return []
    rows, cols = assign(cohort.scores(clinicians, managers), cohort.forbidden(clinicians, managers), ties)
    return list(zip(clinicians[rows].tolist(), managers[cols].tolist()))


def _lacks_profession(cohort: Cohort, newcomers: np.ndarray, members: np.ndarray) -> np.ndarray:
    """1 where the newcomer's (known) profession is not yet in the group; members is groups x size."""
    theirs = cohort.profession[newcomers]
    present = (cohort.profession[members][None, :, :] == theirs[:, None, None]).any(axis=2)
    return ((theirs >= 0)[:, None] & ~present).astype(np.float64)


def _attach(cohort: Cohort, groups: list[list[int]], left: list[int], size: int, ties: TieBreak) -> list[int]:
    """Leftovers join groups of `size` members, at most one each; returns who is still left."""
    open_groups = [g for g in groups if len(g) == size]
    if not left or not open_groups:
        return left
    newcomers = np.array(left, dtype=np.int64)
    members = np.array(open_groups, dtype=np.int64)            # groups x size
    flat = members.ravel()
    score = cohort.scores(newcomers, flat).reshape(len(left), len(open_groups), size).sum(axis=2)
    forbidden = cohort.forbidden(newcomers, flat).reshape(len(left), len(open_groups), size).any(axis=2)
    rows, cols = assign(score + PROFESSION_MIX * _lacks_profession(cohort, newcomers, members), forbidden, ties)
    joins = list(zip(rows.tolist(), cols.tolist()))
    for r, c in joins:
        open_groups[c].append(int(newcomers[r]))
    joined = {r for r, _ in joins}
    return [person for k, person in enumerate(left) if k not in joined]


def _pair_up(cohort: Cohort, groups: list[list[int]], left: list[int], ties: TieBreak) -> list[int]:
    """Leftovers pair among themselves: two halves (managers opposite clinicians where possible)
    through the solver, then any allowed pair the split kept apart."""
    if len(left) < 2:
        return left
    rank = {role: n for n, role in enumerate(ROLES)}
    order = [left[k] for k in ties.rng.permutation(len(left))]
    order.sort(key=lambda i: rank[cohort.people[i].role])
    half = len(order) // 2
    one, other = np.array(order[:half], dtype=np.int64), np.array(order[half:], dtype=np.int64)
    mixed = (cohort.profession[one][:, None] != cohort.profession[other][None, :]) \
        & (cohort.profession[one][:, None] >= 0) & (cohort.profession[other][None, :] >= 0)
    rows, cols = assign(cohort.scores(one, other) + PROFESSION_MIX * mixed, cohort.forbidden(one, other), ties)
    paired = set()
    for r, c in zip(rows.tolist(), cols.tolist()):
        groups.append([int(one[r]), int(other[c])])
        paired.update((int(one[r]), int(other[c])))
    rest = np.array(sorted(set(left) - paired), dtype=np.int64)
    if len(rest) >= 2:
        for a, b in greedy_cells(cohort.scores(rest, rest), cohort.forbidden(rest, rest), rest, rest,
                                 len(cohort), ties):
            groups.append([a, b])
            paired.update((a, b))
    return [person for person in left if person not in paired]


def _rounds(cohort: Cohort, groups: list[list[int]], left: list[int], ties: TieBreak) -> list[int]:
    while left:
        before = len(left)
        left = _attach(cohort, groups, left, 2, ties)
        left = _attach(cohort, groups, left, 3, ties)
        left = _pair_up(cohort, groups, left, ties)
        if len(left) == before:
            break
    return left


Change = list[tuple[int | None, list[int]]]   # (group number, or None for a new group; its members)


class _Rearrangement:
    """Ways to fit in someone the rounds could not place by changing a few groups: they take the
    place of the one member in their way, who moves on (at most one more step), or a trio or
    quartet splits in two with them."""

    def __init__(self, cohort: Cohort, groups: list[list[int]], left: list[int]):
        self.cohort, self.groups, self.left = cohort, groups, left
        self.group_of = {m: number for number, group in enumerate(groups) for m in group}
        self.with_room = [number for number, group in enumerate(groups) if len(group) < 4]
        self._apart: dict[int, frozenset[int]] = {}

    def apart(self, person: int) -> frozenset[int]:
        if person not in self._apart:
            self._apart[person] = self.cohort.kept_apart(person) - {person}
        return self._apart[person]

    def fits(self, person: int, members: Sequence[int]) -> bool:
        return self.apart(person).isdisjoint(members)

    def blocked_by_one(self, person: int, avoid: frozenset[int]) -> Iterator[tuple[int, int]]:
        """(group number, the one member in the way) for groups only one member keeps `person` out of."""
        blockers: dict[int, list[int]] = {}
        for rival in self.apart(person):
            if rival in self.group_of:
                blockers.setdefault(self.group_of[rival], []).append(rival)
        for number in sorted(blockers):
            if number not in avoid and len(blockers[number]) == 1 and len(self.groups[number]) > 1:
                yield number, blockers[number][0]

    def splits(self, person: int, number: int) -> Iterator[Change]:
        """A trio or quartet and the newcomer as two groups."""
        group = self.groups[number]
        if len(group) < 3 or all(m in self.apart(person) for m in group):
            return
        everyone = [*group, person]
        for size in range(2, len(everyone) - 1):
            for part in combinations(everyone, size):
                rest = [m for m in everyone if m not in part]
                if person in part and all(self.fits(m, part) for m in part) and all(self.fits(m, rest) for m in rest):
                    yield [(number, list(part)), (None, rest)]

    def homes(self, person: int, avoid: frozenset[int], waiting: int, steps: int) -> Iterator[Change]:
        """Places for someone moved out of a group, leaving the groups in `avoid` alone."""
        for number in self.with_room:
            if number not in avoid and self.fits(person, self.groups[number]):
                yield [(number, self.groups[number] + [person])]
        for partner in self.left:
            if partner != waiting and self.fits(person, [partner]):
                yield [(None, [person, partner])]
        for number in self.with_room:   # few: each keeps the waiting person out
            if number not in avoid:
                yield from self.splits(person, number)
        if steps:
            for number, blocker in self.blocked_by_one(person, avoid):
                stay = [m for m in self.groups[number] if m != blocker] + [person]
                for rest in self.homes(blocker, avoid | {number}, waiting, steps - 1):
                    yield [(number, stay), *rest]

    def options(self, person: int) -> Iterator[Change]:
        blocked = {self.group_of[r] for r in self.apart(person) if r in self.group_of}
        for number, group in enumerate(self.groups):
            if number not in blocked:
                if len(group) < 4:
                    yield [(number, group + [person])]
                else:   # a full group: anyone in it may make room
                    for mover in group:
                        stay = [m for m in group if m != mover] + [person]
                        for rest in self.homes(mover, frozenset({number}), person, 0):
                            yield [(number, stay), *rest]
            yield from self.splits(person, number)
        for number, blocker in self.blocked_by_one(person, frozenset()):
            stay = [m for m in self.groups[number] if m != blocker] + [person]
            for rest in self.homes(blocker, frozenset({number}), person, 1):
                yield [(number, stay), *rest]

    def gains(self, changes: list[Change]) -> np.ndarray:
        """Score after minus score before, for every change at once."""
        terms = []   # (change, person, person, +1 for a new pair or -1 for one that goes)
        for k, change in enumerate(changes):
            for number, members in change:
                terms += [(k, x, y, 1.0) for x, y in combinations(members, 2)]
                if number is not None:
                    terms += [(k, x, y, -1.0) for x, y in combinations(self.groups[number], 2)]
        gains = np.zeros(len(changes))
        if terms:
            owner, a, b, sign = (np.array(column) for column in zip(*terms))
            np.add.at(gains, owner, self.cohort.pair_scores(a, b) * sign)
        return gains

    def place(self, person: int) -> bool:
        changes = list(self.options(person))
        if not changes:
            return False
        best = changes[int(np.argmax(self.gains(changes)))]   # first of equals: deterministic
        for number, members in best:
            if number is None:
                self.groups.append(members)
            else:
                self.groups[number] = members
        placed = {m for _, members in best for m in members}
        self.left[:] = [m for m in self.left if m not in placed]
        return True


def place_everyone(cohort: Cohort, pairs: Sequence[tuple[int, int]], ties: TieBreak) -> Matching:
    """Complete a core of pairs (cohort indices) into groups of 2-4 holding everyone who can be placed."""
    groups = [list(pair) for pair in pairs]
    placed = {person for pair in pairs for person in pair}
    left = _rounds(cohort, groups, [person for person in range(len(cohort)) if person not in placed], ties)
    while left:
        # The rounds only add people to groups; someone they could not place may still fit if a
        # group changes. Each rearrangement places at least one more person.
        rearrange = _Rearrangement(cohort, groups, left)
        if not any(rearrange.place(person) for person in list(left)):
            break
        left = _rounds(cohort, groups, left, ties)
    return _result(cohort, groups, left)


def _in_group_order(person: Candidate) -> tuple[int, int]:
    return ROLES.index(person.role), person.id


def rationale(people: Sequence[Candidate], weights: Weights) -> str:
    """One line: what the group's best-fitting pair has in common."""
    a, b = max(combinations(people, 2), key=lambda pair: pair_score(*pair, weights))
    words = "; ".join(part.words for part in score_parts(a, b, weights) if part.words)
    if not words:
        words = "no shared preferences; the best allowed fit"
        return words if len(people) == 2 else f"group of {len(people)}; {words}"
    return words if len(people) == 2 else f"group of {len(people)}; {a.label} & {b.label}: {words}"


def unplaced_reason(person: Candidate, cohort: Cohort, groups: Sequence[Sequence[int]],
                    left: Sequence[int]) -> str:
    if len(cohort) == 1:
        return "the only person in the cohort"
    broken: set[str] = set()
    full = False
    for group in groups:
        if len(group) >= 4:
            full = True
            continue
        for member in group:
            broken.update(rules_broken(person, cohort.people[member], cohort.rules))
    for other in left:
        if cohort.people[other].id != person.id:
            broken.update(rules_broken(person, cohort.people[other], cohort.rules))
    names = " / ".join(rule for rule in HARD_RULES if rule in broken)
    if names and full:
        return f"every group with room would break a hard rule ({names}); the other groups are full (4 members)"
    if names:
        return f"every possible group would break a hard rule ({names})"
    return "every group is full (4 members) and nobody else is left to pair with"


def _result(cohort: Cohort, groups: list[list[int]], left: list[int]) -> Matching:
    weights, finished = cohort.weights, []
    for group in groups:
        people = sorted((cohort.people[i] for i in group), key=_in_group_order)
        members = tuple(p.id for p in people)
        finished.append(Group(members, group_score(members, cohort.by_id, weights), rationale(people, weights)))
    finished.sort(key=lambda g: g.members)
    unplaced = tuple(Unplaced(cohort.people[i].id, unplaced_reason(cohort.people[i], cohort, groups, left))
                     for i in sorted(left))
    return Matching(tuple(finished), unplaced, float(sum(g.score for g in finished)))


def match(candidates: Sequence[Candidate], rules: Rules = NO_RULES, weights: Weights = DEFAULT_WEIGHTS,
          seed: int = 0) -> Matching:
    """Pairs (and where needed groups of three or four) with the highest total preference score
    that break no hard rule; the same seed always gives the same groups."""
    cohort = Cohort(candidates, rules, weights)
    ties = TieBreak(seed)
    return place_everyone(cohort, optimal_pairs(cohort, ties), ties)
