"""Fairness monitoring: promotion rates per group and the adverse-impact ratio, per cycle.

docs/domain.md §6 (legal context): Title VII covers promotions, and disparate impact is judged on
selection rates. The four-fifths rule (US Uniform Guidelines on Employee Selection Procedures)
flags a group whose selection rate is below four fifths of the rate of the group with the
highest rate. This module computes it from decisions and an optional, separately protected
attribute the HRIS supplies.

Choices:

- Selected means approved. A deferral counts as considered and not selected: the person was
  up for promotion in that cycle and was not promoted. Leaving deferrals out would let a group
  that is deferred rather than denied keep a high rate, hiding exactly the pattern to watch.
- Lateral moves (docs/domain.md §6, Lateral moves) are reported apart from promotions, each
  cycle's rates once per kind of move: a lateral move keeps the grade, so counting its
  approvals as promotions would lift a group's promotion rate with moves that promote nobody.
  Promotions are every other move (to the next level, a crossover, back to IC), as before.
- One decision counts per person, cycle and kind of move: the last one given (an appeal
  outcome replaces the decision it appealed).
- A person with no value for the attribute (none supplied, not known, blank) is counted in
  the "undisclosed" group, never dropped: dropping them would change every rate. So is a person
  whose value was erased.
- Groups with fewer than `min_group_size` people considered (default 5) are reported with their
  rate but marked too small to judge: they are never flagged and never serve as the reference,
  since one person's outcome would swing the rate by 20 points or more. The reference is the
  highest rate among the groups large enough to judge; "undisclosed" takes part like any group.
  When no group is large enough, or the reference rate is 0 (nobody promoted), no ratio exists.
- Ratios are computed on exact fractions and flagged when strictly below the threshold, so a
  ratio of exactly 0.8 is not flagged.
- Outputs name groups only, never people. They are for `hr_admin` and `auditor` (the issue):
  with small groups a rate can still reveal an outcome, which is why access stays restricted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.promotion import Move
from services.promotion.domain.criteria import kind_of
from services.promotion.domain.decision_log import ERASED

UNDISCLOSED = "undisclosed"
FOUR_FIFTHS = 0.8
DEFAULT_MIN_GROUP_SIZE = 5

Outcome = Literal["approve", "deny", "defer"]
MoveKind = Literal["promotion", "lateral"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Decision(_Frozen):
    """A promotion decision as fairness monitoring sees it."""

    person: str = Field(min_length=1)
    cycle: str = Field(min_length=1)
    outcome: Outcome
    move_kind: MoveKind = "promotion"


def move_kind_of(move: Move) -> MoveKind:
    """The kind of move a decision counts under: lateral, or else a promotion."""
    return "lateral" if kind_of(move) == "lateral" else "promotion"


class GroupRate(_Frozen):
    """One group's selection rate in one cycle, against the reference group."""

    group: str
    considered: int = Field(ge=1, description="people with a decision in the cycle")
    selected: int = Field(ge=0, description="of them, approved")
    rate: float = Field(ge=0, le=1)
    impact_ratio: float | None = Field(
        description="rate / reference rate; null when there is no reference or its rate is 0"
    )
    adverse_impact: bool = Field(description="judged and below the threshold")
    too_small: bool = Field(description="fewer people than the minimum size: not judged")


class CycleFairness(_Frozen):
    cycle: str
    move_kind: MoveKind = Field(
        description="the decisions the rates are about: promotions, or lateral moves, "
        "reported apart"
    )
    reference_group: str | None = Field(description="highest rate among the judged groups")
    threshold: float
    min_group_size: int
    groups: tuple[GroupRate, ...]

    @property
    def flagged(self) -> list[str]:
        return [g.group for g in self.groups if g.adverse_impact]


def _group(value: str | None) -> str:
    # An erased value (docs/privacy.md, Requests) is no longer disclosed.
    group = (value or "").strip()
    return UNDISCLOSED if group in ("", ERASED) else group


def group_rates(
    selected: Mapping[str, bool],
    attributes: Mapping[str, str | None],
    *,
    threshold: float = FOUR_FIFTHS,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> tuple[str | None, tuple[GroupRate, ...]]:
    """Each group's selection rate and impact ratio, by the rules above, for people each
    selected or not; and the reference group (None when there is no ratio)."""
    exact = Fraction(str(threshold))
    considered: dict[str, int] = {}
    chosen: dict[str, int] = {}
    for person, was_selected in selected.items():
        group = _group(attributes.get(person))
        considered[group] = considered.get(group, 0) + 1
        chosen[group] = chosen.get(group, 0) + was_selected
    rates = {g: Fraction(chosen[g], considered[g]) for g in considered}
    judged = [g for g in rates if considered[g] >= min_group_size]
    # Highest rate first; ties go to the larger group, then the label, for a stable answer.
    reference = min(judged, key=lambda g: (-rates[g], -considered[g], g), default=None)
    best = rates[reference] if reference is not None else Fraction(0)
    groups = []
    for g in sorted(rates):
        ratio = rates[g] / best if best > 0 else None
        too_small = considered[g] < min_group_size
        groups.append(
            GroupRate(
                group=g,
                considered=considered[g],
                selected=chosen[g],
                rate=float(rates[g]),
                impact_ratio=None if ratio is None else float(ratio),
                adverse_impact=not too_small and ratio is not None and ratio < exact,
                too_small=too_small,
            )
        )
    return (reference if best > 0 else None), tuple(groups)


def adverse_impact(
    decisions: Iterable[Decision],
    attributes: Mapping[str, str | None] | None = None,
    *,
    threshold: float = FOUR_FIFTHS,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> list[CycleFairness]:
    """Selection rates and adverse-impact ratios per group, one entry per cycle and kind of
    move (by cycle, promotions before lateral moves).

    `attributes` maps a person to their group for the protected attribute, or None; without
    it everyone is "undisclosed".
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold {threshold} must be in (0, 1]")
    if min_group_size < 1:
        raise ValueError(f"min_group_size {min_group_size} must be at least 1")
    by_cycle: dict[tuple[str, MoveKind], dict[str, bool]] = {}
    for d in decisions:
        by_cycle.setdefault((d.cycle, d.move_kind), {})[d.person] = d.outcome == "approve"
    fairness = []
    for cycle, move_kind in sorted(by_cycle, key=lambda c: (c[0], c[1] == "lateral")):
        reference, groups = group_rates(
            by_cycle[(cycle, move_kind)],
            attributes or {},
            threshold=threshold,
            min_group_size=min_group_size,
        )
        fairness.append(
            CycleFairness(
                cycle=cycle,
                move_kind=move_kind,
                reference_group=reference,
                threshold=threshold,
                min_group_size=min_group_size,
                groups=groups,
            )
        )
    return fairness
