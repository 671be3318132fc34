"""The development service's ports in memory (services/development/application/ports.py):
its records beside the shared event log and replicas (tests/support/memory.py), held by one
unit of work. Each answers as the PostgreSQL adapter's query does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.development import ActionKind, PlannedAction
from libs.events.schemas.lms import Course
from services.development.application.development import Development
from services.development.application.ports import Scores
from services.development.domain import goals as goal_rules
from services.development.domain.gaps import Gap, per_competency
from services.development.domain.goals import Goal, GoalState
from services.development.domain.heatmap import GapRow
from services.development.domain.plan_ownership import ActionTrack, day_of
from services.development.domain.plans import DevelopmentPlan
from tests.support.calibrations import ANN, BEN, CAT, EXPERT
from tests.support.memory import (
    MemoryEventLog,
    MemoryFrameworkVersions,
    MemoryOrgChart,
    MemoryUnitOfWork,
    person,
)
from tests.support.sample_frameworks import valid_framework


@dataclass
class _Plan:
    employee_id: str
    session_id: str
    actions: list[PlannedAction]
    stream_version: int
    at: datetime
    tracking: dict[str, ActionTrack] = field(default_factory=dict)
    target_role: str | None = None


class MemoryRecords:
    def __init__(self) -> None:
        self.calibrations: dict[str, tuple[str, int]] = {}
        self.calibrated_at: dict[str, datetime] = {}
        # The org chart replica shares the service's schema: the gap rows join it.
        self.org_chart = MemoryOrgChart()
        # (session, employee, competency, score, completed at)
        self.scores: list[tuple[str, str, str, float | None, datetime]] = []
        # (session, employee, role, gap, completed at)
        self.gaps: list[tuple[str, str, str, Gap, datetime]] = []
        self.plans: dict[str, _Plan] = {}
        self.courses: dict[str, tuple[Course, datetime]] = {}
        self.done: list[tuple[str, str]] = []
        self.done_on: dict[tuple[str, str], date] = {}
        self.goals: dict[str, tuple[Goal, int]] = {}

    async def record_calibration(self, event: CalibrationCompleted, at: datetime) -> bool:
        if event.session_id in self.calibrations:
            return False
        self.calibrations[event.session_id] = (event.framework_id, event.framework_version)
        self.calibrated_at[event.session_id] = at
        self.scores += [
            (event.session_id, s.subject, competency, score, at)
            for s in event.scores
            for competency, score in (*s.scores.items(), *s.sub_skills.items())
        ]
        return True

    async def calibration(self, session_id: str) -> tuple[str, int]:
        if session_id not in self.calibrations:
            raise LookupError(f"calibration session {session_id!r} was never recorded")
        return self.calibrations[session_id]

    async def recorded(self, session_id: str) -> bool:
        return session_id in self.calibrations

    async def latest_scores(self) -> Scores:
        found: Scores = {}
        for _, employee, competency, score, _ in sorted(self.scores, key=lambda r: r[4]):
            found.setdefault(employee, {})[competency] = score
        return found

    async def two_latest_scores(self) -> tuple[Scores, Scores, dict[str, str]]:
        before: Scores = {}
        after: Scores = {}
        previous: dict[str, str] = {}
        for employee in {r[1] for r in self.scores}:
            rows = [r for r in self.scores if r[1] == employee]
            instants = sorted({r[4] for r in rows}, reverse=True)
            for session, _, competency, score, at in rows:
                if at == instants[0]:
                    after.setdefault(employee, {})[competency] = score
                elif at == instants[1]:
                    before.setdefault(employee, {})[competency] = score
                    previous[employee] = session
        return before, {e: after[e] for e in before}, previous

    async def session_scores(self, session_id: str) -> Scores:
        found: Scores = {}
        for session, employee, competency, score, _ in self.scores:
            if session == session_id:
                found.setdefault(employee, {})[competency] = score
        return found

    async def scores_of(self, session_id: str, employee_id: str) -> dict[str, float | None]:
        return (await self.session_scores(session_id)).get(employee_id, {})

    async def record_gaps(
        self, session_id: str, at: datetime, found: Iterable[tuple[str, str, Sequence[Gap]]]
    ) -> None:
        self.gaps += [(session_id, e, role, g, at) for e, role, gaps in found for g in gaps]

    async def latest_gaps(
        self, employees: Sequence[str] | None = None
    ) -> dict[str, tuple[str, str, list[Gap]]]:
        latest: dict[str, datetime] = {}
        for _, employee, _, _, at in self.gaps:
            latest[employee] = max(at, latest.get(employee, at))
        found: dict[str, tuple[str, str, list[Gap]]] = {}
        for session, employee, role, g, at in self.gaps:
            if (employees is None or employee in employees) and at == latest[employee]:
                found.setdefault(employee, (session, role, []))[2].append(g)
        return dict(sorted(found.items()))

    async def gaps_of_sessions(self, sessions: dict[str, str]) -> dict[str, list[Gap]]:
        found: dict[str, list[Gap]] = {}
        for session, employee, _, g, _ in self.gaps:
            if sessions.get(employee) == session:
                found.setdefault(employee, []).append(g)
        return found

    async def session_gaps(self, session_id: str) -> dict[str, list[Gap]]:
        found: dict[str, list[Gap]] = {}
        for session, employee, _, g, _ in self.gaps:
            if session == session_id:
                found.setdefault(employee, []).append(g)
        return found

    async def latest_session(self, department: str | None) -> str | None:
        covered = {s for s, e, _, _, _ in self.gaps if self._department(e, department)}
        found = [(at, s) for s, at in self.calibrated_at.items() if s in covered]
        return max(found)[1] if found else None

    async def gap_rows(self, session_id: str, department: str | None) -> AsyncIterator[GapRow]:
        per_person: dict[str, list[Gap]] = {}
        for session, employee, _, g, _ in self.gaps:
            if session == session_id:
                per_person.setdefault(employee, []).append(g)
        for employee, found in per_person.items():
            place = self._department(employee, department)
            if place is not None:
                for g in per_competency(found):
                    yield GapRow(place, g.competency, g.target, g.current)

    def _department(self, employee: str, department: str | None) -> str | None:
        """The person's department when they count in a report on `department`."""
        person = self.org_chart.people.get(employee)
        if person is None or not person.active or person.department is None:
            return None
        return person.department if department in (None, person.department) else None

    async def plan_action_counts(
        self, department: str | None
    ) -> list[tuple[str, ActionKind, int, int, int]]:
        latest: dict[str, _Plan] = {}
        for plan in self.plans.values():
            if plan.employee_id not in latest or latest[plan.employee_id].at < plan.at:
                latest[plan.employee_id] = plan
        people: dict[tuple[str, ActionKind], set[str]] = {}
        counts: dict[tuple[str, ActionKind], list[int]] = {}
        for employee, plan in latest.items():
            place = self._department(employee, department)
            for action in plan.actions if place else []:
                key = (place, action.kind)
                people.setdefault(key, set()).add(employee)
                track = plan.tracking.get(action.action_id)
                done = track is not None and track.state == "done"
                tally = counts.setdefault(key, [0, 0])
                tally[0] += 1
                tally[1] += done
        return [
            (d, k, len(people[(d, k)]), n, done) for (d, k), (n, done) in sorted(counts.items())
        ]

    async def goal_state_counts(self, department: str | None) -> list[tuple[str, GoalState, int]]:
        counts: dict[tuple[str, GoalState], int] = {}
        for goal, _ in self.goals.values():
            place = self._department(goal.employee_id, department)
            if place is not None:
                counts[(place, goal.state)] = counts.get((place, goal.state), 0) + 1
        return [(d, state, n) for (d, state), n in sorted(counts.items())]

    async def record_plans(self, plans: Iterable[DevelopmentPlan], at: datetime) -> None:
        for plan in plans:
            self.plans[plan.plan_id] = _Plan(
                plan.employee_id, plan.session_id, list(plan.actions), 0, at, {}, plan.target_role
            )

    async def plan_count(self, session_id: str) -> int:
        return sum(1 for p in self.plans.values() if p.session_id == session_id)

    async def plan_state(
        self, employee_id: str, *, for_edit: bool = False
    ) -> tuple[str, str, list[PlannedAction], int] | None:
        theirs = [
            (p.at, plan_id, p) for plan_id, p in self.plans.items() if p.employee_id == employee_id
        ]
        if not theirs:
            return None
        _, plan_id, plan = max(theirs, key=lambda t: t[0])
        return plan_id, plan.session_id, list(plan.actions), plan.stream_version

    async def update_plan(
        self, plan_id: str, actions: Sequence[PlannedAction], stream_version: int
    ) -> None:
        self.plans[plan_id].actions = list(actions)
        self.plans[plan_id].stream_version = stream_version

    async def plan_tracking(self, plan_id: str) -> dict[str, ActionTrack]:
        return dict(self.plans[plan_id].tracking)

    async def save_tracking(self, plan_id: str, tracks: Iterable[ActionTrack]) -> None:
        self.plans[plan_id].tracking = {t.action_id: t for t in tracks}

    async def mentor_loads(self, excluding: str) -> dict[str, int]:
        loads: dict[str, int] = {}
        people = {p.employee_id for p in self.plans.values()} - {excluding}
        for _, actions, _ in (await self.latest_plans(sorted(people))).values():
            for a in actions:
                if a.kind == "mentoring" and a.mentor is not None:
                    loads[a.mentor] = loads.get(a.mentor, 0) + 1
        return loads

    async def plan_target(self, plan_id: str) -> str | None:
        return self.plans[plan_id].target_role

    async def latest_plans(
        self, employees: Sequence[str]
    ) -> dict[str, tuple[str, list[PlannedAction], dict[str, ActionTrack]]]:
        found = {}
        for employee in employees:
            state = await self.plan_state(employee)
            if state is not None:
                plan_id, _, actions, _ = state
                found[employee] = (plan_id, actions, dict(self.plans[plan_id].tracking))
        return found

    async def record_courses(self, courses: Iterable[Course], at: datetime) -> None:
        for course in courses:
            known = self.courses.get(course.course_id)
            if known is None or known[1] <= at:
                self.courses[course.course_id] = (course, at)

    async def catalog(self) -> list[Course]:
        return [course for _, (course, _) in sorted(self.courses.items())]

    async def hold_planning(self, employee_id: str | None) -> None:
        """One transaction at a time here: nothing to hold."""

    async def record_completion(self, employee_id: str, course_id: str, on: date) -> None:
        if (employee_id, course_id) not in self.done:
            self.done.append((employee_id, course_id))
        if on > self.done_on.get((employee_id, course_id), date.min):
            self.done_on[(employee_id, course_id)] = on

    async def completions(self) -> list[tuple[str, str]]:
        return list(self.done)

    async def completions_since(
        self, employees: Sequence[str], since: date
    ) -> dict[str, dict[str, date]]:
        found: dict[str, dict[str, date]] = {}
        for (employee, course_id), on in self.done_on.items():
            if employee in employees and on >= since:
                found.setdefault(employee, {})[course_id] = on
        return found

    async def plan_day(self, plan_id: str) -> date:
        return day_of(self.plans[plan_id].at)

    async def goal(self, goal_id: str, *, for_edit: bool = False) -> tuple[Goal, int] | None:
        return self.goals.get(goal_id)

    async def save_goal(self, goal: Goal, stream_version: int) -> None:
        self.goals[goal.goal_id] = (goal, stream_version)

    async def goals_of(self, employee_id: str) -> list[Goal]:
        theirs = [g for g, _ in self.goals.values() if g.employee_id == employee_id]
        return sorted(theirs, key=lambda g: (g.due, g.goal_id))

    async def goals_in_force(self, employees: Sequence[str]) -> list[tuple[Goal, int]]:
        return sorted(
            (
                (g, v)
                for g, v in self.goals.values()
                if g.employee_id in employees and g.state in goal_rules.IN_FORCE
            ),
            key=lambda entry: entry[0].goal_id,
        )

    async def erase_goal_text(self, employee_id: str, erased: str) -> int:
        replaced = 0
        for goal, version in list(self.goals.values()):
            if goal.employee_id == employee_id:
                scrubbed, count = goal_rules.scrub(goal, erased)
                self.goals[goal.goal_id] = (scrubbed, version)
                replaced += count
        return replaced


@dataclass
class MemoryDevelopmentWork:
    records: MemoryRecords = field(default_factory=MemoryRecords)
    org_chart: MemoryOrgChart = field(default_factory=MemoryOrgChart)
    frameworks: MemoryFrameworkVersions = field(default_factory=MemoryFrameworkVersions)
    events: MemoryEventLog = field(default_factory=lambda: MemoryEventLog("development"))

    def __post_init__(self) -> None:
        self.records.org_chart = self.org_chart


def memory_development() -> tuple[Development, MemoryDevelopmentWork]:
    """The application on in-memory ports, and those ports to seed and inspect."""
    work = MemoryDevelopmentWork()
    unit = MemoryUnitOfWork(work, work.records, work.events)
    return Development(unit), work


DIRECTOR, MANAGER, OTHER_MANAGER = "emp-director", "emp-lead", "emp-other"


def seeded_development() -> tuple[Development, MemoryDevelopmentWork]:
    """The application with framework eng v1 and an org chart: a director over the manager
    of Ann, Ben and Cat (Platform), and another manager over the expert (Insights)."""
    development, work = memory_development()
    work.frameworks.publish("eng", 1, valid_framework())
    work.org_chart.hire(
        person(DIRECTOR, None, track="manager", level="M2"),
        person(MANAGER, DIRECTOR, track="manager", level="M1"),
        *(person(e, MANAGER) for e in (ANN, BEN, CAT)),
        person(OTHER_MANAGER, None, department="Insights", track="manager", level="M2"),
        person(EXPERT, OTHER_MANAGER, department="Insights"),
    )
    return development, work
