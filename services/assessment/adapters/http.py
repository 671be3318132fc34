"""HTTP API of the assessment service."""

from __future__ import annotations

from fastapi import APIRouter, Request

from libs.platform.auth import CurrentActor, require_role
from libs.platform.pagination import Page, Paged
from libs.platform.runtime import not_found
from libs.replicas.org_chart import OrgChart
from libs.replicas.people import Person

router = APIRouter(prefix="/org-chart", tags=["org chart"])


def _org_chart(request: Request) -> OrgChart:
    return request.app.state.org_chart


@router.get("/people/{employee_id}", response_model=Person)
async def person(employee_id: str, actor: CurrentActor, request: Request) -> Person:
    """One person as the HRIS last reported them (hr_admin)."""
    require_role(actor, "hr_admin")
    async with request.app.state.runtime.pool.connection() as conn:
        found = await _org_chart(request).person(conn, employee_id)
    if found is None:
        raise not_found(f"employee {employee_id!r}")
    return found


@router.get("/people/{employee_id}/reports", response_model=Page[Person])
async def reports(
    employee_id: str, actor: CurrentActor, page: Paged, request: Request
) -> Page[Person]:
    """A manager's current direct reports (hr_admin)."""
    require_role(actor, "hr_admin")
    async with request.app.state.runtime.pool.connection() as conn:
        found = await _org_chart(request).reports_of(conn, employee_id)
    return page.of(found, key=lambda p: p.employee_id)
