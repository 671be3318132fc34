"""The sample organisation of the demo and the tests: a generated org chart as an HRIS CSV
export, and an L&D catalog as an LMS CSV export, both in positions and competencies of the
sample framework (engineering-framework.yaml).

The org chart: one head; a lead per department; managers with 4 to 8 direct reports,
managers of managers above large teams; individual contributors at levels spread like a
real company. The catalog: courses for most competencies at two levels, and none for a few,
so that coverage has programmes to ask for.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass

from talentledger.hris_load import COLUMNS
from talentledger.lms_load import COLUMNS as CATALOG_COLUMNS
from talentledger.lms_load import OPTIONAL_COLUMNS

DEPARTMENTS = {
    "Platform": "product-engineering",
    "Product": "product-engineering",
    "Insights": "data-analytics",
}
# Only product engineering has a manager track in the sample framework: every manager,
# analytics teams' too, is on it.
MANAGERS = "product-engineering"
IC_LEVELS = {
    "product-engineering": ["E1", "E2", "E2", "E3", "E3", "E3", "E4", "E4", "E5", "E6"],
    "data-analytics": ["A1", "A2", "A2", "A3", "A3", "A4", "A5"],
}


@dataclass(frozen=True)
class Employee:
    employee_id: str
    name: str
    department: str
    job_family: str
    track: str
    level: str
    manager_id: str
    hired_on: str


def org_chart(people: int, seed: int = 7, prefix: str = "E") -> list[Employee]:
    """`people` employees, the first the head of the chart; everyone else has a manager.
    Their ids are `prefix` and a number: another prefix makes another organisation."""
    rng = random.Random(seed)
    chart: list[Employee] = []

    def hire(department: str, family: str, track: str, level: str, manager: str) -> str:
        number = len(chart) + 1
        year, month, day = rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28)
        chart.append(
            Employee(
                employee_id=f"{prefix}{number:05d}",
                name=f"Person {number}",
                department=department,
                job_family=family,
                track=track,
                level=level,
                manager_id=manager,
                hired_on=f"{year}-{month:02d}-{day:02d}",
            )
        )
        return chart[-1].employee_id

    def team(department: str, family: str, manager: str, size: int) -> None:
        """`size` people under `manager`: individual contributors when few, else managers
        (4 to 8 of them) who share the rest between their own teams."""
        if size <= 8:
            for _ in range(size):
                hire(department, family, "ic", rng.choice(IC_LEVELS[family]), manager)
            return
        managers = min(rng.randint(4, 8), size // 5)
        rest = size - managers
        shares = [rest // managers + (i < rest % managers) for i in range(managers)]
        for share in shares:
            level = "EM1" if share <= 8 else "EM2"
            report = hire(department, MANAGERS, "manager", level, manager)
            team(department, family, report, share)

    head = hire("Platform", MANAGERS, "manager", "EM3", "")
    below = people - 1 - len(DEPARTMENTS)
    for i, (department, family) in enumerate(DEPARTMENTS.items()):
        lead = hire(department, MANAGERS, "manager", "EM2", head)
        team(department, family, lead, below // len(DEPARTMENTS) + (i < below % len(DEPARTMENTS)))
    return chart


def as_csv(chart: list[Employee]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in chart:
        writer.writerow([getattr(e, column) for column in COLUMNS])
    return out.getvalue()


# Competencies of the sample framework with courses, and the formats they come in. The
# others (e.g. developing-people) have none: the coverage report asks for a programme.
COURSES = {
    "code-craft": ("Readable code, reviewed", "workshop"),
    "testing-and-quality": ("Testing that catches what matters", "online"),
    "operating-in-production": ("Running services in production", "blended"),
    "system-design": ("Designing systems that last", "classroom"),
    "product-thinking": ("From problem to product bet", "workshop"),
    "statistical-analysis": ("Statistics for decisions", "online"),
    "data-modelling": ("Modelling data at the right grain", "self_paced"),
    "clear-communication": ("Writing that needs no meeting", "online"),
    "shared-ownership": ("Owning outcomes together", "workshop"),
}


def catalog_csv() -> str:
    """The sample L&D catalog: a foundation (0 to 3) and an advanced (2 to 5) course each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CATALOG_COLUMNS, *OPTIONAL_COLUMNS])
    for competency, (title, format_) in COURSES.items():
        for suffix, low, high, hours in (("foundations", 0, 3, 6), ("advanced", 2, 5, 12)):
            course = f"{competency}-{suffix}"
            name = f"{title} ({suffix})"
            writer.writerow([course, name, format_, hours, competency, low, high, "false"])
    return out.getvalue()
