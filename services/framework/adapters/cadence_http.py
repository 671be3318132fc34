"""HTTP API of the framework cadence (docs/framework.md, Review and revision cadence) and of
standard terms (docs/framework.md, Standard terms).

`hr_admin` and `auditor` read each framework's cadence, and look competencies up by standard
term or map two frameworks by it; `hr_admin` alone records a review. Everything here is read
from published versions, which every caller may read: the routes are kept to HR's upkeep
and to oversight, not because the answers are secret.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from libs.platform.auth import Actor, CurrentActor, HrAdmin, require_any_role
from libs.platform.edge import MAX_INTEGER
from libs.platform.pagination import Page, Paged
from services.framework.adapters.http import FRAMEWORK_ID, FrameworkId, VersionNumber
from services.framework.application.cadence import FrameworkCadence, NotLatest, NotPublished
from services.framework.application.standard_terms import (
    FrameworkMapping,
    StandardTerms,
    TermFound,
    UnknownVersion,
)
from services.framework.domain.cadence import Cadence
from services.framework.domain.drafting import FrameworkError

READERS = ("hr_admin", "auditor")

router = APIRouter(tags=["framework upkeep"])


def _reader(actor: CurrentActor) -> Actor:
    """HR or an auditor (403 otherwise)."""
    require_any_role(actor, *READERS)
    return actor


Reader = Annotated[Actor, Depends(_reader)]
Term = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        pattern=r"\S",
        description="the standard term; case and runs of white space are ignored",
    ),
]


def _cadence(request: Request) -> FrameworkCadence:
    return request.app.state.framework_cadence


def _terms(request: Request) -> StandardTerms:
    return request.app.state.standard_terms


class ReviewRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(
        ge=1, le=MAX_INTEGER, description="the version reviewed: the latest published"
    )


@router.get("/framework-cadence", response_model=Page[Cadence])
async def cadences(actor: Reader, page: Paged, request: Request) -> Page[Cadence]:
    """Every published framework's cadence: last review and major revision, when each is due
    and whether it is, and whether the framework is at risk."""
    return page.of(await _cadence(request).states(), key=lambda c: c.framework_id)


@router.get("/frameworks/{framework_id}/cadence", response_model=Cadence)
async def framework_cadence(framework_id: FrameworkId, actor: Reader, request: Request) -> Cadence:
    """One framework's cadence (404 before its first version)."""
    return await _cadence(request).state(framework_id)


@router.post("/frameworks/{framework_id}/reviews", status_code=201, response_model=Cadence)
async def record_review(
    framework_id: FrameworkId, body: ReviewRecord, actor: HrAdmin, request: Request
) -> Cadence:
    """Record that the latest version was reviewed and nothing needs changing (a version
    published counts as a review by itself); 409 when `version` is not the latest."""
    return await _cadence(request).record_review(framework_id, body.version, actor.subject)


@router.get("/competencies", response_model=Page[TermFound])
async def competencies_by_standard_term(
    standard_term: Term, actor: Reader, page: Paged, request: Request
) -> Page[TermFound]:
    """The competencies mapped to a standard term in every framework's latest published
    version, by framework."""
    found = await _terms(request).lookup(standard_term)
    return page.of(found, key=lambda f: [f.framework_id, f.competency])


@router.get("/frameworks/{framework_id}/standard-term-mapping", response_model=FrameworkMapping)
async def standard_term_mapping(
    framework_id: FrameworkId,
    other: Annotated[str, Query(pattern=FRAMEWORK_ID, description="the other framework's id")],
    actor: Reader,
    request: Request,
    version: VersionNumber = None,
    other_version: VersionNumber = None,
) -> FrameworkMapping:
    """This framework's competencies matched to another's by standard term (the latest
    published versions unless numbered): the matches, and what each side leaves unmatched."""
    return await _terms(request).mapping(framework_id, version, other, other_version)


STATUS: dict[type[FrameworkError], int] = {NotPublished: 404, UnknownVersion: 404, NotLatest: 409}


def install(api: FastAPI) -> None:
    api.include_router(router)

    async def _refused(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse(status_code=STATUS[type(error)], content={"detail": str(error)})

    for error in STATUS:
        api.add_exception_handler(error, _refused)
