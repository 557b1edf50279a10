"""What the matcher reads (the cohort's people, the coordinator's rules and weights) and what it returns."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

CLINICIAN = "clinician"
MANAGER = "manager"
OTHER = "other"
ROLES = (MANAGER, CLINICIAN, OTHER)  # also the order of members within a group
DEPARTMENT_MODES = ("same", "different", "any")


@dataclass(frozen=True)
class Candidate:
    id: int                      # the person's id (unique in the cohort; stable across cohorts)
    role: str                    # "clinician" | "manager" | "other"
    name: str = ""               # for rationales only
    profession: str = ""
    site: str = ""
    department: str = ""
    grade: str = ""              # free text: "FY2", "ST4", "Consultant", "Band 7", "8a", ...
    goals: frozenset[str] = frozenset()        # learning goal tags, lower-case
    line_manager: int | None = None            # id of their line manager, if known
    requests: frozenset[int] = frozenset()     # ids of people they asked to be paired with

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"person {self.id}: role must be one of {', '.join(ROLES)}, not {self.role!r}")
        # Callers pass lists or sets from forms; keep the frozen, hashable, normalised form.
        object.__setattr__(self, "goals", frozenset(g.strip().lower() for g in self.goals if g.strip()))
        object.__setattr__(self, "requests", frozenset(self.requests) - {self.id})

    @property
    def label(self) -> str:
        return self.name or f"#{self.id}"


def _id_pairs(pairs: Iterable[Iterable[int]], what: str) -> frozenset[frozenset[int]]:
    result = set()
    for pair in pairs:
        ids = frozenset(pair)
        if len(ids) != 2:
            raise ValueError(f"{what}: each entry must name two different people, not {sorted(ids)}")
        result.add(ids)
    return frozenset(result)


@dataclass(frozen=True)
class Rules:
    exclusions: frozenset[frozenset[int]] = frozenset()   # pairs of ids the coordinator keeps apart
    earlier: frozenset[frozenset[int]] = frozenset()      # pairs of ids who were buddies in an earlier cohort

    def __post_init__(self) -> None:
        object.__setattr__(self, "exclusions", _id_pairs(self.exclusions, "exclusions"))
        object.__setattr__(self, "earlier", _id_pairs(self.earlier, "earlier buddies"))

    @classmethod
    def from_pairs(cls, exclusions: Iterable[Iterable[int]] = (),
                   earlier: Iterable[Iterable[int]] = ()) -> Rules:
        """Rules.from_pairs(exclusions=[(1, 2)], earlier=[(3, 4)])"""
        return cls(frozenset(map(frozenset, exclusions)), frozenset(map(frozenset, earlier)))


@dataclass(frozen=True)
class Weights:
    site: float = 3.0
    department: float = 2.0
    department_mode: str = "different"    # "same" | "different" | "any" (cohort's choice)
    seniority: float = 2.0
    goals: float = 3.0
    mutual: float = 5.0                   # both asked for each other; a one-way request earns half

    def __post_init__(self) -> None:
        if self.department_mode not in DEPARTMENT_MODES:
            raise ValueError(f"department_mode must be one of {', '.join(DEPARTMENT_MODES)}")
        for name in ("site", "department", "seniority", "goals", "mutual"):
            value = getattr(self, name)
            # Scores must stay non-negative: the solver's forbidden cost and the ranking rely on it.
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"weight {name} must be a number >= 0, not {value!r}")

    @property
    def most(self) -> float:
        """The highest score one pair can reach."""
        department = 0.0 if self.department_mode == "any" else self.department
        return self.site + department + self.seniority + self.goals + self.mutual


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]   # 2 to 4 ids: managers, then clinicians, then others, each by id
    score: float               # sum of pair_score over every unordered pair of members
    rationale: str             # one line a coordinator reads


@dataclass(frozen=True)
class Unplaced:
    id: int
    reason: str                # names the rule that kept them out


@dataclass(frozen=True)
class Matching:
    groups: tuple[Group, ...]
    unplaced: tuple[Unplaced, ...]
    score: float               # sum of group scores


NO_RULES = Rules()           # shared defaults: both are frozen, so one instance serves every call
DEFAULT_WEIGHTS = Weights()
