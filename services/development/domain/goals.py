"""Goals (docs/domain.md §5, Goals): a title, a due date and targets, each a level to reach
on a competency (or a sub-skill) of one framework version.

An employee proposes a goal and their manager agrees or rejects it; HR sets goals directly,
one person or a population at a time. Check-ins by the employee or their manager record
progress. Each calibration of the person records, per target of each goal in force, whether
it was reached (calibrated score >= target level; not observed: not reached), and closes a
goal due on or before the calibration's day: met when every target was reached, missed
otherwise. The employee, their manager or HR may drop a goal in force, saying why.

Every change is an event on the goal's own stream (`goal-<goal id>`); `apply` folds them
into the `Goal` the read model keeps. The decisions here are pure: they take the goal as it
stands and return the events, or refuse with a message saying what to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent, PrivateEvent, registry
from libs.events.schemas.assessment import competency_of
from libs.events.schemas.development import (
    Estimate,
    GoalClosed,
    GoalProgressRecorded,
    GoalSet,
    GoalTarget,
    GoalTerms,
    PlannedAction,
    TargetKey,
    TargetResult,
)
from libs.events.schemas.framework import Framework
from libs.personal.sealing import PersonalOf

GoalState = Literal["proposed", "open", "rejected", "met", "missed", "dropped"]
IN_FORCE: frozenset[str] = frozenset({"open"})
TITLE_LIMIT = 200
TEXT_LIMIT = 4000


class GoalRefused(ValueError):
    """A goal or a change to it that the rules do not allow; the message says what to fix."""


class GoalInWrongState(GoalRefused):
    """The change does not apply to the goal as it stands (agreeing a goal already agreed,
    checking in on a closed one)."""


@registry.event
class GoalProposed(GoalTerms, PrivateEvent):
    """An employee's proposal, waiting for their manager: it stays in the service until
    agreed (then GoalSet is published) or rejected."""

    event_type = "GoalProposed"
    context = "development"
    schema_version = 1


@registry.event
class GoalRejected(PrivateEvent):
    """The manager turned a proposal down, saying why (sealed)."""

    event_type = "GoalRejected"
    context = "development"
    schema_version = 1

    goal_id: str
    employee_id: str
    reason: Annotated[str, PersonalOf("employee_id")]


class CheckIn(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    by: str
    note: str
    evidence: str
    estimates: dict[TargetKey, Estimate] = Field(default_factory=dict)


class CalibrationResult(BaseModel):
    """What one calibration said of the goal's targets."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    at: datetime
    results: list[TargetResult]


class Goal(BaseModel):
    """A goal as its events left it: what the read model holds and the routes answer."""

    model_config = ConfigDict(frozen=True)

    goal_id: str
    employee_id: str
    title: str
    due: date
    framework_id: str
    framework_version: int
    targets: list[GoalTarget]
    state: GoalState
    proposed_by: str
    agreed_by: str | None = Field(None, description="who agreed or set it")
    check_ins: list[CheckIn] = Field(default_factory=list)
    calibrations: list[CalibrationResult] = Field(default_factory=list)
    closed_session: str | None = Field(None, description="met or missed: the deciding session")
    reason: str | None = Field(None, description="why it was rejected or dropped")


class NewGoal(BaseModel):
    """What a proposal or HR's setting says of a goal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, max_length=TITLE_LIMIT)
    due: date
    framework_id: str = Field(min_length=1, max_length=80)
    framework_version: int = Field(ge=1, le=1_000_000)
    targets: list[GoalTarget] = Field(min_length=1, max_length=50)


# -- setting --------------------------------------------------------------------------------


def check_targets(new: NewGoal, framework: Framework | None, today: date) -> None:
    """Refuse a goal whose targets the framework version does not hold: unknown competencies
    or sub-skills, levels off the scale, a key twice; or a goal due before today."""
    if not new.title.strip():
        raise GoalRefused("a goal needs a title")
    if new.due < today:
        raise GoalRefused(f"the due date {new.due} has passed (today is {today})")
    if framework is None:
        raise GoalRefused(
            f"framework {new.framework_id!r} version {new.framework_version} has not reached "
            "the development service: name a published version"
        )
    low, high = (int(n) for n in framework.scale.split(".."))
    competencies = {c.key: c for c in framework.competencies}
    unknown: list[str] = []
    off_scale: list[str] = []
    seen: set[str] = set()
    repeated: list[str] = []
    for target in new.targets:
        if target.key in seen:
            repeated.append(target.key)
        seen.add(target.key)
        competency_key, _, sub_skill = target.key.partition("/")
        competency = competencies.get(competency_key)
        if competency is None or (
            sub_skill
            and (
                framework.granularity != "sub_skill"
                or sub_skill not in {s.key for s in competency.sub_skills}
            )
        ):
            unknown.append(target.key)
        if not low <= target.level <= high:
            off_scale.append(f"{target.key}={target.level}")
    problems = []
    if unknown:
        problems.append(
            f"not in framework {new.framework_id!r} version {new.framework_version}: "
            f"{unknown} (a competency key, or "
            "competency/sub-skill when the framework assesses at sub-skill level)"
        )
    if off_scale:
        problems.append(f"levels off the scale {framework.scale}: {off_scale}")
    if repeated:
        problems.append(f"targets named twice: {sorted(set(repeated))}")
    if problems:
        raise GoalRefused("; ".join(problems))


def propose(goal_id: str, employee_id: str, new: NewGoal) -> list[IntegrationEvent]:
    return [GoalProposed(goal_id=goal_id, employee_id=employee_id, **_fields(new))]


def set_by_hr(goal_id: str, employee_id: str, new: NewGoal) -> list[IntegrationEvent]:
    return [GoalSet(goal_id=goal_id, employee_id=employee_id, how="set_by_hr", **_fields(new))]


def _fields(new: NewGoal) -> dict[str, object]:
    return {
        "title": new.title,
        "due": new.due,
        "framework_id": new.framework_id,
        "framework_version": new.framework_version,
        "targets": list(new.targets),
    }


def agree(goal: Goal) -> list[IntegrationEvent]:
    _expect(goal, "proposed", "agreed")
    return [
        GoalSet(
            goal_id=goal.goal_id,
            employee_id=goal.employee_id,
            title=goal.title,
            due=goal.due,
            framework_id=goal.framework_id,
            framework_version=goal.framework_version,
            targets=goal.targets,
            how="agreed",
        )
    ]


def reject(goal: Goal, reason: str) -> list[IntegrationEvent]:
    _expect(goal, "proposed", "rejected")
    if not reason.strip():
        raise GoalRefused("say why the proposal is rejected")
    return [GoalRejected(goal_id=goal.goal_id, employee_id=goal.employee_id, reason=reason)]


# -- progress and closing -------------------------------------------------------------------


def check_in(
    goal: Goal, note: str, evidence: str, estimates: Mapping[str, float]
) -> list[IntegrationEvent]:
    _expect(goal, "open", "checked in on")
    if not (note.strip() or evidence.strip()):
        raise GoalRefused("a check-in needs a note or evidence")
    keys = {t.key for t in goal.targets}
    if unknown := sorted(set(estimates) - keys):
        raise GoalRefused(f"estimates for targets the goal does not have: {unknown}")
    return [
        GoalProgressRecorded(
            goal_id=goal.goal_id,
            employee_id=goal.employee_id,
            source="check_in",
            note=note,
            evidence=evidence,
            estimates=dict(estimates),
        )
    ]


def drop(goal: Goal, reason: str) -> list[IntegrationEvent]:
    _expect(goal, "open", "dropped")
    if not reason.strip():
        raise GoalRefused("say why the goal is dropped")
    return [
        GoalClosed(
            goal_id=goal.goal_id, employee_id=goal.employee_id, outcome="dropped", reason=reason
        )
    ]


def results(
    targets: Sequence[GoalTarget], scores: Mapping[str, float | None]
) -> list[TargetResult]:
    """Each target against a calibration's scores: reached when the calibrated score is at
    least the target level. A sub-skill target reads the sub-skill's own score when the
    calibration scored sub-skills (an unobserved sub-skill is not reached, whatever its
    competency's roll-up), else its competency's; a target nobody observed is not reached."""
    found = []
    for target in targets:
        if target.key in scores or competency_of(target.key) == target.key:
            score = scores.get(target.key)
        else:  # the calibration has no sub-skill scores: its competency's stands for them
            score = scores.get(competency_of(target.key))
        found.append(
            TargetResult(
                key=target.key,
                level=target.level,
                score=score,
                reached=score is not None and score >= target.level,
            )
        )
    return found


def judge(
    goal: Goal, session_id: str, on: date, scores: Mapping[str, float | None]
) -> list[IntegrationEvent]:
    """A calibration of the goal's owner: the progress it shows on every target and, when the
    goal is due on or before the calibration's day, its closing met or missed. Nothing for a
    goal not in force, or one this session judged already."""
    if goal.state not in IN_FORCE or any(c.session_id == session_id for c in goal.calibrations):
        return []
    found = results(goal.targets, scores)
    events: list[IntegrationEvent] = [
        GoalProgressRecorded(
            goal_id=goal.goal_id,
            employee_id=goal.employee_id,
            source="calibration",
            session_id=session_id,
            results=found,
        )
    ]
    if goal.due <= on:
        met = all(r.reached for r in found)
        events.append(
            GoalClosed(
                goal_id=goal.goal_id,
                employee_id=goal.employee_id,
                outcome="met" if met else "missed",
                session_id=session_id,
            )
        )
    return events


def _expect(goal: Goal, state: GoalState, change: str) -> None:
    if goal.state != state:
        raise GoalInWrongState(
            f"goal {goal.goal_id!r} is {goal.state}: only a {state} goal can be {change}"
        )


# -- folding the events -----------------------------------------------------------------------


def apply(goal: Goal | None, event: IntegrationEvent, actor: str, at: datetime) -> Goal:
    """The goal after one of its events, `actor` having recorded it at `at`."""
    if isinstance(event, GoalProposed | GoalSet) and goal is None:
        return Goal(
            goal_id=event.goal_id,
            employee_id=event.employee_id,
            title=event.title,
            due=event.due,
            framework_id=event.framework_id,
            framework_version=event.framework_version,
            targets=event.targets,
            state="proposed" if isinstance(event, GoalProposed) else "open",
            proposed_by=actor,
            agreed_by=actor if isinstance(event, GoalSet) else None,
        )
    if goal is None:
        raise ValueError(f"{event.event_type} before the goal was proposed or set")
    if isinstance(event, GoalSet):
        return goal.model_copy(update={"state": "open", "agreed_by": actor})
    if isinstance(event, GoalRejected):
        return goal.model_copy(update={"state": "rejected", "reason": event.reason})
    if isinstance(event, GoalProgressRecorded):
        if event.source == "calibration" and event.session_id is not None:
            result = CalibrationResult(session_id=event.session_id, at=at, results=event.results)
            return goal.model_copy(update={"calibrations": [*goal.calibrations, result]})
        check = CheckIn(
            at=at, by=actor, note=event.note, evidence=event.evidence, estimates=event.estimates
        )
        return goal.model_copy(update={"check_ins": [*goal.check_ins, check]})
    if isinstance(event, GoalClosed):
        return goal.model_copy(
            update={
                "state": event.outcome,
                "closed_session": event.session_id,
                "reason": event.reason or None,
            }
        )
    return goal


def scrub(goal: Goal, erased: str) -> tuple[Goal, int]:
    """The goal with every text about its owner replaced by `erased` (docs/privacy.md,
    Erasure): the title, each check-in's note and evidence, a rejection or drop reason; and
    how many texts that replaced (0 on a repeat, and for empty texts)."""
    count = 0

    def text(value: str | None) -> str | None:
        nonlocal count
        if not value or value == erased:
            return value
        count += 1
        return erased

    check_ins = [
        c.model_copy(update={"note": text(c.note), "evidence": text(c.evidence)})
        for c in goal.check_ins
    ]
    scrubbed = goal.model_copy(
        update={"title": text(goal.title), "reason": text(goal.reason), "check_ins": check_ins}
    )
    return scrubbed, count


# -- goals beside the plan ------------------------------------------------------------------


class GoalFocus(BaseModel):
    """A target of a goal in force that the plan's actions do not work towards: listed
    beside the plan, for the manager to add actions on (docs/domain.md §5, Goals)."""

    model_config = ConfigDict(frozen=True)

    goal_id: str
    key: str
    level: int
    due: date


def beside_plan(
    goals: Sequence[Goal], actions: Sequence[PlannedAction], role_targets: Mapping[str, int]
) -> list[GoalFocus]:
    """The targets of the goals in force that the plan does not already cover. A target is
    covered when the plan has an action on its competency (a sub-skill's competency) and
    the role profile's target there, which the actions aim at, is at least the goal's
    level; `role_targets`: the role's target per competency with an open gap."""
    planned = {a.competency for a in actions}
    found = []
    for goal in goals:
        if goal.state not in IN_FORCE:
            continue
        for target in goal.targets:
            competency = competency_of(target.key)
            if competency in planned and role_targets.get(competency, -1) >= target.level:
                continue
            found.append(
                GoalFocus(goal_id=goal.goal_id, key=target.key, level=target.level, due=goal.due)
            )
    return found
