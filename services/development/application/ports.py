"""What the development service's use cases need from the world, as ports
(docs/architecture.md §1, Inside a service): its own records, the replicas it reads and its
event log, held in one transaction by a unit of work (`libs.events.ports.UnitOfWork[Work]`).
The PostgreSQL adapters implement them; the application tests run on in-memory ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from libs.events.ports import EventLog
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.development import ActionKind, PlannedAction
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.schemas.lms import Course
from libs.replicas.people import Person, RoleFact
from services.development.domain.gaps import Gap
from services.development.domain.goals import Goal, GoalState
from services.development.domain.heatmap import GapRow
from services.development.domain.plan_ownership import ActionTrack
from services.development.domain.plans import DevelopmentPlan

# Per employee, per competency: a calibrated score (None: not observed).
Scores = dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class HeldAbout:
    """What the service's tables hold about one person, as plain rows (ids, dates, text):
    the answer to an access request is built from it (docs/privacy.md, Requests)."""

    scores: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    plans: list[dict[str, Any]]
    completions: list[dict[str, Any]]
    mentoring: list[dict[str, Any]]
    """Actions of other people's plans naming the person as mentor, without their text."""
    goals: list[dict[str, Any]]
    """Their goals with every check-in and calibration verdict, text included."""


class Records(Protocol):
    """The service's own tables: what it received (calibrated scores, the catalog,
    completions) and what it decided (gaps, plans)."""

    async def record_calibration(self, event: CalibrationCompleted, at: datetime) -> bool:
        """Record the session and its scores; False when the session was recorded before."""
        ...

    async def calibration(self, session_id: str) -> tuple[str, int]:
        """(framework id, version) a recorded session was calibrated on."""
        ...

    async def recorded(self, session_id: str) -> bool:
        """The session's CalibrationCompleted has been processed here."""
        ...

    async def latest_scores(self) -> Scores:
        """Everyone's latest calibrated score per competency."""
        ...

    async def two_latest_scores(self) -> tuple[Scores, Scores, dict[str, str]]:
        """Per person: the scores of their previous and latest calibration, and the session
        of the previous one."""
        ...

    async def session_scores(self, session_id: str) -> Scores: ...

    async def scores_of(self, session_id: str, employee_id: str) -> dict[str, float | None]: ...

    async def record_gaps(
        self, session_id: str, at: datetime, found: Iterable[tuple[str, str, Sequence[Gap]]]
    ) -> None:
        """`found`: (employee, role, gaps) per person."""
        ...

    async def latest_gaps(
        self, employees: Sequence[str] | None = None
    ) -> dict[str, tuple[str, str, list[Gap]]]:
        """Per employee (everyone when None): (session, role, gaps) of their latest
        calibration."""
        ...

    async def gaps_of_sessions(self, sessions: dict[str, str]) -> dict[str, list[Gap]]:
        """Per employee, their gaps in the given session (employee -> session)."""
        ...

    async def session_gaps(self, session_id: str) -> dict[str, list[Gap]]: ...

    async def latest_session(self, department: str | None) -> str | None:
        """The calibration session recorded last among those with gaps of someone active in a
        department (in `department` when named); None when there is none."""
        ...

    def gap_rows(self, session_id: str, department: str | None) -> AsyncIterator[GapRow]:
        """The session's gaps of everyone the org chart has active in a department (only
        `department`'s when named), each placed in their department, streamed in batches:
        the caller holds one batch at a time, not the population."""
        ...

    async def plan_action_counts(
        self, department: str | None
    ) -> list[tuple[str, ActionKind, int, int, int]]:
        """Over each person's latest plan, for everyone active in a department (only
        `department`'s when named): (department, action kind, people, actions, completed:
        done as the plan tracks them, as each plan's own progress counts)."""
        ...

    async def goal_state_counts(self, department: str | None) -> list[tuple[str, GoalState, int]]:
        """(department, state, goals) of everyone active in a department (only
        `department`'s when named)."""
        ...

    async def record_plans(self, plans: Iterable[DevelopmentPlan], at: datetime) -> None: ...

    async def plan_count(self, session_id: str) -> int: ...

    async def plan_state(
        self, employee_id: str, *, for_edit: bool = False
    ) -> tuple[str, str, list[PlannedAction], int] | None:
        """(plan id, session, actions, edit stream version) of the employee's latest plan.
        `for_edit`: held until the transaction ends, so that an erasure of the person's plan
        text and an edit of their plan never write over each other (docs/privacy.md)."""
        ...

    async def update_plan(
        self, plan_id: str, actions: Sequence[PlannedAction], stream_version: int
    ) -> None: ...

    async def plan_tracking(self, plan_id: str) -> dict[str, ActionTrack]:
        """The tracks of the plan's actions by action id, in the order first tracked
        (services/development/domain/plan_ownership.py); read within plan_state's hold."""
        ...

    async def save_tracking(self, plan_id: str, tracks: Iterable[ActionTrack]) -> None: ...

    async def mentor_loads(self, excluding: str) -> dict[str, int]:
        """Per mentor, the mentoring actions naming them in everyone's latest plan but
        `excluding`'s: the mentees they have."""
        ...

    async def plan_target(self, plan_id: str) -> str | None:
        """The role a plan aimed at a target position works towards; None for a plan of the
        person's own role."""
        ...

    async def latest_plans(
        self, employees: Sequence[str]
    ) -> dict[str, tuple[str, list[PlannedAction], dict[str, ActionTrack]]]:
        """Per employee with a plan: (plan id, actions, tracks) of their latest plan."""
        ...

    async def record_courses(self, courses: Iterable[Course], at: datetime) -> None:
        """Insert or update each course, an older update never overwriting a newer one."""
        ...

    async def catalog(self) -> list[Course]: ...

    async def hold_planning(self, employee_id: str | None) -> None:
        """Until the transaction ends, no plan is made for `employee_id` (for everyone: None)
        and no completion of theirs is applied, but by this transaction. A completion and a
        new plan each read what the other writes: run at once, the completion would close the
        action on the plan being replaced, and the new plan would not see the completion."""
        ...

    async def record_completion(self, employee_id: str, course_id: str, on: date) -> None: ...

    async def completions(self) -> list[tuple[str, str]]:
        """(employee, course) of every completion."""
        ...

    async def completions_since(
        self, employees: Sequence[str], since: date
    ) -> dict[str, dict[str, date]]:
        """Per employee and course, its (latest) completion when on or after `since`."""
        ...

    async def plan_day(self, plan_id: str) -> date:
        """The day (UTC) the plan was made: the LMS's completions count from it."""
        ...

    async def held_about(self, employee_id: str) -> HeldAbout: ...

    async def erase_plan_text(self, employee_id: str, erased: str) -> int:
        """Replace the description of every action of the person's plans by `erased`;
        how many were replaced (0 on a repeat)."""
        ...

    # -- goals (docs/domain.md §5, Goals) ------------------------------------------------

    async def goal(self, goal_id: str, *, for_edit: bool = False) -> tuple[Goal, int] | None:
        """The goal as its events left it, and its stream version. `for_edit`: held until
        the transaction ends (erase_goal_text holds it too)."""
        ...

    async def save_goal(self, goal: Goal, stream_version: int) -> None:
        """Insert or replace the goal's row."""
        ...

    async def goals_of(self, employee_id: str) -> list[Goal]:
        """The employee's goals by due date, then id."""
        ...

    async def goals_in_force(self, employees: Sequence[str]) -> list[tuple[Goal, int]]:
        """The agreed, open goals of these people with their stream versions, held until the
        transaction ends, by goal id."""
        ...

    async def erase_goal_text(self, employee_id: str, erased: str) -> int:
        """Replace the title, check-in notes and evidence and rejection or drop reasons of
        the person's goals by `erased`; how many texts were replaced (0 on a repeat)."""
        ...


class OrgChart(Protocol):
    """The service's replica of the org chart (HRIS events)."""

    async def person(self, employee_id: str) -> Person | None: ...

    async def position_history(self, employee_id: str) -> list[RoleFact]:
        """The person's hirings and role changes, oldest first."""
        ...

    async def everyone(self) -> list[Person]: ...

    async def managers_of(self, employee_id: str) -> list[str]:
        """Everyone above the employee in the reporting line."""
        ...

    async def erase(self, employee_id: str) -> int:
        """Forget the person's name, keeping their place; how many names were forgotten."""
        ...


class FrameworkVersions(Protocol):
    """The service's replica of the published framework versions."""

    async def framework(self, framework_id: str, version: int) -> Framework | None: ...

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None:
        """The effective role profile at a (family, track, level) as of that version."""
        ...


class Work(Protocol):
    """Everything one use case reads and writes, through one transaction."""

    @property
    def records(self) -> Records: ...

    @property
    def org_chart(self) -> OrgChart: ...

    @property
    def frameworks(self) -> FrameworkVersions: ...

    @property
    def events(self) -> EventLog: ...
