"""Criteria before they are used (docs/domain.md §6): HR tries a criteria document on the
latest calibrated population before publishing it. Nothing is recorded: the document is the
one `publish_criteria` would take, and it stays a draft only in HR's hands."""

from __future__ import annotations

from typing import Any

from libs.events.schemas.framework import EffectiveRoleProfile
from services.promotion.application.criteria import in_force, numbered
from services.promotion.application.ports import Acting
from services.promotion.application.promotion import NotFound, Promotion, require
from services.promotion.application.readiness import framework_at
from services.promotion.domain.cases import CaseRefused, WrongState
from services.promotion.domain.criteria_preview import (
    CriteriaPreview,
    Position,
    PreviewRefused,
    Scored,
    preview,
    targets,
)


async def preview_criteria(
    promotion: Promotion,
    draft: dict[str, Any],
    actor: Acting,
    *,
    attribute: str | None = None,
    session_id: str | None = None,
) -> CriteriaPreview:
    """How many people of the calibration session (default: the newest) the draft and the
    version in force find ready for their next level, per move and per group of the
    protected attribute (hr_admin)."""
    require(actor, "hr_admin", "previewing promotion criteria")
    numbered(draft, 1)  # refused before anything is read
    # A transaction, not a read: the first use of criteria records the defaults as version 1.
    async with promotion.uow.transaction() as tx:
        current = await in_force(promotion, tx)
        candidate = numbered(draft, current.version + 1)
        calibrated = await tx.records.population(session_id)
        if not calibrated:
            if session_id is not None:
                raise NotFound(f"no calibration session {session_id!r} has reached the service")
            raise WrongState(
                "no calibration has reached the promotion service yet: a preview counts the "
                "people of the newest calibration session"
            )
        scores = calibrated[0].scores
        framework = await framework_at(tx, scores.framework_id, scores.framework_version)
        population = [Scored(scores=c.scores, position=c.position) for c in calibrated]
        profiles: dict[Position, EffectiveRoleProfile] = {}
        for position in targets(framework, population):
            profile = await tx.frameworks.role_profile(
                scores.framework_id, scores.framework_version, position
            )
            if profile is not None:
                profiles[position] = profile
        groups = await tx.records.attribute(attribute) if attribute is not None else None
    try:
        return preview(
            candidate,
            current,
            framework,
            population,
            profiles,
            as_of=promotion.clock().date(),
            attribute=attribute,
            attributes=groups,
        )
    except PreviewRefused as error:
        raise CaseRefused(f"criteria refused for this population: {error}") from None
