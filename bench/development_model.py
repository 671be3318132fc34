"""The development benchmark's population: benchmark 4's org chart with its people spread over
every level of the generated framework.

Benchmark 4 puts everyone on the manager track by depth, so four people in five sit at M1,
whose targets are all 1 on the 1..5 scale: nobody there can fall short of a target, and a plan
run over that population plans for a sixth of it. Here the same reporting lines and
departments (`assessment_model.chart`) hold people on all 14 role profiles of their job family
(IC1 to IC7, M1 to M7), in a pyramid:

- **Managers** (everyone with a report) are on the manager track: M7 at the top, M6 (a
  director) at the head of each department; below, by how many layers of management they
  head, M5 (three or more), M4 (two), and the first-line managers M1, M2 or M3, drawn 40:35:25.
- **Individual contributors** (everyone else, about four in five) are on the IC track, their
  level drawn from a pyramid: IC1 25%, IC2 24%, IC3 20%, IC4 15%, IC5 9%, IC6 5%, IC7 2%.

Everyone holds their role profile's competencies as the framework service resolves them
(`effective_profiles`): 8 on the IC track, 10 for M1 to M5, 12 for the directors. Seeded: the
same size gives the same people on every run.
"""

from __future__ import annotations

import random
from collections import Counter

from bench.assessment_model import HIRED_ON, Organisation, chart
from libs.events.schemas.framework import Framework
from libs.events.schemas.hris import EmployeeHired
from services.framework.domain.profiles import effective_profiles

IC_PYRAMID = {"IC1": 25, "IC2": 24, "IC3": 20, "IC4": 15, "IC5": 9, "IC6": 5, "IC7": 2}
FIRST_LINE = {"M1": 40, "M2": 35, "M3": 25}
LEVEL_ORDER = (*IC_PYRAMID, "M1", "M2", "M3", "M4", "M5", "M6", "M7")


def _layers(boss: list[int | None]) -> list[int]:
    """How many layers of management each person heads: 0 for nobody, 1 for a first-line
    manager, one more than their deepest report's otherwise. Reports come after their manager
    in the breadth-first order, so one pass from the end settles everyone."""
    layers = [0] * len(boss)
    for n in range(len(boss) - 1, 0, -1):
        manager = boss[n]
        if manager is not None:
            layers[manager] = max(layers[manager], layers[n] + 1)
    return layers


def population(people: int, framework: Framework, seed: int = 360) -> Organisation:
    """`people` employees over all the levels of their job family (no raters: plans only)."""
    rng = random.Random(seed)
    profiles = effective_profiles(framework).values()
    roles = {
        (p.family, p.level): (p.track, tuple(r.competency for r in p.requirements))
        for p in profiles
    }
    names = {f.key: f.name for f in framework.families}
    shape = chart(people, sorted(names), rng)
    layers = _layers(shape.boss)
    ids = [f"e{n:05d}" for n in range(people)]
    hires: list[EmployeeHired] = []
    competencies: dict[str, tuple[str, ...]] = {}
    for n in range(people):
        if shape.boss[n] is None:
            level = "M7"
        elif shape.depth[n] == 1:
            level = "M6"
        elif layers[n] >= 3:
            level = "M5"
        elif layers[n] == 2:
            level = "M4"
        elif layers[n] == 1:
            level = rng.choices(list(FIRST_LINE), weights=list(FIRST_LINE.values()))[0]
        else:
            level = rng.choices(list(IC_PYRAMID), weights=list(IC_PYRAMID.values()))[0]
        family, manager = shape.family[n], shape.boss[n]
        track, keys = roles[(family, level)]
        hires.append(
            EmployeeHired(
                employee_id=ids[n],
                effective_on=HIRED_ON,
                name=f"Person {n}",
                department=names[family],
                job_family=family,
                track=track,
                level=level,
                manager_id=None if manager is None else ids[manager],
            )
        )
        competencies[ids[n]] = keys
    return Organisation(hires, competencies)


def levels(org: Organisation) -> list[tuple[str, int]]:
    """Head count per level, IC1 to IC7 then M1 to M7, levels nobody holds left out."""
    count = Counter(h.level for h in org.hires)
    return [(level, count[level]) for level in LEVEL_ORDER if count[level]]
