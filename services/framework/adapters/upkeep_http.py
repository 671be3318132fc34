"""HTTP API of the framework's upkeep (docs/framework.md, Upkeep): the revision items
calibrations raised on its anchors, and the health report after a cycle (hr_admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request

from libs.platform.auth import HrAdmin
from libs.platform.edge import MAX_INTEGER
from libs.platform.pagination import Page, Paged
from services.framework.adapters.http import FRAMEWORK_ID, FrameworkId
from services.framework.application.upkeep import NoFindings, Upkeep
from services.framework.domain.upkeep import HealthReport, RevisionItem

router = APIRouter(prefix="/frameworks/{framework_id}", tags=["upkeep"])


def _upkeep(request: Request) -> Upkeep:
    found: Upkeep = request.app.state.upkeep
    return found


@router.get("/revision-items", response_model=Page[RevisionItem])
async def revision_items(
    framework_id: FrameworkId,
    actor: HrAdmin,
    page: Paged,
    request: Request,
    state: Literal["open", "resolved", "all"] = "all",
    resolved_in: Annotated[
        int | None,
        Query(ge=1, le=MAX_INTEGER, description="only the items this version resolved"),
    ] = None,
) -> Page[RevisionItem]:
    """What calibrations found on the framework's anchors, open first and worst first; an
    item is resolved by the first later version that rewords its anchor."""
    items = [
        i
        for i in await _upkeep(request).revision_items(framework_id)
        if (state == "all" or (state == "open") == (i.resolved_in_version is None))
        and (resolved_in is None or i.resolved_in_version == resolved_in)
    ]
    return page.of(items, key=lambda i: i.key)


@router.get("/health", response_model=HealthReport)
async def health(
    framework_id: FrameworkId,
    actor: HrAdmin,
    request: Request,
    campaign_id: Annotated[
        str | None,
        Query(pattern=FRAMEWORK_ID, description="the cycle's campaign; default: the latest"),
    ] = None,
) -> HealthReport:
    """How the framework served a cycle: the share of its anchors revised since (against the
    10-20% guidance), competencies with no useful gap data, competencies raters marked not
    relevant per role, and the open and resolved revision items."""
    try:
        return await _upkeep(request).health(framework_id, campaign_id)
    except NoFindings as error:
        raise HTTPException(404, str(error)) from error


def install(api: FastAPI) -> None:
    api.include_router(router)
