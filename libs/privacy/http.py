"""The route by which a service answers an access request about a person: everything it
holds of them, for a privacy officer (docs/privacy.md, Requests). The cycles API gathers
every service's answer; each service checks the caller itself."""

from __future__ import annotations

from fastapi import APIRouter

from libs.platform.access import Access, allow
from libs.platform.auth import CurrentActor, require_role
from libs.privacy.records import PersonalDataHolder, ServiceRecords
from libs.privacy.requests import ERASING_ROLE

ROUTE = "/privacy/people/{employee_id}"
ACCESS: dict[str, Access] = {f"GET {ROUTE}": allow(ERASING_ROLE)}
"""The route's rule, for the service's access table (libs/platform/access.py)."""


def records_router(service: str, holder: PersonalDataHolder) -> APIRouter:
    """`GET /privacy/people/{employee_id}`, answered by `holder`."""
    router = APIRouter(tags=["privacy"])

    @router.get(ROUTE, response_model=ServiceRecords)
    async def records_of(employee_id: str, actor: CurrentActor) -> ServiceRecords:
        """Everything this service holds about the person (privacy_officer); never who rated
        them."""
        require_role(actor, ERASING_ROLE)
        sections = await holder.records_of(employee_id)
        return ServiceRecords(service=service, employee_id=employee_id, sections=sections)

    return router
