"""Manager edits of a generated development plan (docs/domain.md §5): each edit is an event on
the plan's own stream, so the generated plan and every change to it stay on record.

The rules that make a generated plan sound hold for edited ones too: an action closes a gap
of the person's role profile; a mentor is an internal expert (calibrated 4 or more on that
competency) and never the person or their manager; a course exists, is offered, and builds
that competency. The mentor cap is the generator's concern: a manager choosing a mentor by
name has spoken to them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent, PrivateEvent, registry
from libs.events.schemas.development import ActionKind, PlanActionApproved, PlannedAction
from libs.events.schemas.lms import Course, EnrolmentRequested
from libs.personal.sealing import PersonalOf
from services.development.domain.gaps import Gap
from services.development.domain.plans import owner_of_plan


class EditRefused(ValueError):
    """An edit the plan rules do not allow; the message says what to change."""


class AddedAction(PlannedAction):
    """An action a manager wrote into a plan: its description is their text about the
    person whose plan it is, stored sealed under that person's key (docs/privacy.md)."""

    description: Annotated[str, PersonalOf("employee_id")]


@registry.event
class PlanActionAdded(PrivateEvent):
    """Since version 2 it names the plan's owner, whose key seals the description."""

    event_type = "PlanActionAdded"
    context = "development"
    schema_version = 2

    plan_id: str
    employee_id: str = Field(description="whose plan it is")
    action: AddedAction


@registry.event
class PlanActionRemoved(PrivateEvent):
    """Since version 2 it names the plan's owner, whose key seals the reason."""

    event_type = "PlanActionRemoved"
    context = "development"
    schema_version = 2

    plan_id: str
    employee_id: str = Field(description="whose plan it is")
    action_id: str
    reason: Annotated[str, PersonalOf("employee_id")]


@registry.upcaster(PlanActionAdded.event_type, 1)
@registry.upcaster(PlanActionRemoved.event_type, 1)
def _owner_named(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 named only the plan; version 2 adds its owner, taken from the plan id.

    Both events are private: only this service reads them, from the plan's own stream
    (`plan-<plan id>`), and the plan id is `<session>:<employee>` by construction
    (`plans.plan_id_for`), so the payload alone names the owner: no lookup of the plan, which a
    payload-only upcaster could not make anyway. The text of a version 1 event stays as it
    was written, in clear: a stored event is never rewritten (docs/privacy.md).
    """
    return {**payload, "employee_id": owner_of_plan(payload["plan_id"])}


class NewAction(BaseModel):
    """What a manager adds to a plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActionKind
    competency: str
    description: str = Field(min_length=1, max_length=1000)
    mentor: str | None = None
    course_id: str | None = None


def apply(actions: Sequence[PlannedAction], event: IntegrationEvent) -> list[PlannedAction]:
    """The plan's actions after one edit."""
    if isinstance(event, PlanActionAdded | PlanActionApproved):
        return [*actions, event.action]
    if isinstance(event, PlanActionRemoved):
        return [a for a in actions if a.action_id != event.action_id]
    return list(actions)


def add(plan_id: str, employee_id: str, action: PlannedAction) -> list[IntegrationEvent]:
    """Events adding an action held to the plan rules (`checked`) to the plan: the addition,
    and an enrolment for a course."""
    added = AddedAction.model_validate(action.model_dump())
    return [
        PlanActionAdded(plan_id=plan_id, employee_id=employee_id, action=added),
        *enrolments(plan_id, employee_id, added),
    ]


def checked(
    employee_id: str,
    manager_id: str | None,
    taken: Collection[str],
    new: NewAction,
    gaps: Sequence[Gap],
    scores: Mapping[str, Mapping[str, float | None]],
    catalog: Mapping[str, Course],
    expert_score: float = 4.0,
) -> PlannedAction:
    """`new` held to the plan rules, with the first free id `a<n>` after the `taken` ones;
    EditRefused saying what to change otherwise. The manager's additions and the employee's
    proposals are held to the same rules."""
    if new.competency not in {g.competency for g in gaps}:
        raise EditRefused(
            f"{new.competency!r} is not in {employee_id!r}'s role profile: an action closes "
            f"one of their gaps ({sorted({g.competency for g in gaps})})"
        )
    if new.kind == "mentoring":
        _check_mentor(employee_id, manager_id, new, scores, expert_score)
    elif new.mentor is not None:
        raise EditRefused("only a mentoring action names a mentor")
    if new.kind == "course":
        _check_course(new, catalog)
    elif new.course_id is not None:
        raise EditRefused("only a course action names a course")
    number = len(taken) + 1
    while f"a{number}" in taken:
        number += 1
    return PlannedAction(
        action_id=f"a{number}",
        kind=new.kind,
        competency=new.competency,
        description=new.description,
        mentor=new.mentor,
        course_id=new.course_id,
    )


def enrolments(plan_id: str, employee_id: str, action: PlannedAction) -> list[IntegrationEvent]:
    """A course action in force asks the LMS to enrol the employee."""
    if action.course_id is None:
        return []
    return [
        EnrolmentRequested(
            employee_id=employee_id,
            course_id=action.course_id,
            plan_id=plan_id,
            competency=action.competency,
        )
    ]


def remove(
    plan_id: str, employee_id: str, actions: Sequence[PlannedAction], action_id: str, reason: str
) -> list[IntegrationEvent]:
    if not any(a.action_id == action_id for a in actions):
        raise EditRefused(
            f"plan {plan_id!r} has no action {action_id!r}; it has {[a.action_id for a in actions]}"
        )
    if not reason.strip():
        raise EditRefused("say why the action is removed: the plan's history keeps it")
    return [
        PlanActionRemoved(
            plan_id=plan_id, employee_id=employee_id, action_id=action_id, reason=reason
        )
    ]


def _check_mentor(
    employee_id: str,
    manager_id: str | None,
    new: NewAction,
    scores: Mapping[str, Mapping[str, float | None]],
    expert_score: float,
) -> None:
    if new.mentor is None:
        raise EditRefused("a mentoring action names its mentor")
    if new.mentor in (employee_id, manager_id):
        raise EditRefused(
            f"{new.mentor!r} cannot mentor {employee_id!r}: a mentor is an internal expert "
            "other than the person and their own manager"
        )
    score = scores.get(new.mentor, {}).get(new.competency)
    if score is None or score < expert_score:
        raise EditRefused(
            f"{new.mentor!r} has calibrated score {score} on {new.competency!r}; a mentor "
            f"needs {expert_score} or more"
        )


def _check_course(new: NewAction, catalog: Mapping[str, Course]) -> None:
    course = catalog.get(new.course_id or "")
    if course is None or course.retired:
        raise EditRefused(f"course {new.course_id!r} is not offered in the catalog")
    if new.competency not in {b.competency for b in course.builds}:
        raise EditRefused(
            f"course {new.course_id!r} builds {sorted(b.competency for b in course.builds)}, "
            f"not {new.competency!r}"
        )
