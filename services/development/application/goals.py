"""Goals' use cases (docs/domain.md §5, Goals; services/development/domain/goals.py).

Who does what: the employee proposes their own goals and checks in on them; their manager in
the org chart (the direct one) agrees or rejects a proposal and checks in too; HR sets goals
directly, for one person or a population (these employees, or everyone active in a
department). The employee, their manager or HR may drop a goal in force. Anyone above the
employee in the reporting line, and HR, reads their goals.

Each command appends the goal's events to its stream (`goal-<goal id>`) at the version the
read model holds, and writes the read model in the same transaction; the row is held for
the transaction (like a plan's) so that an erasure of the person's text and a change never
write over each other.

On each CalibrationCompleted (in the consumer's transaction, after the session is recorded
for the first time), every goal in force of a scored person gets the calibration's verdict
on its targets, and closes met or missed when due (`judge_goals`). A repeated session stops
at the session's row before it gets here, and a goal records the sessions that judged it, so
a replay changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from libs.events.envelope import Envelope, EventMetadata
from libs.events.ports import UnitOfWork
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CalibrationCompleted
from services.development.application.ports import Work
from services.development.domain import goals as rules
from services.development.domain.goals import Goal, NewGoal

ACTOR = "service:development"


class GoalError(ValueError):
    """A goal request this service cannot answer as asked; the message says why."""


class GoalNotFound(GoalError):
    pass


class GoalNotAllowed(GoalError):
    pass


def goal_stream(goal_id: str) -> str:
    return f"goal-{goal_id}"


@dataclass(frozen=True)
class Population:
    """Whom HR sets a goal for: these employees, or everyone active in a department."""

    employee_ids: Sequence[str] | None = None
    department: str | None = None


async def _record(
    work: Work,
    goal: Goal | None,
    goal_id: str,
    version: int,
    events: list[IntegrationEvent],
    metadata: EventMetadata,
) -> Goal:
    envelopes = await work.events.append(goal_stream(goal_id), version, events, metadata)
    for event, envelope in zip(events, envelopes, strict=True):
        goal = rules.apply(goal, event, metadata.actor, envelope.occurred_at)
    assert goal is not None
    await work.records.save_goal(goal, envelopes[-1].stream_version)
    return goal


class Goals:
    def __init__(
        self,
        unit_of_work: UnitOfWork[Work],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.unit_of_work = unit_of_work
        self.clock = clock

    # -- setting ------------------------------------------------------------------------

    async def propose_or_set(self, employee_id: str, new: NewGoal, by: str, hr: bool) -> Goal:
        """The employee proposes their own goal (their manager then agrees); HR sets one."""
        if not hr and by != employee_id:
            raise GoalNotAllowed(
                f"{by!r} may not set {employee_id!r}'s goals: the employee proposes their "
                "own, and HR sets them"
            )
        async with self.unit_of_work.transaction() as work:
            person = await work.org_chart.person(employee_id)
            if person is None or not person.active:
                raise GoalNotFound(f"{employee_id!r} is not active in the org chart")
            await self._check(work, new)
            goal_id = str(uuid.uuid4())
            if hr:
                events = rules.set_by_hr(goal_id, employee_id, new)
            else:
                if person.manager_id is None:
                    raise GoalError(
                        f"{employee_id!r} has no manager in the org chart to agree a "
                        "proposal: HR sets their goals"
                    )
                events = rules.propose(goal_id, employee_id, new)
            return await _record(work, None, goal_id, 0, events, EventMetadata(actor=by))

    async def set_for_population(self, population: Population, new: NewGoal, by: str) -> list[Goal]:
        """HR sets the same goal for each person of a population, each its own goal."""
        async with self.unit_of_work.transaction() as work:
            people = {p.employee_id: p for p in await work.org_chart.everyone() if p.active}
            if population.employee_ids is not None:
                members = list(dict.fromkeys(population.employee_ids))
                if unknown := sorted(set(members) - set(people)):
                    raise GoalNotFound(f"not active in the org chart: {unknown}")
            else:
                members = sorted(
                    e for e, p in people.items() if p.department == population.department
                )
                if not members:
                    raise GoalNotFound(f"nobody active in department {population.department!r}")
            await self._check(work, new)
            metadata = EventMetadata(actor=by)
            found = []
            for employee_id in members:
                goal_id = str(uuid.uuid4())
                events = rules.set_by_hr(goal_id, employee_id, new)
                found.append(await _record(work, None, goal_id, 0, events, metadata))
            return found

    async def _check(self, work: Work, new: NewGoal) -> None:
        framework = await work.frameworks.framework(new.framework_id, new.framework_version)
        try:
            rules.check_targets(new, framework, self.clock().date())
        except rules.GoalRefused as refused:
            raise GoalError(str(refused)) from None

    # -- changing a goal ----------------------------------------------------------------

    async def _change(
        self,
        goal_id: str,
        by: str,
        hr: bool,
        who: frozenset[str],
        decide: Callable[[Goal], list[IntegrationEvent]],
    ) -> Goal:
        """Apply one change to a goal: `who` says which of 'employee', 'manager' and 'hr'
        may make it."""
        async with self.unit_of_work.transaction() as work:
            found = await work.records.goal(goal_id, for_edit=True)
            if found is None:
                raise GoalNotFound(f"no goal {goal_id!r}")
            goal, version = found
            person = await work.org_chart.person(goal.employee_id)
            roles = {
                "employee": by == goal.employee_id,
                "manager": person is not None and by == person.manager_id,
                "hr": hr,
            }
            if not any(roles[r] for r in who):
                raise GoalNotAllowed(
                    f"{by!r} may not do this to {goal.employee_id!r}'s goal: "
                    f"{' or '.join(sorted(who))} only"
                )
            events = decide(goal)
            return await _record(work, goal, goal_id, version, events, EventMetadata(actor=by))

    async def agree(self, goal_id: str, agreed: bool, reason: str, by: str, hr: bool) -> Goal:
        """The employee's manager (or HR) agrees a proposal, or rejects it saying why."""
        return await self._change(
            goal_id,
            by,
            hr,
            frozenset({"manager", "hr"}),
            lambda goal: rules.agree(goal) if agreed else rules.reject(goal, reason),
        )

    async def check_in(
        self,
        goal_id: str,
        note: str,
        evidence: str,
        estimates: Mapping[str, float],
        by: str,
    ) -> Goal:
        return await self._change(
            goal_id,
            by,
            False,
            frozenset({"employee", "manager"}),
            lambda goal: rules.check_in(goal, note, evidence, estimates),
        )

    async def drop(self, goal_id: str, reason: str, by: str, hr: bool) -> Goal:
        return await self._change(
            goal_id,
            by,
            hr,
            frozenset({"employee", "manager", "hr"}),
            lambda goal: rules.drop(goal, reason),
        )

    # -- reading ------------------------------------------------------------------------

    async def _may_see(self, work: Work, viewer: str, employee_id: str, hr: bool) -> None:
        if hr or viewer == employee_id or viewer in await work.org_chart.managers_of(employee_id):
            return
        raise GoalNotAllowed(f"{viewer!r} may not see {employee_id!r}'s goals")

    async def goal(self, goal_id: str, viewer: str, hr: bool) -> Goal:
        async with self.unit_of_work.reading() as work:
            found = await work.records.goal(goal_id)
            if found is None:
                raise GoalNotFound(f"no goal {goal_id!r}")
            await self._may_see(work, viewer, found[0].employee_id, hr)
        return found[0]

    async def goals_of(self, employee_id: str, viewer: str, hr: bool) -> list[Goal]:
        """The employee's goals, by due date."""
        async with self.unit_of_work.reading() as work:
            await self._may_see(work, viewer, employee_id, hr)
            return await work.records.goals_of(employee_id)


async def judge_goals(work: Work, envelope: Envelope, event: CalibrationCompleted) -> None:
    """Each goal in force of a person the calibration scored: its targets reached or not,
    and closed met or missed when due on or before the calibration's day."""
    on: date = envelope.occurred_at.date()
    scores = {s.subject: {**s.scores, **s.sub_skills} for s in event.scores}
    metadata = EventMetadata.reacting_to(envelope, ACTOR)
    for goal, version in await work.records.goals_in_force(sorted(scores)):
        events = rules.judge(goal, event.session_id, on, scores[goal.employee_id])
        if events:
            await _record(work, goal, goal.goal_id, version, events, metadata)
