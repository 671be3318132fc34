"""A calibrated population as the promotion service's counts of one judge it (the criteria
preview, the readiness pipeline): people scored in session s1 of the sample framework
(tests/support/sample_frameworks.py), and the role profiles of its positions."""

from __future__ import annotations

from libs.events.schemas.framework import EffectiveRoleProfile
from services.framework.domain.profiles import effective_profiles
from services.promotion.domain.criteria_preview import Position, Scored
from services.promotion.domain.readiness import CalibratedScores
from tests.support.sample_frameworks import valid_framework

FRAMEWORK = valid_framework()
# Scores are given in this order: what L2 -> L3 and L3 -> L4 are judged on.
KEYS = ("coding", "testing", "collaboration", "ownership", "communication")
UNCHANGED = object()


def scored(
    who: str,
    scores: tuple[float | None, ...],
    level: str | None = "L3",
    track: str = "ic",
    *,
    now: object = UNCHANGED,
    left: bool = False,
) -> Scored:
    """A person calibrated at `level`; the org chart holds them there today unless `now`
    says otherwise (None: it does not know them)."""
    position = None if level is None else ("eng", track, level)
    return Scored(
        scores=CalibratedScores(
            session_id="s1",
            framework_id="eng",
            framework_version=1,
            subject=who,
            scores=dict(zip(KEYS, scores, strict=True)),
        ),
        position=position,
        now=position if now is UNCHANGED else now,  # type: ignore[arg-type]
        left=left,
    )


def profiles() -> dict[Position, EffectiveRoleProfile]:
    """Every role profile of the sample framework, by position."""
    return {(p.family, p.track, p.level): p for p in effective_profiles(FRAMEWORK).values()}
