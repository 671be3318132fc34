"""Criteria before they are used (docs/domain.md §6): how many people of a calibrated
population a draft criteria version would find ready for their next level, beside the same
figures for the version in force.

Each person is judged by `readiness.evaluate`, exactly as their own readiness would be, for
the next level of their track in the framework version their scores were calibrated under.
The rules are not restated here; the preview only chooses which of the results it can count:

- judged here: the calibrated average and the competency floor, which depend on the
  calibration alone;
- not judged here: time at level (counted from the org chart's level start, which the
  preview does not read), named scope evidence, manager endorsement and calibration
  confirmation (which belong to a case, and no case exists yet). Counting them as unmet
  would make every preview read "nobody is eligible", counting them as met would claim what
  nobody showed, so each target lists them by name instead and "eligible" means: meets
  every criterion judged here.

Per group of a protected attribute, the eligible share and its ratio to the share of the
group with the highest one follow the fairness report's rules (`fairness.group_rates`: the
four-fifths threshold, "undisclosed", and the minimum group size). A group below that size
is named without any figure: the preview is about people not yet considered for anything,
and a count of 2 or 3 eligible people would say how each of them scored.

People the population holds but no next level can be judged for are counted apart, by reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from typing import cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import EffectiveRoleProfile, Framework, TrackKind
from services.promotion.domain.criteria import (
    CriteriaSet,
    Transition,
    TransitionError,
    next_level,
)
from services.promotion.domain.fairness import (
    DEFAULT_MIN_GROUP_SIZE,
    FOUR_FIFTHS,
    group_rates,
)
from services.promotion.domain.readiness import (
    CalibratedScores,
    CriterionKind,
    Readiness,
    evaluate,
    target_competencies,
)

# What a calibration alone can show; every other criterion waits for a case.
JUDGED_HERE: frozenset[CriterionKind] = frozenset({"average", "competency_floor"})
NOT_JUDGED_HERE = (
    "time at the next level, scope evidence, endorsement and calibration confirmation are "
    "shown by a case and are not judged here: eligible means meeting every criterion the "
    "calibrated scores can show (the average and the competency floor)"
)

NO_POSITION = "no position recorded with the calibrated scores"
NO_NEXT_LEVEL = "no next level in their track in the framework version"
NO_PROFILE = "no role profile at the next level in the framework version"

Position = tuple[str, str, str]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scored(_Frozen):
    """One person of the calibrated population: their scores and the position they held."""

    scores: CalibratedScores
    position: Position | None


class TargetEligibility(_Frozen):
    """The people judged for one move, and how many meet what is judged here."""

    family: str
    track: TrackKind
    from_level: str
    to_level: str
    people: int = Field(ge=1)
    eligible: int = Field(ge=0)
    not_judged: tuple[str, ...] = Field(
        description="the criteria of this move that a case shows, not judged here"
    )


class GroupEligibility(_Frozen):
    """One group of the protected attribute; its figures are null when it is too small."""

    group: str
    too_small: bool = Field(description="fewer people than the minimum size: no figures")
    people: int | None
    eligible: int | None
    rate: float | None = Field(description="eligible / people")
    impact_ratio: float | None = Field(
        description="rate / reference rate; null when there is no reference or its rate is 0"
    )
    adverse_impact: bool = Field(description="judged and below the threshold")


class Eligibility(_Frozen):
    """What one criteria version finds in the population."""

    criteria_version: int | None = Field(description="null: the draft, not published")
    people: int = Field(ge=0, description="people judged for their next level")
    eligible: int = Field(ge=0)
    targets: tuple[TargetEligibility, ...]
    reference_group: str | None = Field(description="highest rate among the judged groups")
    groups: tuple[GroupEligibility, ...]


class CriteriaPreview(_Frozen):
    """A draft and the version in force, side by side, on one calibrated population."""

    session_id: str
    framework_id: str
    framework_version: int
    attribute: str | None
    threshold: float
    min_group_size: int
    judged: tuple[CriterionKind, ...]
    not_judged_here: str
    left_out: dict[str, int] = Field(description="people no next level was judged for, by why")
    draft: Eligibility
    in_force: Eligibility


class PreviewRefused(ValueError):
    """The criteria cannot judge this population (scores outside their scale)."""


def _move(framework: Framework, position: Position | None) -> Transition | str:
    """The person's move to the next level of their track, or why there is none."""
    if position is None:
        return NO_POSITION
    family, track, level = position
    if track not in get_args(TrackKind):
        return NO_NEXT_LEVEL
    try:
        return next_level(framework, family, cast(TrackKind, track), level)
    except TransitionError:
        return NO_NEXT_LEVEL


def targets(framework: Framework, population: Sequence[Scored]) -> set[Position]:
    """The positions whose role profiles the preview needs: everyone's next level."""
    moves = [_move(framework, p.position) for p in population]
    return {(t.target_family, t.to_track, t.to_level) for t in moves if isinstance(t, Transition)}


def _order(t: Transition) -> tuple[str, str, str, str]:
    return (t.family, t.from_track, t.from_level, t.to_level)


def _judged(readiness: Readiness) -> bool:
    return all(r.met for r in readiness.results if r.kind in JUDGED_HERE)


def _eligibility(
    criteria: CriteriaSet,
    judged: Sequence[tuple[Scored, Transition, list[str]]],
    attributes: Mapping[str, str | None] | None,
    as_of: date,
    min_group_size: int,
    version: int | None,
) -> Eligibility:
    by_target: dict[Transition, list[Readiness]] = {}
    for person, transition, required in judged:
        try:
            readiness = evaluate(
                criteria, transition, person.scores, required_competencies=required, as_of=as_of
            )
        except ValueError as error:
            raise PreviewRefused(str(error)) from None
        by_target.setdefault(transition, []).append(readiness)
    rows = [
        TargetEligibility(
            family=t.family,
            track=t.from_track,
            from_level=t.from_level,
            to_level=t.to_level,
            people=len(found),
            eligible=sum(_judged(r) for r in found),
            not_judged=tuple(r.name for r in found[0].results if r.kind not in JUDGED_HERE),
        )
        for t, found in sorted(by_target.items(), key=lambda item: _order(item[0]))
    ]
    eligible = {r.subject: _judged(r) for found in by_target.values() for r in found}
    reference, groups = (
        group_rates(eligible, attributes, min_group_size=min_group_size)
        if attributes is not None
        else (None, ())
    )
    return Eligibility(
        criteria_version=version,
        people=len(eligible),
        eligible=sum(eligible.values()),
        targets=tuple(rows),
        reference_group=reference,
        groups=tuple(
            GroupEligibility(
                group=g.group,
                too_small=g.too_small,
                people=None if g.too_small else g.considered,
                eligible=None if g.too_small else g.selected,
                rate=None if g.too_small else g.rate,
                impact_ratio=None if g.too_small else g.impact_ratio,
                adverse_impact=g.adverse_impact,
            )
            for g in groups
        ),
    )


def preview(
    draft: CriteriaSet,
    in_force: CriteriaSet,
    framework: Framework,
    population: Sequence[Scored],
    profiles: Mapping[Position, EffectiveRoleProfile],
    *,
    as_of: date,
    attribute: str | None = None,
    attributes: Mapping[str, str | None] | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> CriteriaPreview:
    """How many of `population` (one calibration session's subjects, scored under
    `framework`) meet the draft and the version in force for their next level, per move
    and, when `attributes` (each person's value of `attribute`) are given, per group.

    `profiles` are the effective role profiles of the targets (`targets`) in that framework
    version; a move whose profile is missing is left out. Raises PreviewRefused when the
    scores lie outside a criteria version's scale."""
    if not population:
        raise ValueError("a preview needs a calibrated population")
    first = population[0].scores
    left_out: Counter[str] = Counter()
    judged: list[tuple[Scored, Transition, list[str]]] = []
    for person in population:
        move = _move(framework, person.position)
        if not isinstance(move, Transition):
            left_out[move] += 1
            continue
        profile = profiles.get((move.target_family, move.to_track, move.to_level))
        if profile is None:
            left_out[NO_PROFILE] += 1
            continue
        judged.append((person, move, target_competencies(profile, move)))
    groups = None if attribute is None else dict(attributes or {})
    return CriteriaPreview(
        session_id=first.session_id,
        framework_id=first.framework_id,
        framework_version=first.framework_version,
        attribute=attribute,
        threshold=FOUR_FIFTHS,
        min_group_size=min_group_size,
        judged=tuple(sorted(JUDGED_HERE)),
        not_judged_here=NOT_JUDGED_HERE,
        left_out=dict(sorted(left_out.items())),
        draft=_eligibility(draft, judged, groups, as_of, min_group_size, None),
        in_force=_eligibility(in_force, judged, groups, as_of, min_group_size, in_force.version),
    )
