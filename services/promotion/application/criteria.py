"""Promotion criteria versions (docs/domain.md §6): HR publishes them, earlier versions stay
as they were, and readiness is judged on the latest."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from services.promotion.application.ports import Acting, Work
from services.promotion.application.promotion import ACTOR, NotFound, Promotion, require
from services.promotion.domain.cases import CaseRefused
from services.promotion.domain.criteria import CriteriaSet


async def in_force(promotion: Promotion, tx: Work) -> CriteriaSet:
    """The latest version; the defaults of docs/domain.md §6 are recorded as version 1 the
    first time anything needs criteria, so that version 1 means the same thing forever."""
    published = await tx.records.criteria()
    if published is not None:
        return published.criteria
    default = CriteriaSet(version=1).model_dump(mode="json", exclude={"version"})
    return await tx.records.publish_criteria(default, ACTOR, promotion.clock())


async def criteria(promotion: Promotion, version: int | None = None) -> CriteriaSet:
    """The criteria in force, or a past version."""
    async with promotion.uow.transaction() as tx:
        if version is None:
            return await in_force(promotion, tx)
        published = await tx.records.criteria(version)
    if published is None:
        raise NotFound(f"no promotion criteria version {version}")
    return published.criteria


async def publish_criteria(
    promotion: Promotion, draft: dict[str, Any], actor: Acting
) -> CriteriaSet:
    """HR publishes a new criteria version; earlier versions stay as they were."""
    require(actor, "hr_admin", "publishing promotion criteria")
    numbered(draft, 1)  # the numbering comes later; refuse a set no number would make valid
    async with promotion.uow.transaction() as tx:
        await in_force(promotion, tx)
        return await tx.records.publish_criteria(draft, actor.subject, promotion.clock())


def numbered(draft: dict[str, Any], version: int) -> CriteriaSet:
    """The draft as version `version`, or what makes it invalid (422)."""
    try:
        return CriteriaSet.model_validate({**draft, "version": version})
    except ValidationError as error:
        raise CaseRefused(f"criteria refused: {error}") from None
