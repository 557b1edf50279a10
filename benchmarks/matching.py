"""Matching benchmark: the optimal matcher beside a greedy and a random one, on one generated cohort.

    python benchmarks/matching.py [--clinicians 2000] [--managers 2000] [--seed 1]

The cohort is generated from the seed: five sites, clinical and corporate departments, doctors'
grades and Agenda for Change bands, one to four goals from twelve tags, about 1% "other" roles on
top of the clinicians and managers, about 2% line-manager links, some exclusions, some earlier
buddies, and some mutual and one-way requests.

Each matcher runs in a fresh child process (multiprocessing, spawn), so its figures are its own:
- time: wall time of the matcher call alone (cohort generation is not timed);
- peak memory: the child's maximum resident set size, which includes the interpreter, numpy,
  scipy and the generated cohort (their share is shown as "before");
- score: the total preference score, recomputed from the groups with the scalar pair_score;
- groups by size, unplaced people, and hard-rule breaks (which must be 0).
The last line carries the figures. Targets (matching issue): under 5 s, under 1 GB, a better
score than greedy. Exits 1 if a hard rule was broken or someone was dropped silently.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.matching import (
    Candidate,
    Rules,
    Weights,
    breaks_rule,
    greedy,
    match,
    random_matching,
    total_score,
)

MATCHERS = {"optimal": match, "greedy": greedy, "random": random_matching}
TARGET_SECONDS, TARGET_MB = 5.0, 1024.0

SITES = ["North", "South", "City", "Riverside", "Community"]
SITE_SHARES = [0.35, 0.25, 0.2, 0.12, 0.08]
CLINICAL_DEPARTMENTS = ["ED", "Acute Medicine", "Surgery", "Paediatrics", "Maternity", "ICU", "Radiology",
                        "Theatres", "Outpatients", "Cardiology"]
CORPORATE_DEPARTMENTS = ["Finance", "HR", "Operations", "Estates", "Digital", "Quality", "Workforce"]
GOALS = ["budgets", "rotas", "leadership", "quality improvement", "patient flow", "recruitment", "governance",
         "digital", "wellbeing", "teaching", "negotiation", "research"]
CLINICAL_GRADES = {
    "doctor": ["FY1", "FY2", "CT1", "CT2", "ST3", "ST4", "ST5", "ST6", "StR 7", "SpR", "Consultant",
               "Specialty doctor"],
    "nurse": ["Band 5", "Band 6", "Band 7", "Band 8a"],
    "midwife": ["Band 5", "Band 6", "Band 7"],
    "physiotherapist": ["Band 5", "band-6", "Band 7", "8A"],
    "radiographer": ["Band 5", "Band 6", "Band 7"],
    "paramedic": ["Band 5", "Band 6", "Band 7"],
}
PROFESSION_SHARES = [0.35, 0.3, 0.1, 0.1, 0.08, 0.07]
MANAGER_GRADES = ["Band 7", "Band 8a", "Band 8b", "Band 8c", "Band 8d", "Band 9", ""]
OTHER_PROFESSIONS = ["pharmacist", "psychologist", "chaplain", "dietitian"]


def generate(clinicians: int, managers: int, seed: int) -> tuple[list[Candidate], Rules]:
    rng = np.random.default_rng(seed)
    others = max(1, round((clinicians + managers) / 100)) if clinicians + managers else 0
    roles = ["clinician"] * clinicians + ["manager"] * managers + ["other"] * others
    ids = list(range(1000, 1000 + len(roles)))
    clinician_ids, manager_ids = ids[:clinicians], ids[clinicians:clinicians + managers]
    line_manager: dict[int, int] = {}
    requests: dict[int, set[int]] = {i: set() for i in ids}
    exclusions: set[frozenset[int]] = set()
    earlier: set[frozenset[int]] = set()

    def some(people: list[int], share: float) -> list[int]:
        count = min(len(people), round(len(people) * share))
        return [people[k] for k in rng.choice(len(people), count, replace=False)] if count else []

    if manager_ids:
        for person in some(clinician_ids + manager_ids, 0.02):
            boss = manager_ids[rng.integers(len(manager_ids))]
            if boss != person:
                line_manager[person] = boss
        if clinician_ids:
            def random_manager() -> int:
                return manager_ids[rng.integers(len(manager_ids))]
            for person in some(clinician_ids, 0.005):
                exclusions.add(frozenset((person, random_manager())))
            for person in some(clinician_ids, 0.05):
                earlier.add(frozenset((person, random_manager())))
            for person in some(clinician_ids, 0.02):           # asked for each other
                buddy = random_manager()
                requests[person].add(buddy)
                requests[buddy].add(person)
            for person in some(clinician_ids, 0.03):           # one-way
                requests[person].add(random_manager())
            for person in some(manager_ids, 0.01):
                requests[person].add(clinician_ids[rng.integers(len(clinician_ids))])

    people = []
    professions = list(CLINICAL_GRADES)
    for person, role in zip(ids, roles):
        if role == "clinician":
            profession = professions[rng.choice(len(professions), p=PROFESSION_SHARES)]
            grade = str(rng.choice(CLINICAL_GRADES[profession]))
            department = str(rng.choice(CLINICAL_DEPARTMENTS))
        elif role == "manager":
            profession, grade = "manager", str(rng.choice(MANAGER_GRADES))
            department = str(rng.choice(CORPORATE_DEPARTMENTS + CLINICAL_DEPARTMENTS[:4]))
        else:
            profession, grade = str(rng.choice(OTHER_PROFESSIONS)), str(rng.choice(["Band 6", "Band 7", "8a"]))
            department = str(rng.choice(CLINICAL_DEPARTMENTS))
        goals = frozenset(str(g) for g in rng.choice(GOALS, rng.integers(1, 5), replace=False))
        people.append(Candidate(
            id=person, role=role, name=f"Person {person}", profession=profession,
            site=SITES[rng.choice(len(SITES), p=SITE_SHARES)], department=department, grade=grade,
            goals=goals, line_manager=line_manager.get(person), requests=frozenset(requests[person])))
    return people, Rules(frozenset(exclusions), frozenset(earlier - exclusions))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run_matcher(name: str, clinicians: int, managers: int, seed: int) -> dict:
    """In a fresh child process: generate the cohort, run one matcher, check and measure it."""
    people, rules = generate(clinicians, managers, seed)
    weights = Weights()
    before = peak_rss_mb()
    start = time.perf_counter()
    matching = MATCHERS[name](people, rules, weights, seed=seed)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()

    by_id = {p.id: p for p in people}
    seen = Counter(i for group in matching.groups for i in group.members)
    seen.update(u.id for u in matching.unplaced)
    breaks = sum(1 for group in matching.groups for a, b in combinations(group.members, 2)
                 if breaks_rule(by_id[a], by_id[b], rules) is not None)
    score = total_score(matching.groups, by_id, weights)
    return {
        "name": name, "seconds": seconds, "peak_mb": peak, "before_mb": before, "score": score,
        "reported_score": matching.score, "sizes": Counter(len(g.members) for g in matching.groups),
        "unplaced": len(matching.unplaced), "breaks": breaks,
        "dropped": sum(1 for p in people if seen[p.id] == 0),
        "repeated": sum(1 for count in seen.values() if count > 1),
        "bad_sizes": sum(1 for g in matching.groups if not 2 <= len(g.members) <= 4),
        "people": len(people), "links": (sum(p.line_manager is not None for p in people),
                                         len(rules.exclusions), len(rules.earlier),
                                         sum(len(p.requests) for p in people)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinicians", type=int, default=2000)
    parser.add_argument("--managers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    results = {}
    spawn = multiprocessing.get_context("spawn")
    for name in MATCHERS:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
            results[name] = child.submit(run_matcher, name, args.clinicians, args.managers, args.seed).result()

    first = results["optimal"]
    line_managers, exclusions, earlier, requests = first["links"]
    print(f"cohort: {args.clinicians} clinicians, {args.managers} managers, "
          f"{first['people'] - args.clinicians - args.managers} others; {line_managers} line-manager links, "
          f"{exclusions} exclusions, {earlier} earlier buddies, {requests} requests; seed {args.seed}")
    print(f"{'matcher':<8} {'time s':>7} {'peak MB':>8} {'before':>7} {'score':>10} {'pairs':>6} {'threes':>6} "
          f"{'fours':>6} {'unplaced':>8} {'breaks':>6} {'dropped':>7}")
    problems = []
    for name, r in results.items():
        print(f"{name:<8} {r['seconds']:>7.2f} {r['peak_mb']:>8.0f} {r['before_mb']:>7.0f} {r['score']:>10.1f} "
              f"{r['sizes'][2]:>6} {r['sizes'][3]:>6} {r['sizes'][4]:>6} {r['unplaced']:>8} {r['breaks']:>6} "
              f"{r['dropped']:>7}")
        if r["breaks"]:
            problems.append(f"{name}: {r['breaks']} pairs in groups break a hard rule")
        if r["dropped"] or r["repeated"] or r["bad_sizes"]:
            problems.append(f"{name}: {r['dropped']} people dropped silently, {r['repeated']} placed twice, "
                            f"{r['bad_sizes']} groups outside 2-4 members")
        if abs(r["score"] - r["reported_score"]) > 1e-6 * max(1.0, abs(r["score"])):
            problems.append(f"{name}: reported score {r['reported_score']} but its groups add up to {r['score']}")
    for problem in problems:
        print("FAILED:", problem, file=sys.stderr)

    optimal, greedy_, random_ = results["optimal"], results["greedy"], results["random"]
    gain = 100 * (optimal["score"] - greedy_["score"]) / greedy_["score"] if greedy_["score"] else 0.0
    missed = [what for what, ok in (("time", optimal["seconds"] < TARGET_SECONDS),
                                    ("memory", optimal["peak_mb"] < TARGET_MB),
                                    ("score", optimal["score"] > greedy_["score"])) if not ok]
    verdict = "met" if not missed else f"not met ({', '.join(missed)})"
    print(f"matching: optimal {optimal['seconds']:.2f} s, {optimal['peak_mb']:.0f} MB, score {optimal['score']:.1f} "
          f"vs greedy {greedy_['score']:.1f} ({gain:+.1f}%) and random {random_['score']:.1f}; "
          f"targets <5 s, <1 GB, better than greedy: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
