"""Gaps (docs/domain.md §5): target proficiency minus calibrated current proficiency, per
competency of the role profile. The gap, not the raw score, is the signal.

A competency nobody observed has no calibrated score, and no gap is claimed for it: claiming
the whole target as a gap would send people to training for what nobody looked at. It is
kept in the list with `gap=None`, so the plan and the views can say it was not assessed.
A competency the person exceeds has a negative gap: kept, since it shows strength (and
mentoring potential), but it is not something to close.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from libs.events.schemas.framework import EffectiveRoleProfile, Nature


@dataclass(frozen=True, slots=True)
class Gap:
    competency: str
    nature: Nature
    target: int
    # The calibrated score; None when nobody observed the competency.
    current: float | None

    @property
    def size(self) -> float | None:
        """target - current; None when not observed."""
        return None if self.current is None else self.target - self.current

    @property
    def open(self) -> bool:
        """A gap to close: observed and below target."""
        size = self.size
        return size is not None and size > 0


def gaps(profile: EffectiveRoleProfile, scores: Mapping[str, float | None]) -> list[Gap]:
    """One gap per requirement of the profile that has a target, in the profile's order.

    `scores` are the calibrated scores per competency. Requirements added by deployment
    rules (core or level) count like the role's own: they are in the effective profile. A
    requirement without a score at all (not in the questionnaire) is not observed.
    """
    return [
        Gap(
            competency=r.competency,
            nature=r.nature,
            target=r.target,
            current=scores.get(r.competency),
        )
        for r in profile.requirements
        if r.target is not None
    ]


def priority(gap: Gap) -> tuple[float, int, str]:
    """Sort key: largest gaps first, behavioural before technical at equal size
    (docs/domain.md §5 via the issue: behavioural gaps weigh on every role), then by name."""
    return (-(gap.size or 0.0), 0 if gap.nature == "behavioural" else 1, gap.competency)
