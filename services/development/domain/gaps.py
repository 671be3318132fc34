"""Gaps (docs/domain.md §5): target proficiency minus calibrated current proficiency, per
competency of the role profile, or per sub-skill of a competency assessed per sub-skill. The
gap, not the raw score, is the signal.

A sub-skill's target is its competency's target in the role profile: a role profile sets
targets per competency, and each observable behaviour under it is expected at that level.
Reports that are per competency (the heatmap, the catalog coverage) roll a person's
sub-skill gaps up into one competency gap (`per_competency`), as calibration rolls up the
scores.

A competency nobody observed has no calibrated score, and no gap is claimed for it: claiming
the whole target as a gap would send people to training for what nobody looked at. It is
kept in the list with `gap=None`, so the plan and the views can say it was not assessed.
A competency the person exceeds has a negative gap: kept, since it shows strength (and
mentoring potential), but it is not something to close: a person's gap report lists it
among their strengths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from libs.events.schemas.assessment import score_key
from libs.events.schemas.framework import EffectiveRoleProfile, Framework, Nature, TrackKind


@dataclass(frozen=True, slots=True)
class Gap:
    competency: str
    nature: Nature
    target: int
    # The calibrated score; None when nobody observed the competency.
    current: float | None
    # The sub-skill, for a competency assessed per sub-skill: one gap per sub-skill.
    sub_skill: str | None = None

    @property
    def key(self) -> str:
        """What the gap is on: the competency, or `competency/sub-skill`."""
        return score_key(self.competency, self.sub_skill)

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
    """One gap per requirement of the profile that has a target, in the profile's order; one
    per sub-skill, against the competency's target, for a competency scored per sub-skill.

    `scores` are the calibrated scores per competency and per sub-skill (keyed
    `competency/sub-skill`, as CalibrationCompleted carries them). Requirements added by
    deployment rules (core or level) count like the role's own: they are in the effective
    profile. A requirement without a score at all (not in the questionnaire) is not observed.
    """
    sub_skills: dict[str, list[tuple[str, float | None]]] = {}
    for key, score in scores.items():
        competency, slash, sub_skill = key.partition("/")
        if slash:
            sub_skills.setdefault(competency, []).append((sub_skill, score))
    found: list[Gap] = []
    for r in profile.requirements:
        if r.target is None:
            continue
        asked = sub_skills.get(r.competency)
        if asked:
            found += [
                Gap(r.competency, r.nature, r.target, score, sub_skill)
                for sub_skill, score in asked
            ]
        else:
            found.append(Gap(r.competency, r.nature, r.target, scores.get(r.competency)))
    return found


def stored_gap(key: str, nature: Nature, target: int, current: float | None) -> Gap:
    """A gap as recorded under its key (`Gap.key`)."""
    competency, _, sub_skill = key.partition("/")
    return Gap(competency, nature, target, current, sub_skill or None)


def per_competency(found: Iterable[Gap]) -> list[Gap]:
    """One person's gaps with each competency's sub-skill gaps rolled up into one gap on the
    competency, in the order first met: its current score the mean of its sub-skills'
    scores that have one, unscored when none has (docs/domain.md §4, Roll-up), against the
    competency's target. Gaps on whole competencies pass as they are."""
    rolled: dict[str, Gap] = {}
    scored: dict[str, list[float]] = {}
    for gap in found:
        if gap.sub_skill is None:
            rolled[gap.competency] = gap
            continue
        scores = scored.setdefault(gap.competency, [])
        if gap.current is not None:
            scores.append(gap.current)
        rolled.setdefault(gap.competency, Gap(gap.competency, gap.nature, gap.target, None))
    return [
        replace(gap, current=sum(s) / len(s)) if (s := scored.get(competency)) else gap
        for competency, gap in rolled.items()
    ]


def priority(gap: Gap) -> tuple[float, int, str]:
    """Sort key: largest gaps first, behavioural before technical at equal size
    (docs/domain.md §5 via the issue: behavioural gaps weigh on every role), then by name."""
    return (-(gap.size or 0.0), 0 if gap.nature == "behavioural" else 1, gap.key)


def strengths(found: Iterable[Gap]) -> list[Gap]:
    """The competencies (or sub-skills) scored above their target, the widest margin first."""
    return sorted((g for g in found if g.strength), key=lambda g: (g.size or 0.0, g.key))


def target_anchors(
    framework: Framework, family: str, track: TrackKind, found: Iterable[Gap]
) -> dict[str, str | None]:
    """Per gap's key, the anchor sentence of its target level as a role of `family` on
    `track` reads it (the family's own wording, else the common one): what the target looks
    like. None when the framework words no anchor there."""
    return {g.key: _target_anchor(framework, family, track, g) for g in found}


def _target_anchor(framework: Framework, family: str, track: TrackKind, gap: Gap) -> str | None:
    """A sub-skill's gap reads its sub-skill's own anchor, falling back to the competency's
    where the sub-skill has none at that level (docs/domain.md §2, Granularity)."""
    competency = framework.competency(gap.competency)
    if competency is None:
        return None
    sub_skill = None if gap.sub_skill is None else competency.sub_skill(gap.sub_skill)
    anchor = None if sub_skill is None else sub_skill.anchor(track, gap.target, family)
    anchor = anchor or competency.anchor(track, gap.target, family)
    return None if anchor is None else anchor.text
