"""Gaps (docs/domain.md §5): target proficiency minus calibrated current proficiency, per
competency of the role profile. The gap, not the raw score, is the signal.

A competency nobody observed has no calibrated score, and no gap is claimed for it: claiming
the whole target as a gap would send people to training for what nobody looked at. It is
kept in the list with `gap=None`, so the plan and the views can say it was not assessed.
A competency the person exceeds has a negative gap: kept, since it shows strength (and
mentoring potential), but it is not something to close: a person's gap report lists it
among their strengths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from libs.events.schemas.framework import EffectiveRoleProfile, Framework, Nature, TrackKind


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

    @property
    def strength(self) -> bool:
        """Observed above the target."""
        size = self.size
        return size is not None and size < 0


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


def strengths(found: Iterable[Gap]) -> list[Gap]:
    """The competencies scored above their target, the widest margin first."""
    return sorted((g for g in found if g.strength), key=lambda g: (g.size or 0.0, g.competency))


def target_anchors(
    framework: Framework, family: str, track: TrackKind, found: Iterable[Gap]
) -> dict[str, str | None]:
    """Per gap's competency, the anchor sentence of its target level as a role of `family`
    on `track` reads it (the family's own wording, else the common one): what the target
    looks like. None when the framework words no anchor there."""
    texts: dict[str, str | None] = {}
    for g in found:
        competency = framework.competency(g.competency)
        anchor = None if competency is None else competency.anchor(track, g.target, family)
        texts[g.competency] = None if anchor is None else anchor.text
    return texts
