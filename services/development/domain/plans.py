"""Individual development plans (docs/domain.md §5), generated for a whole population at once from
their gaps with the 70/20/10 mix: on-the-job actions, mentoring by an internal expert, and
formal training from the L&D catalog.

Actions name the gap they close: its competency, and in the description the sub-skill
(`competency/sub-skill`) when the competency was assessed per sub-skill; mentors and courses
are found per competency, since experts are scored and courses built per competency.

Only open gaps (observed and below target) are planned: a competency nobody observed is no
reason to act, and a met or exceeded target needs nothing. A person without an open gap gets
no plan at all (they are absent from the result): a plan with nothing in it would still go out
as an event and to the person's manager as if there were something to do.

Every plan has the same number of actions, split 70/20/10 (`split`). When a mentoring or course
action cannot be filled (no expert has capacity, no course in the catalog matches), it stays
in the plan with `mentor=None` or `course_id=None` and says what is missing, so the mix holds
and the missing expert or programme shows up where HR looks for it.

Experts are shared across the whole population, with a cap on mentees each: who gets them is
decided population-wide, in rounds (everyone's first mentoring action before anyone's second)
and in an order that favours need, not names (`_order`).
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.development import (
    ActionKind,
    DevelopmentPlanGenerated,
    PlannedAction,
    TargetPlanGenerated,
)
from libs.events.schemas.lms import Course
from services.development.domain.gaps import Gap, priority
from services.development.domain.goals import GoalFocus

# The 70/20/10 mix in tenths, in the order actions appear in a plan (whole numbers, so
# equal remainders compare equal).
MIX: tuple[tuple[ActionKind, int], ...] = (
    ("on_the_job", 7),
    ("mentoring", 2),
    ("course", 1),
)


class PlanPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    actions_per_plan: int = Field(10, ge=1, le=100, description="actions in every plan")
    mentor_cap: int = Field(
        3, ge=0, le=100, description="mentee assignments one expert takes, population-wide"
    )
    expert_score: float = Field(
        4.0, ge=0, le=5, description="calibrated score from which someone is an internal expert"
    )


@dataclass(frozen=True, slots=True)
class PlanSubject:
    """One person to plan for: their gaps (from `gaps()`) and their manager, who never
    mentors them."""

    employee_id: str
    manager_id: str | None
    gaps: Sequence[Gap]


@dataclass(frozen=True, slots=True)
class DevelopmentPlan:
    plan_id: str
    employee_id: str
    session_id: str
    # On-the-job actions first, then mentoring, then courses; ids a1..aN in that order.
    actions: tuple[PlannedAction, ...]
    # Targets of the person's goals in force that the actions do not work towards
    # (goals.beside_plan): shown with the plan when it is read, never part of its event.
    goal_targets: tuple[GoalFocus, ...] = ()
    # The role profile a plan aimed at a target position works towards (`aimed_at`); None
    # for the plan of the person's own role.
    target_role: str | None = None

    def of_kind(self, kind: ActionKind) -> list[PlannedAction]:
        return [a for a in self.actions if a.kind == kind]

    def event(self) -> DevelopmentPlanGenerated | TargetPlanGenerated:
        if self.target_role is not None:
            return TargetPlanGenerated(
                plan_id=self.plan_id,
                employee_id=self.employee_id,
                session_id=self.session_id,
                target_role=self.target_role,
                actions=list(self.actions),
            )
        return DevelopmentPlanGenerated(
            plan_id=self.plan_id,
            employee_id=self.employee_id,
            session_id=self.session_id,
            actions=list(self.actions),
        )


def plan_id_for(session_id: str, employee_id: str) -> str:
    """The id of the person's plan from one session: `<session>:<employee>`."""
    return f"{session_id}:{employee_id}"


def aimed_at(plan: DevelopmentPlan, target_role: str, at: datetime) -> DevelopmentPlan:
    """A plan generated against a target position's profile (docs/domain.md §5), as that
    position's plan: its own id, `<session>.<role>.<when>:<employee>`, so that aiming again
    makes another plan and the first `:` still ends what precedes the owner."""
    stamp = at.strftime("%Y%m%dt%H%M%S%f")
    plan_id = f"{plan.session_id}.{target_role}.{stamp}:{plan.employee_id}"
    return replace(plan, plan_id=plan_id, target_role=target_role)


def owner_of_plan(plan_id: str) -> str:
    """Whose plan `plan_id` is. Session ids are keys (lower-case letters, digits, `.`, `_`,
    `-`: libs/events/schemas/framework.py `Key`), so the first `:` ends the session."""
    session_id, colon, employee_id = plan_id.partition(":")
    if not colon or not session_id or not employee_id:
        raise ValueError(f"{plan_id!r} is not a plan id (<session>:<employee>)")
    return employee_id


class DuplicateSubject(ValueError):
    """The same person is listed twice: one plan per person and session."""

    def __init__(self, employee_id: str) -> None:
        super().__init__(f"{employee_id!r} is listed more than once; plan each person once")


def split(actions_per_plan: int) -> dict[ActionKind, int]:
    """How many actions of each kind a plan of this size holds: 7/2/1 at 10.

    Largest remainder: each kind gets the whole part of its share, and the actions left go
    to the largest fractional parts, so each kind is within one action of its 70/20/10 share.
    At equal remainders the smaller share wins (5 actions: 3/1/1, not 4/1/0), so short plans
    keep every kind they can.
    """
    counts: dict[ActionKind, int] = {}
    remainders: dict[ActionKind, int] = {}
    for kind, tenths in MIX:
        counts[kind], remainders[kind] = divmod(actions_per_plan * tenths, 10)
    left = actions_per_plan - sum(counts.values())
    by_remainder = sorted(MIX, key=lambda kw: (-remainders[kw[0]], kw[1]))
    for kind, _ in by_remainder[:left]:
        counts[kind] += 1
    return counts


# -- courses -----------------------------------------------------------------------------------


class _Catalog:
    """The courses still offered, per competency, with the ranked matches per gap level.

    Course levels are whole numbers, so which courses match a gap, and how well, depends only
    on the competency, the calibrated score rounded down and the target: the ranking is
    computed once per such key (at most competencies x 6 x 6), not per person.
    """

    __slots__ = ("_by_competency", "_ranked")

    def __init__(self, catalog: Iterable[Course]) -> None:
        # The catalog arrives as upserts by course id: the last listing counts, so a later
        # `retired: true` withdraws the course.
        latest = {course.course_id: course for course in catalog}
        by_competency: dict[str, list[tuple[int, int, Course]]] = {}
        for course in latest.values():
            if course.retired:
                continue
            for built in course.builds:
                by_competency.setdefault(built.competency, []).append(
                    (built.from_level, built.to_level, course)
                )
        self._by_competency = by_competency
        self._ranked: dict[tuple[str, int, int], tuple[Course, ...]] = {}

    def matching(self, gap: Gap) -> tuple[Course, ...]:
        current = gap.current
        if current is None or current >= gap.target:
            return ()  # not open: nothing to close
        key = (gap.competency, math.floor(current), gap.target)
        ranked = self._ranked.get(key)
        if ranked is None:
            ranked = self._ranked[key] = self._rank(*key)
        return ranked

    def _rank(self, competency: str, level: int, target: int) -> tuple[Course, ...]:
        # 0: takes the person from their level to the target; 1: builds part of the way from
        # their level. A course starting above their level does not match: they are not ready.
        # `level < to_level` is `current < to_level` for a whole to_level.
        best: dict[str, tuple[int, Course]] = {}
        for from_level, to_level, course in self._by_competency.get(competency, ()):
            if from_level > level or to_level <= level:
                continue
            fit = 0 if to_level >= target else 1
            known = best.get(course.course_id)
            if known is None or fit < known[0]:
                best[course.course_id] = (fit, course)
        ordered = sorted(
            best.values(), key=lambda fc: (fc[0], fc[1].duration_hours, fc[1].course_id)
        )
        return tuple(course for _, course in ordered)


def matching_courses(gap: Gap, catalog: Iterable[Course]) -> list[Course]:
    """The courses matching an open gap, best first: full matches (from at or below the
    calibrated level, rounded down, to the target or beyond), then partial ones (from at or
    below the level to above it, short of the target); within each, shortest first, then by
    course id. Retired courses never match; a gap that is not open matches nothing."""
    return list(_Catalog(catalog).matching(gap))


# -- mentors -----------------------------------------------------------------------------------


class _Experts:
    """Internal experts per competency, bucketed by how many mentees they have so far.

    Each bucket is sorted by (-score, employee id), so the first eligible entry of the lowest
    bucket is the fair choice: fewest mentees, then the higher score, then the id. An expert
    leaves every bucket when they reach the cap. Moving an expert costs a bisect per
    competency they are expert in, so picking stays cheap however large the population.
    """

    __slots__ = ("_buckets", "_cap", "_load", "_scores")

    def __init__(
        self,
        scores: Mapping[str, Mapping[str, float | None]],
        policy: PlanPolicy,
        loads: Mapping[str, int] | None = None,
    ) -> None:
        self._cap = policy.mentor_cap
        # Mentees each expert has already: none for a calibration's population, planned
        # at once; other people's plans for one person's plan made later.
        self._load: dict[str, int] = dict(loads or {})
        # expert -> competency -> calibrated score, for the competencies they are expert in.
        self._scores: dict[str, dict[str, float]] = {}
        by_competency: dict[str, list[tuple[float, str]]] = {}
        for employee_id, per_competency in scores.items():
            for competency, score in per_competency.items():
                # NaN is no expert; sub-skill scores (`competency/sub-skill`) name no
                # competency: experts mentor on their competency's rolled-up score.
                if score is None or not score >= policy.expert_score or "/" in competency:
                    continue
                self._scores.setdefault(employee_id, {})[competency] = score
                by_competency.setdefault(competency, []).append((-score, employee_id))
        self._buckets: dict[str, list[list[tuple[float, str]]]] = {}
        for competency, entries in by_competency.items():
            buckets: list[list[tuple[float, str]]] = [[] for _ in range(self._cap)]
            for entry in sorted(entries):  # appended in order: each bucket stays sorted
                load = self._load.get(entry[1], 0)
                if load < self._cap:
                    buckets[load].append(entry)
            if buckets:
                self._buckets[competency] = buckets

    def pick(self, competency: str, excluded: Sequence[str | None]) -> str | None:
        """The eligible expert with the fewest mentees, or None when nobody has capacity."""
        for bucket in self._buckets.get(competency, ()):
            for _, employee_id in bucket:
                if employee_id not in excluded:
                    return employee_id
        return None

    def assign(self, expert: str) -> None:
        """One more mentee for the expert (whatever the competency: the cap is per person)."""
        load = self._load.get(expert, 0)
        for competency, score in self._scores[expert].items():
            buckets = self._buckets[competency]
            entry = (-score, expert)
            bucket = buckets[load]
            del bucket[bisect_left(bucket, entry)]
            if load + 1 < self._cap:
                insort(buckets[load + 1], entry)
        self._load[expert] = load + 1


# -- plans -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Draft:
    subject: PlanSubject
    open_gaps: list[Gap]
    # (gap, mentor) per mentoring action filled so far, in the order found.
    mentors: list[tuple[Gap, str]]
    # Set when a round found no expert: later rounds cannot find one either (loads only grow).
    mentors_exhausted: bool = False


def _order(drafts: Iterable[_Draft], session_id: str) -> list[_Draft]:
    """The order in which people get their pick of experts within a round.

    Largest top gap first: the greatest need gets the scarce experts. At equal need, a hash
    of the session and the employee id, not the id itself: sorting by id would hand the
    same people the last pick in every session, while the hash is reproducible for one
    session and shuffles who goes first from one session to the next.
    """

    def key(draft: _Draft) -> tuple[float, bytes]:
        top = draft.open_gaps[0].size or 0.0
        salt = f"{session_id}\x00{draft.subject.employee_id}".encode()
        return (-top, hashlib.sha256(salt).digest())

    return sorted(drafts, key=key)


def _find_mentor(draft: _Draft, experts: _Experts) -> tuple[Gap, str] | None:
    """A mentor for the highest-priority gap that still has none and for which an expert has
    capacity; when every such gap has a mentor, a second mentor (a different expert) for
    the highest-priority gap that has one."""
    mentored: dict[str, list[str]] = {}
    for gap, mentor in draft.mentors:
        mentored.setdefault(gap.competency, []).append(mentor)
    manager = draft.subject.manager_id
    fresh = [g for g in draft.open_gaps if g.competency not in mentored]
    again = [g for g in draft.open_gaps if g.competency in mentored]
    for gap in fresh + again:
        excluded = [draft.subject.employee_id, manager, *mentored.get(gap.competency, ())]
        mentor = experts.pick(gap.competency, excluded)
        if mentor is not None:
            return gap, mentor
    return None


def _cycle(preferred: list[Gap], rest: list[Gap], count: int) -> list[Gap]:
    """`count` gaps round-robin over `preferred` (or over `rest` when it is empty)."""
    pool = preferred or rest
    return [pool[i % len(pool)] for i in range(count)]


_ON_THE_JOB = (
    "Stretch assignment: take on work that calls for {c} at level {t} (calibrated now at "
    "{cur:.1f}), with someone at that level reviewing the result",
    "Project: own a deliverable whose outcome depends on {c}, and agree with your manager "
    "what level {t} looks like in it before you start",
    "Practise in the open: lead a review, session or write-up on {c} for your team, aiming "
    "at level {t}",
)


def _on_the_job(gap: Gap, round_: int) -> str:
    template = _ON_THE_JOB[round_ % len(_ON_THE_JOB)]
    return template.format(c=gap.key, t=gap.target, cur=gap.current or 0.0)


def _plan(
    draft: _Draft,
    session_id: str,
    counts: Mapping[ActionKind, int],
    catalog: _Catalog,
    policy: PlanPolicy,
    built: dict[tuple[str | None, ...], PlannedAction],
) -> DevelopmentPlan:
    gaps_ = draft.open_gaps
    actions: list[tuple[ActionKind, str, str, str | None, str | None]] = []

    # 70: on-the-job, round-robin over the open gaps in priority order.
    for i in range(counts["on_the_job"]):
        gap = gaps_[i % len(gaps_)]
        actions.append(
            ("on_the_job", gap.competency, _on_the_job(gap, i // len(gaps_)), None, None)
        )

    # 20: mentoring, as found population-wide; the rest stay open, on the gaps without a
    # mentor first.
    for gap, mentor in draft.mentors:
        description = (
            f"Mentoring on {gap.key} by {mentor}, an internal expert: agree goals "
            f"towards level {gap.target} and meet regularly"
        )
        actions.append(("mentoring", gap.competency, description, mentor, None))
    with_mentor = {g.competency for g, _ in draft.mentors}
    missing = counts["mentoring"] - len(draft.mentors)
    for gap in _cycle([g for g in gaps_ if g.competency not in with_mentor], gaps_, missing):
        description = (
            f"Mentoring on {gap.key}: an internal expert is still needed (calibrated "
            f"{policy.expert_score:g} or more, not your manager); none is available now"
        )
        actions.append(("mentoring", gap.competency, description, None, None))

    # 10: courses, the best match for the highest-priority gaps, one course per gap before
    # a second; never the same course twice in a plan.
    planned: set[str] = set()
    with_course: set[str] = set()
    for _ in range(counts["course"]):
        found: tuple[Gap, Course] | None = None
        fresh = [g for g in gaps_ if g.competency not in with_course]
        again = [g for g in gaps_ if g.competency in with_course]
        for gap in fresh + again:
            course = next((c for c in catalog.matching(gap) if c.course_id not in planned), None)
            if course is not None:
                found = (gap, course)
                break
        if found is None:
            break
        gap, course = found
        planned.add(course.course_id)
        with_course.add(gap.competency)
        description = f"Course {course.title!r} ({course.duration_hours:g} h) on {gap.key}"
        actions.append(("course", gap.competency, description, None, course.course_id))
    missing = counts["course"] - len(planned)
    for gap in _cycle([g for g in gaps_ if g.competency not in with_course], gaps_, missing):
        further = " further" if gap.competency in with_course else ""
        description = (
            f"Training on {gap.key} from level {math.floor(gap.current or 0.0)} to "
            f"{gap.target}: no{further} course in the catalog matches; needs a new programme"
        )
        actions.append(("course", gap.competency, description, None, None))

    return DevelopmentPlan(
        plan_id=plan_id_for(session_id, draft.subject.employee_id),
        employee_id=draft.subject.employee_id,
        session_id=session_id,
        actions=tuple(
            _action(f"a{i}", *fields, built=built) for i, fields in enumerate(actions, 1)
        ),
    )


def _action(
    action_id: str,
    kind: ActionKind,
    competency: str,
    description: str,
    mentor: str | None,
    course_id: str | None,
    *,
    built: dict[tuple[str | None, ...], PlannedAction],
) -> PlannedAction:
    """The action, validated once per distinct value: many plans share the same actions (the
    same course for the same gap), actions are immutable, and validating 100,000 of them
    would be most of the time of a large population."""
    key = (action_id, kind, competency, description, mentor, course_id)
    action = built.get(key)
    if action is None:
        action = built[key] = PlannedAction(
            action_id=action_id,
            kind=kind,
            competency=competency,
            description=description,
            mentor=mentor,
            course_id=course_id,
        )
    return action


def generate_plans(
    session_id: str,
    subjects: Iterable[PlanSubject],
    scores: Mapping[str, Mapping[str, float | None]],
    catalog: Iterable[Course],
    policy: PlanPolicy | None = None,
    mentor_loads: Mapping[str, int] | None = None,
) -> dict[str, DevelopmentPlan]:
    """Development plans for everyone with an open gap, by employee id (sorted).

    `scores` are the calibrated scores of the population per person and competency, for
    finding internal experts; they may include people who get no plan. Mentors are assigned
    in rounds over the whole population, one mentoring action per person per round (in
    `_order`), so scarce experts reach everyone's first mentoring action before anyone's
    second. Each assignment counts against the expert's cap: one expert mentoring one person
    on two competencies takes two of their places; `mentor_loads`, the mentees each expert
    has already, take theirs. Raises DuplicateSubject when a person is listed twice.
    """
    policy = policy or PlanPolicy()
    counts = split(policy.actions_per_plan)
    drafts: dict[str, _Draft] = {}
    for subject in subjects:
        if subject.employee_id in drafts:
            raise DuplicateSubject(subject.employee_id)
        open_gaps = sorted((g for g in subject.gaps if g.open), key=priority)
        # Kept even without open gaps until all are read, so a repeated id is always caught.
        drafts[subject.employee_id] = _Draft(subject, open_gaps, [])
    drafts = {e: d for e, d in drafts.items() if d.open_gaps}

    experts = _Experts(scores, policy, mentor_loads)
    order = _order(drafts.values(), session_id)
    for _ in range(counts["mentoring"]):
        for draft in order:
            if draft.mentors_exhausted:
                continue
            found = _find_mentor(draft, experts)
            if found is None:
                draft.mentors_exhausted = True
                continue
            experts.assign(found[1])
            draft.mentors.append(found)

    courses = _Catalog(catalog)
    built: dict[tuple[str | None, ...], PlannedAction] = {}
    return {
        employee_id: _plan(drafts[employee_id], session_id, counts, courses, policy, built)
        for employee_id in sorted(drafts)
    }
