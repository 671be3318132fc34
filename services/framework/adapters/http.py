"""HTTP API of the framework service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from libs.events.schemas.framework import FrameworkPublished
from libs.platform.auth import CurrentActor, require_role
from libs.platform.runtime import Runtime, not_found
from services.framework.application import publishing
from services.framework.domain.publication import FrameworkDraft, PublicationRefused

router = APIRouter(prefix="/frameworks", tags=["frameworks"])
FrameworkId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="slug")]


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


@router.post("/{framework_id}/versions", status_code=201, response_model=FrameworkPublished)
async def publish_version(
    framework_id: FrameworkId, draft: FrameworkDraft, actor: CurrentActor, request: Request
) -> FrameworkPublished:
    """Publish the next immutable version of a framework (hr_admin)."""
    require_role(actor, "hr_admin")
    store = _runtime(request).store
    try:
        recorded = await publishing.publish(store, framework_id, draft, actor.subject)
    except PublicationRefused as refused:
        raise HTTPException(
            422, detail={"message": str(refused), "problems": refused.problems}
        ) from None
    event = store.decode(recorded)
    assert isinstance(event, FrameworkPublished)
    return event


@router.get("/{framework_id}/versions", response_model=list[FrameworkPublished])
async def list_versions(
    framework_id: FrameworkId, actor: CurrentActor, request: Request
) -> list[FrameworkPublished]:
    """Every published version, oldest first."""
    _, versions = await publishing.load(_runtime(request).store, framework_id)
    if not versions:
        raise not_found(f"framework {framework_id!r}")
    return versions
