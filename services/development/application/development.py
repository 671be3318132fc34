"""The development service's use cases (docs/domain.md §5).

On CalibrationCompleted: record the calibrated scores, compute each person's gaps against
the role profile of the framework version the campaign used, generate the population's
development plans (70/20/10, mentors shared population-wide), and publish GapsIdentified,
DevelopmentPlanGenerated and one EnrolmentRequested per course action, and judge the goals
in force of the people scored (services/development/application/goals.py), all in the
transaction that records the event in the inbox. A redelivered event stops at the inbox; a
repeated one (another event id for the same session) stops at the session's row and at the
session stream's expected version: no second plan either way.

Queries serve the person, their managers up the chain, and HR: gaps per person (with the
target's anchor and the person's strengths), team and department, gaps against a target role,
plans, catalog coverage and course effectiveness, and HR's gap heatmap of a calibration by
department and competency.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from libs.events.envelope import Envelope, EventMetadata
from libs.events.ports import UnitOfWork
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.development import (
    CompetencyGap,
    GapsIdentified,
    PlanActionStep,
    PlannedAction,
)
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.schemas.lms import CourseCatalogUpdated, CourseCompleted, EnrolmentRequested
from libs.replicas.people import Person
from libs.workflows.messages import GapMovement, GapReview
from services.development.application.goals import ACTOR, judge_goals
from services.development.application.ports import Work
from services.development.domain import plan_edits, plan_ownership
from services.development.domain.coverage import CoverageReport, coverage
from services.development.domain.effectiveness import CourseEffect, course_effectiveness, movements
from services.development.domain.gaps import (
    Gap,
    gaps,
    per_competency,
    strengths,
    target_anchors,
)
from services.development.domain.goals import GoalFocus, beside_plan
from services.development.domain.heatmap import HeatmapCell, HeatmapTally
from services.development.domain.lateral import Against, Basis, against
from services.development.domain.plan_ownership import ActionTrack, Completion, OwnedPlan
from services.development.domain.plans import (
    DevelopmentPlan,
    PlanPolicy,
    PlanSubject,
    aimed_at,
    generate_plans,
)
from services.development.domain.progress import (
    GoalStates,
    PlanProgress,
    goal_states,
    plan_progress,
)


class DevelopmentError(ValueError):
    """A request this service cannot answer as asked; the message says why."""


class NotFound(DevelopmentError):
    pass


class NotAllowed(DevelopmentError):
    pass


class FrameworkVersionMissing(RuntimeError):
    """The calibration's framework version has not reached this service yet: the consumer
    retries the event (and dead-letters it, with this message, if it never arrives)."""


class TargetedGap(CompetencyGap):
    target_anchor: str | None = Field(
        description="the anchor sentence of the target level as the role reads it: what the "
        "target looks like; null when the framework words none there"
    )


class Strength(BaseModel):
    """A competency (or one of its sub-skills) the person scored above its target."""

    model_config = ConfigDict(frozen=True)

    competency: str
    sub_skill: str | None = None
    target: int
    current: float
    above_by: float = Field(description="current - target")


@dataclass(frozen=True)
class PersonGaps:
    employee_id: str
    session_id: str
    role: str
    gaps: list[TargetedGap]
    strengths: list[Strength]


def _person_gaps(
    employee_id: str,
    session_id: str,
    role: str,
    found: list[Gap],
    anchors: dict[str, str | None],
) -> PersonGaps:
    """The person's gaps, each naming its target's anchor, and their strengths."""
    return PersonGaps(
        employee_id,
        session_id,
        role,
        [
            TargetedGap(**_published(g).model_dump(), target_anchor=anchors.get(g.key))
            for g in found
        ],
        [
            Strength(
                competency=g.competency,
                sub_skill=g.sub_skill,
                target=g.target,
                current=g.current,
                above_by=g.current - g.target,
            )
            for g in strengths(found)
            if g.current is not None
        ],
    )


class LateralComparison(BaseModel):
    """The lateral path a role of another family was measured along
    (services/development/domain/lateral.py)."""

    model_config = ConfigDict(frozen=True)

    from_family: str
    to_family: str
    to_acquire: list[str] = Field(description="the path's competencies to acquire: the gaps")
    carried_over: list[str] = Field(
        description="the path's transferable competencies: they carry over, not gaps"
    )
    without_target: list[str] = Field(
        description="competencies to acquire the target role sets no target for: no gap to measure"
    )


@dataclass(frozen=True)
class GapsAgainst(PersonGaps):
    """The person's gaps against a target role: on its whole profile (`role_profile`: their
    own family, across a crossover, or another grade or track of a family a lateral path
    leads to, `not_lateral` saying so), or along the lateral path into its family
    (`lateral_path`, named in `lateral_path`: the same kind of track at the same grade)."""

    basis: Basis = "role_profile"
    lateral_path: LateralComparison | None = None
    not_lateral: str | None = None


def _lateral(found: Against) -> LateralComparison | None:
    path = found.path
    if path is None:
        return None
    return LateralComparison(
        from_family=path.from_family,
        to_family=path.to_family,
        to_acquire=list(path.gaps),
        carried_over=list(found.carried_over),
        without_target=list(found.without_target),
    )


class GapHeatmap(BaseModel):
    """HR's heatmap of one calibration's gaps by department and competency
    (services/development/domain/heatmap.py says what each cell counts)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    framework_id: str
    framework_version: int
    department: str | None
    cells: list[HeatmapCell]


R = TypeVar("R")


class PlanReport(BaseModel):
    """Plan actions and their completion by department and kind
    (services/development/domain/progress.py)."""

    model_config = ConfigDict(frozen=True)

    department: str | None
    rows: list[PlanProgress]


class GoalReport(BaseModel):
    """Goals per state by department."""

    model_config = ConfigDict(frozen=True)

    department: str | None
    rows: list[GoalStates]


def _reported(department: str | None, rows: list[R], what: str) -> list[R]:
    """A report on a named department with nothing in it is a department nobody is reported
    in (a typo, or nobody active there): said, rather than an empty file."""
    if department is not None and not rows:
        raise NotFound(f"nobody active in department {department!r} has {what}")
    return rows


@dataclass(frozen=True)
class GroupGap:
    """One competency across a group of people: who has an open gap and how large."""

    competency: str
    people: int
    open_gaps: int
    mean_gap: float | None


@dataclass(frozen=True)
class GroupGaps:
    group: str
    people: int
    competencies: list[GroupGap]


NO_ACTIONS = Completion(done=0, total=0, share=None)


@dataclass(frozen=True, slots=True)
class TrackedPlan(DevelopmentPlan):
    """The plan as the employee and their manager read it: each action's state (and the
    employee's proposals waiting or declined), and progress, done / total of the actions in
    force (services/development/domain/plan_ownership.py)."""

    statuses: tuple[ActionTrack, ...] = ()
    completion: Completion = NO_ACTIONS


class PersonCompletion(BaseModel):
    model_config = ConfigDict(frozen=True)

    employee_id: str
    plan_id: str
    done: int
    total: int
    share: float | None


class TeamCompletion(BaseModel):
    """Progress of the latest plans of everyone below a manager: per person, and in all."""

    model_config = ConfigDict(frozen=True)

    manager_id: str
    people: list[PersonCompletion]
    done: int
    total: int
    share: float | None


# Who may change a plan: the employee whose plan it is, their direct manager in the org
# chart, HR.
Role = str
EMPLOYEE, MANAGER, HR = "employee", "manager", "hr"
Decide = Callable[[OwnedPlan, Work], Awaitable[list[IntegrationEvent]]]


def _pure(rule: Callable[[OwnedPlan], list[IntegrationEvent]]) -> Decide:
    """A decision on the plan as it stands, reading nothing else."""

    async def decide(plan: OwnedPlan, work: Work) -> list[IntegrationEvent]:
        return rule(plan)

    return decide


def session_stream(session_id: str) -> str:
    return f"development-session-{session_id}"


def plan_stream(plan_id: str) -> str:
    return f"plan-{plan_id}"


def _published(g: Gap) -> CompetencyGap:
    return CompetencyGap(
        competency=g.competency,
        sub_skill=g.sub_skill,
        target=g.target,
        current=g.current,
        gap=g.size,
    )


class CalibrationNotReceived(RuntimeError):
    """A session's CalibrationCompleted has not been processed here yet: it is on its way,
    or the session is not completed. Asked again later, the answer may be there."""


# Calibrated scores are means of whole-number ratings: a difference this small is float
# rounding, not movement.
_STILL = 1e-9


class Development:
    def __init__(
        self,
        unit_of_work: UnitOfWork[Work],
        policy: PlanPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.unit_of_work = unit_of_work
        self.policy = policy or PlanPolicy()
        self.clock = clock

    # -- reacting to events (in the consumer's transaction, with its inbox claim) ----------

    async def on_calibration(
        self, work: Work, envelope: Envelope, event: CalibrationCompleted
    ) -> None:
        at = envelope.occurred_at
        pinned = (event.framework_id, event.framework_version)
        if await work.frameworks.framework(*pinned) is None:
            raise FrameworkVersionMissing(
                f"framework {pinned[0]!r} version {pinned[1]} has not reached the development "
                "service yet"
            )
        await work.records.hold_planning(None)
        if not await work.records.record_calibration(event, at):
            return  # this session was planned already
        managers = {p.employee_id: p.manager_id for p in await work.org_chart.everyone()}
        profiles: dict[tuple[str, str, str], EffectiveRoleProfile | None] = {}
        for scored in event.scores:
            position = scored.position
            if position is not None and position not in profiles:
                profiles[position] = await work.frameworks.role_profile(*pinned, position)
        # The population's gaps, plans and events are pure work over what this handler alone
        # holds (the event, the profiles, the rows just read), some 2 s of it at 10,000
        # people: in a worker thread, so that the loop serves the API, the other consumers,
        # the relay and the Temporal worker meanwhile (issue 20: no stall over 100 ms).
        found = await asyncio.to_thread(_population_gaps, event, profiles)
        await work.records.record_gaps(event.session_id, at, found)
        # The population's scores and the catalog, read as arguments, are let go once the
        # plans are made: not held through the append, the transaction's memory peak.
        plans = await asyncio.to_thread(
            generate_plans,
            event.session_id,
            (PlanSubject(e, managers.get(e), g) for e, _, g in found),
            await work.records.latest_scores(),
            await work.records.catalog(),
            self.policy,
        )
        await work.records.record_plans(plans.values(), at)
        events = await asyncio.to_thread(_calibration_events, event, found, list(plans.values()))
        await work.events.append(
            session_stream(event.session_id),
            0,
            events,
            EventMetadata.reacting_to(envelope, ACTOR),
        )
        await _close_generated(work, envelope, plans.values())
        await judge_goals(work, envelope, event)

    async def on_catalog(self, work: Work, envelope: Envelope, event: CourseCatalogUpdated) -> None:
        await work.records.record_courses(event.courses, envelope.occurred_at)

    async def on_completion(self, work: Work, envelope: Envelope, event: CourseCompleted) -> None:
        """Record the completion (for course effectiveness and the reports), and mark done the
        course actions of the person's latest plan naming the course, as events on the plan's
        stream, when it is dated on or after the plan's day. A redelivered event stops at the
        inbox; the same completion under another event id finds the actions done and adds
        nothing."""
        await work.records.hold_planning(event.employee_id)
        await work.records.record_completion(event.employee_id, event.course_id, event.completed_on)
        state = await work.records.plan_state(event.employee_id, for_edit=True)
        if state is None:
            return
        plan_id, _, actions, _ = state
        tracks = await work.records.plan_tracking(plan_id)
        day = await work.records.plan_day(plan_id)
        plan = OwnedPlan(plan_id, event.employee_id, actions, tracks, day)
        events = plan_ownership.complete_courses(plan, event.course_id, event.completed_on)
        if events:
            metadata = EventMetadata.reacting_to(envelope, ACTOR)
            await _record_plan(work, event.employee_id, state, tracks, events, metadata)

    # -- who may see whom --------------------------------------------------------------

    async def _may_see(self, work: Work, viewer: str, employee_id: str, hr: bool) -> None:
        """The person themself, anyone above them in the reporting line, and HR."""
        if hr or viewer == employee_id:
            return
        if viewer in await work.org_chart.managers_of(employee_id):
            return
        raise NotAllowed(f"{viewer!r} may not see {employee_id!r}'s development")

    # -- queries -------------------------------------------------------------------------

    async def gaps_of(self, employee_id: str, viewer: str, hr: bool) -> PersonGaps:
        async with self.unit_of_work.reading() as work:
            await self._may_see(work, viewer, employee_id, hr)
            found = (await work.records.latest_gaps([employee_id])).get(employee_id)
            if found is None:
                raise NotFound(f"no calibrated gaps for {employee_id!r} yet")
            session, role, person_gaps = found
            framework = await work.frameworks.framework(*await work.records.calibration(session))
        profile = None if framework is None else framework.role(role)
        anchors = (
            {}  # the replica holds no such role: the gaps stand, without anchors
            if framework is None or profile is None
            else target_anchors(framework, profile.family, profile.track, person_gaps)
        )
        return _person_gaps(employee_id, session, role, person_gaps, anchors)

    async def gaps_against(
        self,
        employee_id: str,
        position: tuple[str, str, str],
        viewer: str,
        hr: bool,
    ) -> GapsAgainst:
        """The employee's latest calibrated scores against another role: the next level, the
        manager track, or another family's role along the lateral path into it, in the
        framework version of their last calibration."""
        async with self.unit_of_work.reading() as work:
            await self._may_see(work, viewer, employee_id, hr)
            session, framework, profile, found = await _against(work, employee_id, position)
        anchors = target_anchors(framework, profile.family, profile.track, found.gaps)
        person = _person_gaps(employee_id, session, profile.key, found.gaps, anchors)
        return GapsAgainst(
            person.employee_id,
            person.session_id,
            person.role,
            person.gaps,
            person.strengths,
            basis=found.basis,
            lateral_path=_lateral(found),
            not_lateral=found.not_lateral,
        )

    async def aim_plan(
        self, employee_id: str, position: tuple[str, str, str], by: str, hr: bool
    ) -> TrackedPlan:
        """A plan aimed at a target position other than the person's role (the next level,
        the manager track, another family's role): generated as a calibration's plans are,
        from their gaps against that position (as `gaps_against` finds them), and the
        person's plan from now on. Its actions are in force at once (its courses are asked of
        the LMS), so their manager or HR aims it, as they add actions; not the employee, whose
        own actions wait for their manager's approval."""
        async with self.unit_of_work.transaction() as work:
            person = await _allowed(work, employee_id, by, hr, frozenset({MANAGER, HR}))
            await work.records.hold_planning(employee_id)
            session, _, profile, found = await _against(work, employee_id, position)
            manager = person.manager_id if person else None
            generated = generate_plans(
                session,
                [PlanSubject(employee_id, manager, found.gaps)],
                await work.records.latest_scores(),
                await work.records.catalog(),
                self.policy,
                # Experts keep the mentees other people's plans give them, within the cap.
                await work.records.mentor_loads(excluding=employee_id),
            ).get(employee_id)
            if generated is None:
                along = (
                    ""
                    if found.path is None
                    else f" along the lateral path into {profile.family!r} (to acquire: "
                    f"{found.path.gaps})"
                )
                raise DevelopmentError(
                    f"{employee_id!r} has no open gap against {profile.key!r}{along}: "
                    "nothing to plan"
                )
            at = self.clock()
            plan = aimed_at(generated, profile.key, at)
            await work.records.record_plans([plan], at)
            events: list[IntegrationEvent] = [plan.event(), *_enrolments(plan)]
            state = (plan.plan_id, session, list(plan.actions), 0)
            return await _record_plan(
                work,
                employee_id,
                state,
                {},
                events,
                EventMetadata(actor=by),
            )

    async def _group(self, group: str, members: list[str]) -> GroupGaps:
        async with self.unit_of_work.reading() as work:
            latest = await work.records.latest_gaps(members)
        per: dict[str, list[Gap]] = {}
        for _, _, person_gaps in latest.values():
            for g in person_gaps:
                per.setdefault(g.key, []).append(g)
        rows = []
        for competency, found in sorted(per.items()):
            open_gaps = [g.size for g in found if g.open and g.size is not None]
            rows.append(
                GroupGap(
                    competency=competency,
                    people=len(found),
                    open_gaps=len(open_gaps),
                    mean_gap=sum(open_gaps) / len(open_gaps) if open_gaps else None,
                )
            )
        return GroupGaps(group=group, people=len(latest), competencies=rows)

    async def team_gaps(self, manager_id: str, viewer: str, hr: bool) -> GroupGaps:
        """Gaps of everyone below the manager, however many levels down."""
        if not hr and viewer != manager_id:
            raise NotAllowed(f"only {manager_id!r} and HR see their team's gaps")
        async with self.unit_of_work.reading() as work:
            people = await work.org_chart.everyone()
        return await self._group(f"team of {manager_id}", _team(people, manager_id))

    async def department_gaps(self, department: str) -> GroupGaps:
        async with self.unit_of_work.reading() as work:
            people = await work.org_chart.everyone()
        members = sorted(p.employee_id for p in people if p.active and p.department == department)
        if not members:
            raise NotFound(f"nobody active in department {department!r}")
        return await self._group(department, members)

    async def gap_heatmap(self, department: str | None = None) -> GapHeatmap:
        """The latest calibration's gaps by department and competency, for everyone the org
        chart has active in a department (only `department`'s when named: then the latest
        calibration that assessed someone there, as review cycles may run per department).
        The gap rows are streamed and tallied, so memory holds the cells, not the
        population."""
        async with self.unit_of_work.reading() as work:
            session = await work.records.latest_session(department)
            if session is None:
                where = "" if department is None else f" in department {department!r}"
                raise NotFound(f"no calibrated gaps of anyone active{where} yet")
            framework_id, version = await work.records.calibration(session)
            tally = HeatmapTally()
            async for row in work.records.gap_rows(session, department):
                tally.add(row)
        return GapHeatmap(
            session_id=session,
            framework_id=framework_id,
            framework_version=version,
            department=department,
            cells=tally.cells(),
        )

    async def plan_report(self, department: str | None = None) -> PlanReport:
        """Each person's latest plan: actions and the completed ones (the employee's marks
        and the LMS's completions alike) by department and kind, counted in the database."""
        async with self.unit_of_work.reading() as work:
            counts = await work.records.plan_action_counts(department)
        rows = _reported(department, plan_progress(counts), "a development plan")
        return PlanReport(department=department, rows=rows)

    async def goal_report(self, department: str | None = None) -> GoalReport:
        """Goals per state by department, counted in the database."""
        async with self.unit_of_work.reading() as work:
            counts = await work.records.goal_state_counts(department)
        return GoalReport(
            department=department, rows=_reported(department, goal_states(counts), "goals")
        )

    async def plan_of(self, employee_id: str, viewer: str, hr: bool) -> TrackedPlan:
        async with self.unit_of_work.reading() as work:
            await self._may_see(work, viewer, employee_id, hr)
            found = await work.records.plan_state(employee_id)
            if found is None:
                raise NotFound(
                    f"no development plan for {employee_id!r}: no open gap, or not calibrated yet"
                )
            tracks = await work.records.plan_tracking(found[0])
            return await _tracked(work, employee_id, found, tracks)

    async def _change(
        self, employee_id: str, by: str, hr: bool, who: frozenset[Role], decide: Decide
    ) -> TrackedPlan:
        """Apply one change to the employee's latest plan, as events on its stream: `who`
        says which of the employee, their manager and HR may make it."""
        async with self.unit_of_work.transaction() as work:
            await _allowed(work, employee_id, by, hr, who)
            state = await work.records.plan_state(employee_id, for_edit=True)
            if state is None:
                raise NotFound(f"no development plan for {employee_id!r} to change")
            plan_id, _, actions, _ = state
            tracks = await work.records.plan_tracking(plan_id)
            day = await work.records.plan_day(plan_id)
            events = await decide(OwnedPlan(plan_id, employee_id, actions, tracks, day), work)
            return await _record_plan(
                work, employee_id, state, tracks, events, EventMetadata(actor=by)
            )

    async def add_action(
        self, employee_id: str, new: plan_edits.NewAction, by: str, hr: bool
    ) -> TrackedPlan:
        """A manager (or HR) adds an action to their report's plan, in force at once; the
        employee proposes one for their own plan, for their manager to approve. An HR admin
        adds nothing to their own plan: HR does not approve their own plan's work. Both are
        held to the plan rules; on their own plan an HR admin proposes, as any employee."""
        proposing = by == employee_id

        async def decide(plan: OwnedPlan, work: Work) -> list[IntegrationEvent]:
            person = await work.org_chart.person(employee_id)
            manager = person.manager_id if person else None
            if proposing and manager is None:
                raise DevelopmentError(
                    f"{employee_id!r} has no manager in the org chart to approve a proposal"
                )
            latest = (await work.records.latest_gaps([employee_id])).get(employee_id)
            action = plan_edits.checked(
                employee_id,
                manager,
                # Proposals keep their ids: an action added later takes none of them.
                {a.action_id for a in plan.actions} | set(plan.tracks),
                new,
                latest[2] if latest else [],
                await work.records.latest_scores(),
                {c.course_id: c for c in await work.records.catalog()},
                self.policy.expert_score,
            )
            if proposing:
                return plan_ownership.propose(plan, action)
            return plan_edits.add(plan.plan_id, employee_id, action)

        who = frozenset({EMPLOYEE}) if proposing else frozenset({MANAGER, HR})
        return await self._change(employee_id, by, hr, who, decide)

    async def remove_action(
        self, employee_id: str, action_id: str, reason: str, by: str, hr: bool
    ) -> TrackedPlan:
        """A manager removes an action from their report's plan, saying why."""
        rule = _pure(
            lambda plan: plan_edits.remove(
                plan.plan_id, employee_id, plan.actions, action_id, reason
            )
        )
        return await self._change(employee_id, by, hr, frozenset({MANAGER, HR}), rule)

    async def decide_action(
        self, employee_id: str, action_id: str, approved: bool, comment: str, by: str
    ) -> TrackedPlan:
        """The employee's current manager approves a proposed action or declines it."""
        rule = _pure(lambda plan: plan_ownership.decide(plan, action_id, approved, comment))
        return await self._change(employee_id, by, False, frozenset({MANAGER}), rule)

    async def progress_action(
        self, employee_id: str, action_id: str, status: PlanActionStep, evidence: str, by: str
    ) -> TrackedPlan:
        """The employee marks an action of their plan started, or done with evidence."""
        rule = _pure(lambda plan: plan_ownership.progress(plan, action_id, status, evidence))
        return await self._change(employee_id, by, False, frozenset({EMPLOYEE}), rule)

    async def comment_action(
        self, employee_id: str, action_id: str, comment: str, by: str
    ) -> TrackedPlan:
        """The employee's current manager comments on an action of their plan."""
        rule = _pure(lambda plan: plan_ownership.comment_on(plan, action_id, comment))
        return await self._change(employee_id, by, False, frozenset({MANAGER}), rule)

    async def team_completion(self, manager_id: str, viewer: str, hr: bool) -> TeamCompletion:
        """Progress of the latest plans of everyone below the manager, however many levels
        down: per person and in all."""
        if not hr and viewer != manager_id:
            raise NotAllowed(f"only {manager_id!r} and HR see their team's plans")
        async with self.unit_of_work.reading() as work:
            team = _team(await work.org_chart.everyone(), manager_id)
            latest = await work.records.latest_plans(team)
        people = []
        for employee_id, (plan_id, actions, tracks) in sorted(latest.items()):
            found = plan_ownership.completion(actions, tracks)
            people.append(
                PersonCompletion(employee_id=employee_id, plan_id=plan_id, **found.model_dump())
            )
        done, total = sum(p.done for p in people), sum(p.total for p in people)
        return TeamCompletion(
            manager_id=manager_id,
            people=people,
            done=done,
            total=total,
            share=done / total if total else None,
        )

    async def coverage(self, by_department: bool) -> CoverageReport:
        """Which open gaps have matching training and which need a new programme."""
        async with self.unit_of_work.reading() as work:
            latest = await work.records.latest_gaps()
            catalog = await work.records.catalog()
            people = await work.org_chart.everyone()
        departments = {p.employee_id: p.department for p in people} if by_department else None
        # Courses build competencies: sub-skill gaps count as their competency's gap.
        open_gaps = {
            e: [g for g in per_competency(found) if g.open] for e, (_, _, found) in latest.items()
        }
        return coverage(open_gaps, catalog, departments)

    async def effectiveness(self) -> list[CourseEffect]:
        """Per course and competency: did completers who had the gap move more than those
        with the same gap who did not complete it, between their last two calibrations."""
        async with self.unit_of_work.reading() as work:
            before, after, previous = await work.records.two_latest_scores()
            gaps_before = await work.records.gaps_of_sessions(previous)
            completions = await work.records.completions()
            catalog = await work.records.catalog()
        open_before = {
            e: [g for g in per_competency(found) if g.open] for e, found in gaps_before.items()
        }
        return course_effectiveness(movements(before, after), open_before, completions, catalog)

    # -- what the review cycle asks (docs/architecture.md §4) ------------------------------

    async def gap_review(self, session_id: str) -> GapReview:
        """The session's gaps (target - calibrated score, docs/domain.md §5) and 70/20/10
        plans, and the direct managers (org chart) of the people with an open gap: who
        reviews them.

        `people` counts those the session calibrated; a person who has left since is not
        waited on, so their manager is named only for someone still employed. Only reads:
        the gaps and plans were generated when the session's CalibrationCompleted was
        consumed, so asking again gives the same answer.
        """
        async with self.unit_of_work.reading() as work:
            await _require(work, session_id)
            people = await work.records.session_scores(session_id)
            found = await work.records.session_gaps(session_id)
            plans = await work.records.plan_count(session_id)
            org = {p.employee_id: p for p in await work.org_chart.everyone()}
        open_gaps = {e: sum(1 for g in person if g.open) for e, person in found.items()}
        managers = {
            person.manager_id
            for employee, count in open_gaps.items()
            if count
            and (person := org.get(employee)) is not None
            and person.active
            and person.manager_id is not None
        }
        return GapReview(
            session_id=session_id,
            people=len(people.keys() | found.keys()),
            open_gaps=sum(open_gaps.values()),
            plans=plans,
            managers=sorted(managers),
        )

    async def gap_movement(self, previous_session_id: str, session_id: str) -> GapMovement:
        """Score movement between two cycles' calibrations per person and competency observed
        in both (docs/domain.md §5, Re-assessment: the metric is score movement, not
        completion)."""
        async with self.unit_of_work.reading() as work:
            await _require(work, previous_session_id)
            await _require(work, session_id)
            before = await work.records.session_scores(previous_session_id)
            after = await work.records.session_scores(session_id)
        moved = movements(before, after)
        changes = [m.movement for m in moved]
        return GapMovement(
            previous_session_id=previous_session_id,
            session_id=session_id,
            people=len(before.keys() & after.keys()),
            compared=len(moved),
            improved=sum(1 for c in changes if c > _STILL),
            declined=sum(1 for c in changes if c < -_STILL),
            mean_change=math.fsum(changes) / len(changes) if changes else None,
        )


def _team(people: Iterable[Person], manager_id: str) -> list[str]:
    """Everyone active below the manager, however many levels down, sorted."""
    reports: dict[str, list[str]] = {}
    for p in people:
        if p.active and p.manager_id:
            reports.setdefault(p.manager_id, []).append(p.employee_id)
    team: list[str] = []
    stack = list(reports.get(manager_id, []))
    while stack:
        member = stack.pop()
        if member not in team:
            team.append(member)
            stack += reports.get(member, [])
    return sorted(team)


PlanState = tuple[str, str, list[PlannedAction], int]


async def _record_plan(
    work: Work,
    employee_id: str,
    state: PlanState,
    tracks: Mapping[str, ActionTrack],
    events: list[IntegrationEvent],
    metadata: EventMetadata,
) -> TrackedPlan:
    """Append the events to the plan's stream at the version the read model holds, and fold
    them into its actions and tracks in the same transaction. A course action they put in
    force (each asks the LMS for an enrolment) whose course the person has completed on or
    after the plan's day is done at once, as the LMS's completion would have done it."""
    state, found = await _append(work, state, tracks, events, metadata)
    courses = {e.course_id for e in events if isinstance(e, EnrolmentRequested)}
    if courses:
        plan_id = state[0]
        day = await work.records.plan_day(plan_id)
        completed = (await work.records.completions_since([employee_id], day)).get(employee_id)
        on_record = {c: on for c, on in (completed or {}).items() if c in courses}
        plan = OwnedPlan(plan_id, employee_id, state[2], found, day)
        closed = plan_ownership.complete_on_record(plan, on_record)
        if closed:
            by_lms = EventMetadata(
                actor=ACTOR,
                correlation_id=metadata.correlation_id,
                causation_id=metadata.causation_id,
            )
            state, found = await _append(work, state, found, closed, by_lms)
    return await _tracked(work, employee_id, state, found)


async def _append(
    work: Work,
    state: PlanState,
    tracks: Mapping[str, ActionTrack],
    events: list[IntegrationEvent],
    metadata: EventMetadata,
) -> tuple[PlanState, dict[str, ActionTrack]]:
    """The events on the plan's stream and folded into its row: its state and tracks after."""
    plan_id, session, actions, version = state
    envelopes = await work.events.append(plan_stream(plan_id), version, events, metadata)
    found = dict(tracks)
    for event, envelope in zip(events, envelopes, strict=True):
        actions = plan_edits.apply(actions, event)
        found = plan_ownership.apply(found, event, metadata.actor, envelope.occurred_at)
    await work.records.update_plan(plan_id, actions, envelopes[-1].stream_version)
    if found != tracks:
        await work.records.save_tracking(plan_id, found.values())
    return (plan_id, session, actions, envelopes[-1].stream_version), found


async def _close_generated(
    work: Work, envelope: Envelope, plans: Iterable[DevelopmentPlan]
) -> None:
    """Generated plans' course actions whose course the person completed on or after the
    plan's day (the calibration's): done at once, on each plan's own stream. One query for
    the population, as such completions are rare."""
    with_courses = {p.employee_id: p for p in plans if p.of_kind("course")}
    if not with_courses:
        return
    day = plan_ownership.day_of(envelope.occurred_at)
    completed = await work.records.completions_since(list(with_courses), day)
    metadata = EventMetadata.reacting_to(envelope, ACTOR)
    for employee_id, on_record in sorted(completed.items()):
        plan = with_courses[employee_id]
        owned = OwnedPlan(plan.plan_id, employee_id, plan.actions, {}, day)
        closed = plan_ownership.complete_on_record(owned, on_record)
        if closed:
            state = (plan.plan_id, plan.session_id, list(plan.actions), 0)
            await _append(work, state, {}, closed, metadata)


async def _tracked(
    work: Work, employee_id: str, state: PlanState, tracks: Mapping[str, ActionTrack]
) -> TrackedPlan:
    plan_id, session, actions, _ = state
    return TrackedPlan(
        plan_id,
        employee_id,
        session,
        tuple(actions),
        await _goals_beside(work, employee_id, actions),
        await work.records.plan_target(plan_id),
        tuple(plan_ownership.statuses(actions, tracks)),
        plan_ownership.completion(actions, tracks),
    )


async def _allowed(
    work: Work, employee_id: str, by: str, hr: bool, who: frozenset[Role]
) -> Person | None:
    """The person whose plan it is, when `by` is one of `who` for it: the employee, their
    direct manager in the org chart, HR; NotAllowed otherwise. HR acts on other people's
    plans only: an HR admin does not put work in force on their own plan unapproved."""
    person = await work.org_chart.person(employee_id)
    roles = {
        EMPLOYEE: by == employee_id,
        MANAGER: person is not None and by == person.manager_id,
        HR: hr and by != employee_id,
    }
    if not any(roles[r] for r in who):
        manager = person.manager_id if person else None
        names = {
            EMPLOYEE: employee_id,
            MANAGER: f"their manager {manager!r}",
            HR: "HR (on another person's plan)",
        }
        raise NotAllowed(
            f"{by!r} may not make this change to {employee_id!r}'s plan: "
            f"{' or '.join(names[r] for r in sorted(who))} only"
        )
    return person


async def _against(
    work: Work, employee_id: str, position: tuple[str, str, str]
) -> tuple[str, Framework, EffectiveRoleProfile, Against]:
    """The person's gaps against the role at `position` (family, track, level), from their
    latest calibration's scores and in its framework version: (session, framework, profile,
    gaps), the gaps along the lateral path when the role is another family's
    (services/development/domain/lateral.py)."""
    found = (await work.records.latest_gaps([employee_id])).get(employee_id)
    if found is None:
        raise NotFound(f"no calibrated scores for {employee_id!r} yet")
    session, role, _ = found
    calibration = await work.records.calibration(session)
    profile = await work.frameworks.role_profile(*calibration, position)
    framework = await work.frameworks.framework(*calibration)
    if profile is None or framework is None:
        raise NotFound(
            f"framework {calibration[0]!r} version {calibration[1]} has no role at "
            f"{'/'.join(position)}"
        )
    scores = await work.records.scores_of(session, employee_id)
    return session, framework, profile, against(framework, framework.role(role), profile, scores)


async def _goals_beside(
    work: Work, employee_id: str, actions: list[PlannedAction]
) -> tuple[GoalFocus, ...]:
    """The targets of the person's goals in force that the plan's actions do not cover."""
    latest = (await work.records.latest_gaps([employee_id])).get(employee_id)
    role_targets = {g.competency: g.target for g in latest[2] if g.open} if latest else {}
    goals = await work.records.goals_of(employee_id)
    return tuple(beside_plan(goals, actions, role_targets))


async def _require(work: Work, session_id: str) -> None:
    if not await work.records.recorded(session_id):
        raise CalibrationNotReceived(
            f"the development service has not received calibration session "
            f"{session_id!r} yet (CalibrationCompleted is on its way, or the session is "
            "not completed)"
        )


def _population_gaps(
    event: CalibrationCompleted,
    profiles: Mapping[tuple[str, str, str], EffectiveRoleProfile | None],
) -> list[tuple[str, str, list[Gap]]]:
    """(employee, role, gaps) of everyone the calibration scored in a position whose role
    profile the framework version has, in the event's order."""
    found: list[tuple[str, str, list[Gap]]] = []
    for scored in event.scores:
        if scored.position is None:
            continue  # assessed without a position: no profile to measure against
        profile = profiles[scored.position]
        if profile is not None:
            scores = {**scored.scores, **scored.sub_skills}
            found.append((scored.subject, profile.key, gaps(profile, scores)))
    return found


def _calibration_events(
    event: CalibrationCompleted,
    found: Iterable[tuple[str, str, list[Gap]]],
    plans: Iterable[DevelopmentPlan],
) -> list[IntegrationEvent]:
    """What a calibration's planning publishes: each person's GapsIdentified, then each
    plan's DevelopmentPlanGenerated followed by its EnrolmentRequested."""
    events: list[IntegrationEvent] = [
        GapsIdentified(
            employee_id=employee,
            session_id=event.session_id,
            framework_id=event.framework_id,
            framework_version=event.framework_version,
            role=role,
            gaps=[_published(g) for g in person_gaps],
        )
        for employee, role, person_gaps in found
    ]
    for plan in plans:
        events.append(plan.event())
        events += _enrolments(plan)
    return events


def _enrolments(plan: DevelopmentPlan) -> Iterable[EnrolmentRequested]:
    return (
        EnrolmentRequested(
            employee_id=plan.employee_id,
            course_id=action.course_id,
            plan_id=plan.plan_id,
            competency=action.competency,
        )
        for action in plan.of_kind("course")
        if action.course_id is not None
    )
