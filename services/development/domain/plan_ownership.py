"""Plans the employee owns (docs/domain.md §5, Development plans): the employee proposes
actions for their own plan and their manager approves or declines them; the employee marks
actions in force started or done, with evidence; the manager comments; the LMS's completion
of the course a course action names marks that action done.

Every action in force (generated, added by the manager, or approved) is tracked: its state
and the steps that led there. An action with no event of its own is `approved`, not started.
A proposal stays out of the plan's actions until approved, so it counts nowhere (progress,
reports, enrolments) until then; a declined one never does. Progress is done / total of the
actions in force.

The LMS closes a course action with a completion of its course dated on or after the plan's
day (one before it was done for an earlier plan, not for this one), whichever came first:
the completion, closing the actions in force naming the course, or the action, closed as it
comes into force when such a completion is on record. Either way once.

Every change is an event on the plan's stream (`plan-<plan id>`), and `apply` folds them into
the tracks the read model keeps: folding the stream again gives the same tracks. The
decisions are pure: they take the plan as it stands and return events, or refuse with a
message saying what to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent, PrivateEvent, registry
from libs.events.schemas.development import (
    OnPlan,
    OnPlanAction,
    OwnAction,
    PlanActionApproved,
    PlanActionCompleted,
    PlanActionProgressed,
    PlanActionStep,
    PlannedAction,
)
from libs.personal.sealing import PersonalOf
from services.development.domain.plan_edits import EditRefused, enrolments

ActionState = Literal["proposed", "declined", "approved", "started", "done"]


class NoSuchAction(EditRefused):
    """The plan has no action (or proposal) by that id."""


class ActionInWrongState(EditRefused):
    """The change does not apply to the action as it stands (approving twice, marking a
    declined action, marking a done action again)."""


@registry.event
class PlanActionProposed(OnPlan, PrivateEvent):
    """The employee proposed an action for their own plan, waiting for their manager: it
    stays in the service until approved (then PlanActionApproved is published) or declined."""

    event_type = "PlanActionProposed"
    context = "development"
    schema_version = 1

    action: OwnAction


class _Remark(OnPlanAction):
    comment: Annotated[str, PersonalOf("employee_id")]


@registry.event
class PlanActionDeclined(_Remark, PrivateEvent):
    """The manager turned a proposed action down, saying why (sealed)."""

    event_type = "PlanActionDeclined"
    context = "development"
    schema_version = 1


@registry.event
class PlanActionCommented(_Remark, PrivateEvent):
    """The manager's comment on an action of their report's plan (sealed)."""

    event_type = "PlanActionCommented"
    context = "development"
    schema_version = 1


class Step(BaseModel):
    """An action marked started or done: by the employee with evidence, or done by the LMS's
    completion of its course."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    by: str
    status: PlanActionStep
    evidence: str = ""
    course_id: str | None = Field(None, description="done by the LMS: the course completed")
    completed_on: date | None = Field(None, description="done by the LMS: when, as it says")


class Comment(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    by: str
    comment: str


class ActionTrack(BaseModel):
    """One action of the plan as its events left it."""

    model_config = ConfigDict(frozen=True)

    action_id: str
    state: ActionState = "approved"
    proposal: PlannedAction | None = Field(
        None, description="proposed or declined: the action proposed (not in the plan's actions)"
    )
    proposed_by: str | None = None
    decided_by: str | None = Field(None, description="who approved or declined the proposal")
    decision_comment: str = ""
    steps: list[Step] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)


class Completion(BaseModel):
    """Progress of a plan: its actions in force done, of all in force."""

    model_config = ConfigDict(frozen=True)

    done: int
    total: int
    share: float | None = Field(description="done / total; null for a plan with no action")


Tracks = Mapping[str, ActionTrack]


@dataclass(frozen=True)
class OwnedPlan:
    """A plan as it stands, for a decision on it: its actions in force and their tracks."""

    plan_id: str
    employee_id: str
    actions: Sequence[PlannedAction]
    tracks: Tracks
    day: date  # the day the plan was made (UTC): the LMS's completions count from it

    def track(self, action_id: str) -> ActionTrack:
        return track_of(self.actions, self.tracks, action_id)

    def naming(self, action_id: str) -> dict[str, str]:
        """The fields an event on one of its actions starts with."""
        return {"plan_id": self.plan_id, "employee_id": self.employee_id, "action_id": action_id}


def day_of(at: datetime) -> date:
    """The day of a plan made at `at`, as every plan's day is read: in UTC."""
    return at.astimezone(UTC).date()


def track_of(actions: Sequence[PlannedAction], tracks: Tracks, action_id: str) -> ActionTrack:
    """The action's track: as its events left it, or `approved` for an action in force with
    none. Raises NoSuchAction naming the ids the plan has."""
    found = tracks.get(action_id)
    if found is not None and (found.state in ("proposed", "declined") or _in(actions, action_id)):
        return found
    if _in(actions, action_id):
        return ActionTrack(action_id=action_id)
    known = [a.action_id for a in actions] + [
        t.action_id for t in tracks.values() if t.state in ("proposed", "declined")
    ]
    raise NoSuchAction(f"the plan has no action {action_id!r}; it has {known}")


def _in(actions: Sequence[PlannedAction], action_id: str) -> bool:
    return any(a.action_id == action_id for a in actions)


# -- decisions ------------------------------------------------------------------------------


def propose(plan: OwnedPlan, action: PlannedAction) -> list[IntegrationEvent]:
    """The employee's proposal of an action held to the plan rules (plan_edits.checked)."""
    own = OwnAction.model_validate(action.model_dump())
    return [PlanActionProposed(plan_id=plan.plan_id, employee_id=plan.employee_id, action=own)]


def decide(plan: OwnedPlan, action_id: str, approved: bool, comment: str) -> list[IntegrationEvent]:
    """The manager approves a proposal (a course one is then asked of the LMS as an
    enrolment) or declines it, saying why."""
    track = plan.track(action_id)
    if track.state != "proposed" or track.proposal is None:
        raise ActionInWrongState(
            f"action {action_id!r} is {track.state}: only a proposed action is approved or declined"
        )
    if not approved:
        if not comment.strip():
            raise EditRefused("say why the proposal is declined: the employee reads it")
        return [PlanActionDeclined(**plan.naming(action_id), comment=comment)]
    action = OwnAction.model_validate(track.proposal.model_dump())
    return [
        PlanActionApproved(
            plan_id=plan.plan_id, employee_id=plan.employee_id, action=action, comment=comment
        ),
        *enrolments(plan.plan_id, plan.employee_id, action),
    ]


def progress(
    plan: OwnedPlan, action_id: str, status: PlanActionStep, evidence: str
) -> list[IntegrationEvent]:
    """The employee marks an action in force started, or done with evidence."""
    track = plan.track(action_id)
    if track.state in ("proposed", "declined"):
        raise ActionInWrongState(
            f"action {action_id!r} is {track.state}: only an action in force (approved) is "
            "marked started or done"
        )
    if track.state == "done" or track.state == status:
        raise ActionInWrongState(f"action {action_id!r} is {track.state} already")
    if status == "done" and not evidence.strip():
        raise EditRefused("marking an action done needs evidence: what shows it is done")
    return [PlanActionProgressed(**plan.naming(action_id), status=status, evidence=evidence)]


def comment_on(plan: OwnedPlan, action_id: str, comment: str) -> list[IntegrationEvent]:
    """The manager's comment on an action, in force or proposed."""
    plan.track(action_id)
    if not comment.strip():
        raise EditRefused("a comment needs text")
    return [PlanActionCommented(**plan.naming(action_id), comment=comment)]


def complete_courses(plan: OwnedPlan, course_id: str, completed_on: date) -> list[IntegrationEvent]:
    """The LMS's completion of a course: every course action in force naming it and not done
    yet is done. Nothing for an action done already, so a completion reported again (another
    event for the same course) changes nothing; nothing for a completion dated before the
    plan's day, which was not this plan's work."""
    if completed_on < plan.day:
        return []
    return [
        PlanActionCompleted(
            **plan.naming(a.action_id), course_id=course_id, completed_on=completed_on
        )
        for a in plan.actions
        if a.kind == "course"
        and a.course_id == course_id
        and plan.track(a.action_id).state != "done"
    ]


def complete_on_record(plan: OwnedPlan, on_record: Mapping[str, date]) -> list[IntegrationEvent]:
    """Course actions that came into force with a completion of their course on record
    (`on_record`: course -> the day completed): done now, as the completion would have
    done them had it come after."""
    return [
        event
        for course_id, completed_on in sorted(on_record.items())
        for event in complete_courses(plan, course_id, completed_on)
    ]


# -- folding the events ---------------------------------------------------------------------


def apply(
    tracks: Tracks, event: IntegrationEvent, actor: str, at: datetime
) -> dict[str, ActionTrack]:
    """The plan's tracks after one of its events, `actor` having recorded it at `at`; events
    that track nothing (a manager's addition or removal) leave them as they were."""
    found = dict(tracks)
    if isinstance(event, PlanActionProposed):
        proposal = PlannedAction.model_validate(event.action.model_dump())
        found[proposal.action_id] = ActionTrack(
            action_id=proposal.action_id, state="proposed", proposal=proposal, proposed_by=actor
        )
        return found
    if isinstance(event, PlanActionApproved):
        action_id, update = event.action.action_id, {"state": "approved", "proposal": None}
        decision = event.comment
    elif isinstance(event, PlanActionDeclined):
        action_id, update = event.action_id, {"state": "declined"}
        decision = event.comment
    elif isinstance(event, PlanActionProgressed):
        step = Step(at=at, by=actor, status=event.status, evidence=event.evidence)
        return _with_step(found, event.action_id, step)
    elif isinstance(event, PlanActionCompleted):
        step = Step(
            at=at,
            by=actor,
            status="done",
            course_id=event.course_id,
            completed_on=event.completed_on,
        )
        return _with_step(found, event.action_id, step)
    elif isinstance(event, PlanActionCommented):
        track = found.get(event.action_id) or ActionTrack(action_id=event.action_id)
        note = Comment(at=at, by=actor, comment=event.comment)
        found[event.action_id] = track.model_copy(update={"comments": [*track.comments, note]})
        return found
    else:
        return found
    track = found.get(action_id) or ActionTrack(action_id=action_id)
    found[action_id] = track.model_copy(
        update={**update, "decided_by": actor, "decision_comment": decision}
    )
    return found


def _with_step(found: dict[str, ActionTrack], action_id: str, step: Step) -> dict[str, ActionTrack]:
    track = found.get(action_id) or ActionTrack(action_id=action_id)
    found[action_id] = track.model_copy(
        update={"state": step.status, "steps": [*track.steps, step]}
    )
    return found


# -- what the employee and manager read -----------------------------------------------------


def completion(actions: Sequence[PlannedAction], tracks: Tracks) -> Completion:
    """Done / total of the actions in force (proposals and declined ones are not in the
    plan's actions)."""
    done = sum(1 for a in actions if track_of(actions, tracks, a.action_id).state == "done")
    total = len(actions)
    return Completion(done=done, total=total, share=done / total if total else None)


def statuses(actions: Sequence[PlannedAction], tracks: Tracks) -> list[ActionTrack]:
    """A track per action in force, in the plan's order, then the proposals and declined
    ones in the order proposed. A removed action's track is not shown: it left the plan."""
    waiting = [t for t in tracks.values() if t.state in ("proposed", "declined")]
    return [track_of(actions, tracks, a.action_id) for a in actions] + waiting


def scrub(tracks: Tracks, erased: str) -> tuple[dict[str, ActionTrack], int]:
    """The tracks with every text about the employee replaced by `erased` (docs/privacy.md,
    Erasure): proposals' descriptions, decision comments, evidence and comments; and how
    many texts that replaced (0 on a repeat, and for empty texts)."""
    count = 0

    def text(value: str) -> str:
        nonlocal count
        if not value or value == erased:
            return value
        count += 1
        return erased

    found: dict[str, ActionTrack] = {}
    for action_id, track in tracks.items():
        proposal = track.proposal
        if proposal is not None:
            proposal = proposal.model_copy(update={"description": text(proposal.description)})
        found[action_id] = track.model_copy(
            update={
                "proposal": proposal,
                "decision_comment": text(track.decision_comment),
                "steps": [s.model_copy(update={"evidence": text(s.evidence)}) for s in track.steps],
                "comments": [
                    c.model_copy(update={"comment": text(c.comment)}) for c in track.comments
                ],
            }
        )
    return found, count
