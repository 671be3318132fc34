"""The generated organisation of the assessment benchmark: who works where, who rates whom,
and what each rater answers.

Everything is seeded: the same size gives the same people, raters and answers on every run.

- **Framework.** The framework benchmark's generated framework (`framework_model`). The
  publication rules cap individual contributors at 8 competencies (`role-cap`), so the only
  role profiles with exactly 10 are the manager track's levels M1 to M5: every person holds
  one of them, in the job family of their department. The track is a label here; who reports
  to whom comes from the tree below, not from it.
- **Org chart.** A tree built breadth first: the top of the chart has one report per job
  family (each heads a department), everyone else a span of 3 to 8 drawn at random until the
  head count is reached, so about four people in five manage nobody. Levels go down with
  depth (M5 at the top two layers, M1 from the sixth).
- **Raters.** Six per person: themself, their manager, then up to four of their direct
  reports, and approved peers for the rest. Peers are siblings first (same manager), then
  anyone else in the department; the subject nominates them and their manager approves.
  The top of the chart has no manager, so nobody may approve peers for them: they are rated
  by themself and five of their reports. Reports beyond the four asked stay non-responders.
- **Answers.** One per competency on the 1..5 scale: the subject's level on it, plus the
  rater's leniency, plus noise, rounded and clipped; 4% "not observed" and 10% with a short
  comment, so that aggregation and calibration see realistic data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from libs.events.schemas.framework import Framework
from libs.events.schemas.hris import EmployeeHired
from services.framework.domain.profiles import effective_profiles

RATERS = 6
COMPETENCIES = 10
TRACK = "manager"
LEVELS = ("M1", "M2", "M3", "M4", "M5")
SPAN = (3, 8)
REPORTS_ASKED = 4
NOT_OBSERVED = 0.04
COMMENTED = 0.10
HIRED_ON = date(2024, 1, 2)
_COMMENTS = (
    "Clear examples this cycle.",
    "Hard to judge from where I sit.",
    "Strong on the big projects.",
    "Room to grow here.",
    "Consistently reliable.",
    "Would like to see more of this.",
)

Answer = tuple[str, int | None, str | None]
"""(item, value, comment): what one rater says about one competency."""


@dataclass(frozen=True)
class Planned:
    """One submission the benchmark will make."""

    subject: str
    rater: str
    group: str
    answers: tuple[Answer, ...]


@dataclass
class Organisation:
    hires: list[EmployeeHired]
    competencies: dict[str, tuple[str, ...]]
    """Each person's competencies (their role profile's), by employee id."""
    peers: dict[str, list[str]] = field(default_factory=dict)
    """The peers each subject nominates (and their manager approves)."""
    submissions: list[Planned] = field(default_factory=list)
    """Every submission, in a random order (raters do not queue up by subject)."""

    @property
    def people(self) -> int:
        return len(self.hires)

    @property
    def ratings(self) -> int:
        return sum(len(s.answers) for s in self.submissions)

    def managers(self) -> dict[str, str | None]:
        return {h.employee_id: h.manager_id for h in self.hires}


def positions(framework: Framework) -> dict[str, dict[str, tuple[str, ...]]]:
    """By family, then level code: the competencies of each 10-competency role profile."""
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for profile in effective_profiles(framework).values():
        if profile.track == TRACK and profile.level in LEVELS:
            keys = tuple(r.competency for r in profile.requirements)
            if len(keys) != COMPETENCIES:
                raise AssertionError(f"{profile.key} has {len(keys)} competencies, not 10")
            found.setdefault(profile.family, {})[profile.level] = keys
    return found


def _level(depth: int) -> str:
    return LEVELS[max(0, len(LEVELS) - max(depth, 1))]


def _tree(people: int, families: int, rng: random.Random) -> tuple[list[int | None], list[int]]:
    """Each person's manager (an index, None at the top) and depth, breadth first."""
    manager: list[int | None] = [None]
    depth = [0]
    openings: list[tuple[int, int]] = [(0, families)]  # (manager, reports still to place)
    at = 0
    while len(manager) < people:
        boss, room = openings[at]
        for _ in range(min(room, people - len(manager))):
            openings.append((len(manager), rng.randint(*SPAN)))
            manager.append(boss)
            depth.append(depth[boss] + 1)
        at += 1
    return manager, depth


@dataclass(frozen=True)
class Chart:
    """The org chart's shape, by person index: each one's manager (None at the top), depth
    below the top and job family (that of the head of their branch, who heads a department)."""

    boss: list[int | None]
    depth: list[int]
    family: list[str]


def chart(people: int, families: list[str], rng: random.Random) -> Chart:
    """The tree described above, one department per family under the top."""
    boss, depth = _tree(people, len(families), rng)
    family: list[str] = []
    for n in range(people):
        head = boss[n]
        family.append(families[(n - 1) % len(families)] if head in (None, 0) else family[head])
    return Chart(boss, depth, family)


def organisation(people: int, framework: Framework, seed: int = 360) -> Organisation:
    """`people` employees, their peers and their raters' submissions."""
    rng = random.Random(seed)
    roles = positions(framework)
    names = {f.key: f.name for f in framework.families}
    shape = chart(people, sorted(roles), rng)
    boss, depth, family = shape.boss, shape.depth, shape.family
    ids = [f"e{n:05d}" for n in range(people)]
    hires = [
        EmployeeHired(
            employee_id=ids[n],
            effective_on=HIRED_ON,
            name=f"Person {n}",
            department=names[family[n]],
            job_family=family[n],
            track=TRACK,
            level=_level(depth[n]),
            manager_id=None if boss[n] is None else ids[boss[n]],
        )
        for n in range(people)
    ]
    competencies = {ids[n]: roles[family[n]][_level(depth[n])] for n in range(people)}
    reports: dict[int, list[int]] = {}
    by_family: dict[str, list[int]] = {}
    for n in range(people):
        by_family.setdefault(family[n], []).append(n)
        if boss[n] is not None:
            reports.setdefault(boss[n], []).append(n)
    org = Organisation(hires, competencies)
    level = {i: rng.uniform(1.8, 4.2) for i in ids}  # a subject's true level, 1..5 scale
    leniency = {i: rng.gauss(0.0, 0.35) for i in ids}
    submissions: list[Planned] = []
    for n in range(people):
        subject = ids[n]
        mine = reports.get(n, [])
        others = RATERS - 1 if boss[n] is None else RATERS - 2
        asked = rng.sample(mine, min(len(mine), others if boss[n] is None else REPORTS_ASKED))
        raters = [(subject, "self")]
        if boss[n] is not None:
            raters.append((ids[boss[n]], "manager"))
        raters += [(ids[r], "direct_report") for r in asked]
        if boss[n] is not None and len(raters) < RATERS:
            peers = _peers(n, RATERS - len(raters), boss, reports, by_family[family[n]], rng)
            org.peers[subject] = [ids[p] for p in peers]
            raters += [(ids[p], "peer") for p in peers]
        submissions += [
            Planned(
                subject, rater, group, tuple(_answers(subject, rater, org, level, leniency, rng))
            )
            for rater, group in raters
        ]
    rng.shuffle(submissions)
    org.submissions = submissions
    return org


def _peers(
    n: int,
    wanted: int,
    boss: list[int | None],
    reports: dict[int, list[int]],
    department: list[int],
    rng: random.Random,
) -> list[int]:
    """`wanted` peers for person `n`: siblings first, then others of the department; never
    themself, their manager or their reports (who rate them in those groups already)."""
    manager = boss[n]
    excluded = {n, *reports.get(n, [])}
    if manager is not None:
        excluded.add(manager)
    siblings = [] if manager is None else [s for s in reports[manager] if s not in excluded]
    chosen = rng.sample(siblings, min(wanted, len(siblings)))
    while len(chosen) < wanted:
        other = rng.choice(department)
        if other not in excluded and other not in chosen:
            chosen.append(other)
    return chosen


def _answers(
    subject: str,
    rater: str,
    org: Organisation,
    level: dict[str, float],
    leniency: dict[str, float],
    rng: random.Random,
) -> Iterator[Answer]:
    for index, competency in enumerate(org.competencies[subject]):
        if rng.random() < NOT_OBSERVED:
            value = None
        else:
            # A subject is stronger on some competencies than others.
            raw = level[subject] + (index % 3 - 1) * 0.4 + leniency[rater] + rng.gauss(0, 0.6)
            value = min(5, max(1, round(raw)))
        comment = rng.choice(_COMMENTS) if rng.random() < COMMENTED else None
        yield competency, value, comment
