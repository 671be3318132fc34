"""Criteria before they are used (docs/domain.md §6): how many people of a calibrated
population a draft criteria version would find ready for their next level, beside the same
figures for the version in force.

Each person is judged by `readiness.evaluate`, exactly as their own readiness would be, for
the next level of their track in the framework version their scores were calibrated under.
The rules are not restated here; the preview only chooses which of the results it can count:

- judged here: the calibrated average and the competency floor, which depend on the
  calibration alone;
- not judged here: time at level (whole quarters from the level start the HRIS gives for the
  person's current level, which depends on the day a case is judged), named scope evidence,
  manager endorsement and calibration confirmation (which belong to a case, and no case
  exists yet). Counting them as unmet would make every preview read "nobody is eligible",
  counting them as met would claim what nobody showed, so each target lists them by name
  instead and "eligible" means: meets every criterion judged here.

The population is the people the session scored who are still employed in the same
position: the org chart today decides. Someone who has left, whom the org chart does not
hold, or whom the HRIS has moved since the calibration (their scores judged a position they
no longer hold) is counted apart in `left_out`, by reason, as is anyone with no next level.

Privacy. HR knows every calibrated score and may try any draft, so any per-group figure of a
draft can be differenced: two drafts that differ only in whether one named person is
eligible change the figures of that person's group, and so reveal their protected
attribute. Hence, with k the fairness report's minimum group size:

- a move of fewer than k people shows no counts;
- group figures are per move, and a move shows them only when every group of it holds at
  least k eligible and at least k not eligible people under the version in force; otherwise
  none of its groups is named (one fixed reason, whichever group failed), so no group can
  be recovered as the move's figure minus the groups shown;
- a group's figures are its eligible share rounded to `SHARE_STEP` and the four-fifths flag,
  never counts or group sizes;
- a draft shows no group figures at all. Rounding does not blunt the attack: the smallest
  group shown holds 2k people, so at k = 5 a share to the nearest 0.1 moves by exactly one
  step for each person who flips, and whether a move's groups are shown or withheld would
  flip as well. The version in force cannot be chosen freely (publishing it is recorded and
  applies to everyone), so its figures are the ones shown.

Version totals add up the moves shown only, so a withheld move is not their difference.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from fractions import Fraction
from typing import cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import PrivateEvent, registry
from libs.events.schemas.framework import EffectiveRoleProfile, Framework, TrackKind
from services.promotion.domain.criteria import (
    CriteriaSet,
    Transition,
    TransitionError,
    next_level,
)
from services.promotion.domain.decision_log import canonical
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
    "time at level (whole quarters since the level start the HRIS gives for the person's "
    "current level, counted on the day a case is judged), scope evidence, endorsement and "
    "calibration confirmation are shown by a case and are not judged here: eligible means "
    "meeting every criterion the calibrated scores can show (the average and the "
    "competency floor)"
)
# Group shares are rounded to this step (docs/promotion.md, Previewing criteria).
SHARE_STEP = Fraction(1, 10)

NO_POSITION = "no position recorded with the calibrated scores"
NO_NEXT_LEVEL = "no next level in their track in the framework version"
NO_PROFILE = "no role profile at the next level in the framework version"
LEFT = "left the company since the calibration"
NOT_IN_ORG_CHART = "not in the org chart: their current position is unknown"
MOVED = "moved to another position since the calibration"

DRAFT_GROUPS_WITHHELD = (
    "a draft shows no group figures: drafts differing in one person's eligibility would "
    "reveal that person's group"
)

Position = tuple[str, str, str]


def too_few_people(k: int) -> str:
    return f"fewer than {k} people at this move"


def too_few_per_group(k: int) -> str:
    return f"a group of this move has fewer than {k} eligible or fewer than {k} not eligible"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scored(_Frozen):
    """One person of the calibrated population: their scores, the position they held when
    calibrated, and what the org chart says of them today."""

    scores: CalibratedScores
    position: Position | None
    now: Position | None = Field(description="their position in the org chart; None: unknown")
    left: bool = Field(False, description="the org chart records them as gone")


class GroupShare(_Frozen):
    """One group of the protected attribute at one move, in the coarse form shown."""

    group: str
    share: float = Field(
        ge=0, le=1, description="eligible / people, to the nearest 0.1 (halves to even)"
    )
    adverse_impact: bool = Field(description="below four fifths of the highest group's share")


class TargetEligibility(_Frozen):
    """The people judged for one move, and how many meet what is judged here."""

    family: str
    track: TrackKind
    from_level: str
    to_level: str
    people: int | None = Field(description="null: too few people to show")
    eligible: int | None
    withheld: str | None = Field(description="why the counts are not shown")
    not_judged: tuple[str, ...] = Field(
        description="the criteria of this move that a case shows, not judged here"
    )
    groups: tuple[GroupShare, ...] = Field(description="empty when asked for no attribute")
    groups_withheld: str | None = Field(description="why no group of this move is shown")


class Eligibility(_Frozen):
    """What one criteria version finds in the population."""

    criteria_version: int | None = Field(description="null: the draft, not published")
    people: int = Field(ge=0, description="people judged at the moves shown")
    eligible: int = Field(ge=0)
    moves_withheld: int = Field(ge=0, description="moves too small to show, not in the totals")
    targets: tuple[TargetEligibility, ...]


class CriteriaPreview(_Frozen):
    """A draft and the version in force, side by side, on one calibrated population."""

    session_id: str
    framework_id: str
    framework_version: int
    attribute: str | None
    threshold: float
    min_group_size: int
    share_step: float
    judged: tuple[CriterionKind, ...]
    not_judged_here: str
    left_out: dict[str, int] = Field(description="people not judged, by why")
    draft: Eligibility
    in_force: Eligibility


@registry.event
class CriteriaPreviewed(PrivateEvent):
    """HR previewed a criteria draft (docs/domain.md §6): who, which draft (by hash), on
    which session and protected attribute. Kept in the service's own log for auditors,
    never published; it holds neither the figures nor anything about a person."""

    event_type = "CriteriaPreviewed"
    context = "promotion"
    schema_version = 1

    previewed_by: str
    draft_hash: str = Field(description="`draft_hash` of the draft as a version would hold it")
    in_force_version: int
    session_id: str
    attribute: str | None


class PreviewRefused(ValueError):
    """The criteria cannot judge this population (scores outside their scale)."""


def draft_hash(draft: CriteriaSet) -> str:
    """SHA-256 (hex) of the draft's canonical JSON without its version number: the same
    document hashes the same however it was written, and once published it matches the
    version it became."""
    return hashlib.sha256(canonical(draft.model_dump(mode="json", exclude={"version"}))).hexdigest()


def _move(framework: Framework, person: Scored) -> Transition | str:
    """The person's move to the next level of their track, or why none is judged."""
    if person.left:
        return LEFT
    if person.position is None:
        return NO_POSITION
    if person.now is None:
        return NOT_IN_ORG_CHART
    if person.now != person.position:
        return MOVED
    family, track, level = person.position
    if track not in get_args(TrackKind):
        return NO_NEXT_LEVEL
    try:
        return next_level(framework, family, cast(TrackKind, track), level)
    except TransitionError:
        return NO_NEXT_LEVEL


def judged_move(
    framework: Framework, person: Scored, profiles: Mapping[Position, EffectiveRoleProfile]
) -> tuple[Transition, list[str]] | str:
    """The person's move to the next level of their track and the competencies it is judged
    on (`profiles`: the role profiles of `targets`), or why they are not judged. The one
    choice of who is judged, shared by every count of a calibrated population."""
    move = _move(framework, person)
    if not isinstance(move, Transition):
        return move
    profile = profiles.get((move.target_family, move.to_track, move.to_level))
    if profile is None:
        return NO_PROFILE
    return move, target_competencies(profile, move)


def targets(framework: Framework, population: Sequence[Scored]) -> set[Position]:
    """The positions whose role profiles the preview needs: everyone's next level."""
    moves = [_move(framework, p) for p in population]
    return {(t.target_family, t.to_track, t.to_level) for t in moves if isinstance(t, Transition)}


def _order(t: Transition) -> tuple[str, str, str, str]:
    return (t.family, t.from_track, t.from_level, t.to_level)


def _judged(readiness: Readiness) -> bool:
    return all(r.met for r in readiness.results if r.kind in JUDGED_HERE)


def _rounded(share: Fraction) -> float:
    return float(round(share / SHARE_STEP) * SHARE_STEP)


def _groups(
    eligible: Mapping[str, bool],
    attributes: Mapping[str, str | None] | None,
    k: int,
    draft: bool,
) -> tuple[tuple[GroupShare, ...], str | None]:
    """One move's group figures, or why none is shown."""
    if attributes is None:
        return (), None
    if draft:
        return (), DRAFT_GROUPS_WITHHELD
    if len(eligible) < k:
        return (), too_few_people(k)
    _, groups = group_rates(eligible, attributes, min_group_size=k)
    if any(g.selected < k or g.considered - g.selected < k for g in groups):
        return (), too_few_per_group(k)
    shown = tuple(
        GroupShare(
            group=g.group,
            share=_rounded(Fraction(g.selected, g.considered)),
            adverse_impact=g.adverse_impact,
        )
        for g in groups
    )
    return shown, None


def _eligibility(
    criteria: CriteriaSet,
    judged: Sequence[tuple[Scored, Transition, list[str]]],
    attributes: Mapping[str, str | None] | None,
    as_of: date,
    k: int,
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
    rows = []
    for t, found in sorted(by_target.items(), key=lambda item: _order(item[0])):
        eligible = {r.subject: _judged(r) for r in found}
        shown = len(found) >= k
        groups, groups_withheld = _groups(eligible, attributes, k, draft=version is None)
        rows.append(
            TargetEligibility(
                family=t.family,
                track=t.from_track,
                from_level=t.from_level,
                to_level=t.to_level,
                people=len(found) if shown else None,
                eligible=sum(eligible.values()) if shown else None,
                withheld=None if shown else too_few_people(k),
                not_judged=tuple(r.name for r in found[0].results if r.kind not in JUDGED_HERE),
                groups=groups,
                groups_withheld=groups_withheld,
            )
        )
    return Eligibility(
        criteria_version=version,
        people=sum(r.people or 0 for r in rows),
        eligible=sum(r.eligible or 0 for r in rows),
        moves_withheld=sum(r.people is None for r in rows),
        targets=tuple(rows),
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
    and, when `attributes` (each person's value of `attribute`) are given, per group as far
    as the rules above let it be shown.

    `profiles` are the effective role profiles of the targets (`targets`) in that framework
    version; a move whose profile is missing is left out. Raises PreviewRefused when the
    scores lie outside a criteria version's scale."""
    if not population:
        raise ValueError("a preview needs a calibrated population")
    if min_group_size < 1:
        raise ValueError(f"min_group_size {min_group_size} must be at least 1")
    first = population[0].scores
    left_out: Counter[str] = Counter()
    judged: list[tuple[Scored, Transition, list[str]]] = []
    for person in population:
        move = judged_move(framework, person, profiles)
        if isinstance(move, str):
            left_out[move] += 1
            continue
        judged.append((person, *move))
    groups = None if attribute is None else dict(attributes or {})
    return CriteriaPreview(
        session_id=first.session_id,
        framework_id=first.framework_id,
        framework_version=first.framework_version,
        attribute=attribute,
        threshold=FOUR_FIFTHS,
        min_group_size=min_group_size,
        share_step=float(SHARE_STEP),
        judged=tuple(sorted(JUDGED_HERE)),
        not_judged_here=NOT_JUDGED_HERE,
        left_out=dict(sorted(left_out.items())),
        draft=_eligibility(draft, judged, groups, as_of, min_group_size, None),
        in_force=_eligibility(in_force, judged, groups, as_of, min_group_size, in_force.version),
    )
