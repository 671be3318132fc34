"""HTTP API of the framework service.

Authorisation: `hr_admin` edits drafts and publishes; contributors HR invited (managers and
employees) read the draft and edit the families, competencies and role profiles their
sections cover, and reviewers of the open round read it (the service checks the invitation,
403 otherwise: services/framework/adapters/authoring_http.py); every authenticated caller
reads published versions. Published versions are addressed by number (`version`), by
instant (`as_of`: the version in force then), or default to the latest.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent
from libs.events.schemas.framework import (
    Approval,
    Competency,
    CompetencyCategory,
    DeploymentRule,
    EffectiveRequirement,
    EffectiveRoleProfile,
    Framework,
    Granularity,
    JobFamily,
    Key,
    LateralPath,
    Policy,
    Revision,
    RoleProfile,
    Scale,
    Text,
    TrackKind,
)
from libs.platform.auth import Actor, CurrentActor, HrAdmin
from libs.platform.edge import MAX_INTEGER, max_body
from libs.platform.pagination import Page, Paged
from libs.platform.runtime import not_found
from services.framework.adapters.files import formats, native
from services.framework.adapters.files.report import MAX_FILE_BYTES, ImportIssue
from services.framework.application.authoring import Authoring
from services.framework.application.frameworks import Frameworks
from services.framework.application.ports import AnchorReview, PublishedVersion, VersionSummary
from services.framework.domain.authoring import SECTION_COLLECTIONS
from services.framework.domain.drafting import (
    DraftExists,
    FrameworkAggregate,
    FrameworkError,
    NoDraft,
    PublicationRefused,
    UnknownElement,
    identity,
)
from services.framework.domain.profiles import effective_profile, grid
from services.framework.domain.rules import Problem, validate
from services.framework.domain.versions import Change, diff

router = APIRouter(prefix="/frameworks", tags=["frameworks"])
format_router = APIRouter(tags=["framework format"])
FRAMEWORK_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
FrameworkId = Annotated[str, Path(pattern=FRAMEWORK_ID, description="the framework's slug")]
VersionNumber = Annotated[
    int | None, Query(ge=1, le=MAX_INTEGER, description="a published version number")
]
AsOf = Annotated[
    datetime | None,
    Query(description="the version in force at this instant (ISO 8601; UTC unless zoned)"),
]


# Whole frameworks travel in one body: files to import and drafts replaced at once.
FRAMEWORK_BODY = max_body(MAX_FILE_BYTES)


def _frameworks(request: Request) -> Frameworks:
    return request.app.state.frameworks


def _authoring(request: Request) -> Authoring:
    return request.app.state.authoring


def one_of(roles: tuple[str, ...], what: str) -> Any:
    """The caller, when they hold one of `roles` (403 naming them otherwise). Whether a
    draft or an exercise invites them is for the service to say after."""

    def caller(actor: CurrentActor) -> Actor:
        if not any(actor.has(role) for role in roles):
            raise HTTPException(
                403,
                detail=f"{what} needs one of the roles {list(roles)}; the token of "
                f"{actor.subject!r} has {sorted(actor.roles) or 'none'}",
            )
        return actor

    return Annotated[Actor, Depends(caller)]


# HR, or someone HR may invite to a draft: checked against the invitations by the route.
Author = one_of(("hr_admin", "manager", "employee"), "a draft")


class NewFramework(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=FRAMEWORK_ID)
    name: str = Field(min_length=1, max_length=200)


class SettingsPatch(BaseModel):
    """Only the fields sent change. Only `taxonomy` may be null (no taxonomy): the others
    always have a value, so their schema refuses null."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default=None, min_length=1, max_length=200)
    description: Text = Field(default=None)
    scale: Scale = Field(default=None)
    granularity: Granularity = Field(default=None)
    taxonomy: str | None = Field(None, max_length=200)
    policy: Policy = Field(
        default=None,
        description="the whole policy as it should stand: limits left out take the default",
    )


class Push(BaseModel):
    model_config = ConfigDict(extra="forbid")

    competency: Key
    target: int | None = Field(None, ge=0, le=5)
    roles: list[Key] = Field(min_length=1)


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: Literal["minor", "major"] | None = Field(
        None, description="declare the revision major; the service never lowers what it finds"
    )


class DraftView(BaseModel):
    framework_id: str
    stream_version: int
    based_on_version: int | None = Field(description="the published version it started from")
    framework: Framework
    problems: list[Problem] = Field(description="what publishing it now would report")


class Publication(BaseModel):
    framework_id: str
    version: int
    revision: Revision
    published_at: datetime
    approvals: list[Approval] = Field(description="the reviewers whose approval it carries")
    warnings: list[Problem]


class ImportOutcome(BaseModel):
    framework_id: str
    format: str
    issues: list[ImportIssue]
    draft: DraftView


class GridView(BaseModel):
    framework_id: str
    version: int
    family: str
    track: TrackKind
    levels: list[str] = Field(description="column order: junior to senior")
    rows: dict[str, dict[str, EffectiveRequirement]] = Field(
        description="competency -> level code -> the leveled expectation"
    )


class Diff(BaseModel):
    framework_id: str
    from_version: int
    to_version: int
    changes: list[Change]


def _view(aggregate: FrameworkAggregate) -> DraftView:
    draft = aggregate.draft
    if draft is None:
        raise not_found(f"framework {aggregate.framework_id!r}")
    return DraftView(
        framework_id=aggregate.framework_id,
        stream_version=aggregate.stream_version,
        based_on_version=aggregate.latest.version if aggregate.latest else None,
        framework=draft,
        problems=validate(draft),
    )


async def _published(
    request: Request, framework_id: str, version: int | None, as_of: datetime | None
) -> PublishedVersion:
    found = await _frameworks(request).published(framework_id, version, as_of)
    if found is None:
        which = (
            f"version {version}"
            if version
            else f"a version in force at {as_of.isoformat()}"
            if as_of
            else "a published version"
        )
        raise not_found(f"framework {framework_id!r} {which}")
    return found


async def _selected(
    framework_id: FrameworkId,
    actor: CurrentActor,
    request: Request,
    version: VersionNumber = None,
    as_of: AsOf = None,
) -> PublishedVersion:
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)  # an instant without a zone is read as UTC
    return await _published(request, framework_id, version, as_of)


# A published version chosen by the `version` or `as_of` query parameter (else the latest),
# for any authenticated caller.
Selected = Annotated[PublishedVersion, Depends(_selected)]


def _export(framework: Framework, framework_id: str, fmt: formats.ExportFormat) -> Any:
    return PlainTextResponse(
        formats.write(framework, framework_id, fmt),
        media_type=formats.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{framework_id}.{fmt}"'},
    )


# -- drafts (hr_admin) ---------------------------------------------------------------------


@router.post("", status_code=201, response_model=DraftView)
async def create_framework(body: NewFramework, actor: HrAdmin, request: Request) -> DraftView:
    """Start a new, empty draft framework."""
    aggregate = await _frameworks(request).execute(
        body.id, actor.subject, lambda a: a.start(body.name)
    )
    return _view(aggregate)


@router.get("/{framework_id}/draft", response_model=DraftView)
async def get_draft(framework_id: FrameworkId, actor: Author, request: Request) -> DraftView:
    """The draft as it stands, with what publishing it would report: for HR, and for the
    contributors and reviewers invited to it. Its `stream_version` is what a reviewer's
    verdict names."""
    if actor.has("hr_admin"):
        return _view(await _frameworks(request).draft(framework_id))
    return _view(await _authoring(request).readable_by(framework_id, actor.subject))


@router.put("/{framework_id}/draft", response_model=DraftView, openapi_extra=FRAMEWORK_BODY)
async def replace_draft(
    framework_id: FrameworkId, framework: Framework, actor: HrAdmin, request: Request
) -> DraftView:
    """Replace the whole draft (creating the framework if it is new)."""
    aggregate = await _frameworks(request).execute(
        framework_id, actor.subject, lambda a: a.replace(framework, None)
    )
    return _view(aggregate)


FileText = Annotated[
    str, Body(media_type="text/plain", min_length=1, description="the file's text")
]
Source = Annotated[str, Query(description="the file's name: shown in issues, picks the format")]
Format = Annotated[formats.ImportFormat | None, Query(description="default: from `source`")]


async def _import(
    request: Request,
    actor: Actor,
    framework_id: str | None,
    content: str,
    source: str,
    fmt: formats.ImportFormat | None,
) -> ImportOutcome:
    # Parsing a large file takes a while: off the event loop, so other requests go on.
    result = await asyncio.to_thread(formats.read, content, source, fmt)
    if result.framework is None or result.errors:
        raise HTTPException(
            422,
            detail={
                "message": f"{source} cannot be imported: fix the errors listed",
                "issues": [i.model_dump() for i in result.issues],
            },
        )
    framework = result.framework
    target = framework_id or result.framework_id
    if re.fullmatch(FRAMEWORK_ID, target) is None:
        raise HTTPException(
            422,
            detail=f"{source} names framework {target!r}, which is not a framework id "
            "(lower-case letters, digits and '-', at most 63): import it under an id you choose",
        )
    aggregate = await _frameworks(request).execute(
        target, actor.subject, lambda a: a.replace(framework, source)
    )
    return ImportOutcome(
        framework_id=target, format=result.format, issues=result.issues, draft=_view(aggregate)
    )


@router.post("/import", response_model=ImportOutcome, openapi_extra=FRAMEWORK_BODY)
async def import_framework(
    actor: HrAdmin, request: Request, content: FileText, source: Source, format: Format = None
) -> ImportOutcome:
    """Import a file as the draft of the framework it names (the native format's `id`, a
    Monzo file's `path`), else of the one its file name names. Issues point at file, line
    and field; with any error nothing is written (HTTP 422)."""
    return await _import(request, actor, None, content, source, format)


@router.post(
    "/{framework_id}/draft/import", response_model=ImportOutcome, openapi_extra=FRAMEWORK_BODY
)
async def import_draft(
    framework_id: FrameworkId,
    actor: HrAdmin,
    request: Request,
    content: FileText,
    source: Source,
    format: Format = None,
) -> ImportOutcome:
    """Import a file as this framework's draft. Issues point at file, line and field; with
    any error the draft is left as it was (HTTP 422)."""
    return await _import(request, actor, framework_id, content, source, format)


@router.patch("/{framework_id}/draft/settings", response_model=DraftView)
async def change_settings(
    framework_id: FrameworkId, patch: SettingsPatch, actor: HrAdmin, request: Request
) -> DraftView:
    """Name, description, proficiency scale, granularity, taxonomy and policy."""
    settings = patch.model_dump(exclude_unset=True)
    aggregate = await _frameworks(request).execute(
        framework_id, actor.subject, lambda a: a.change_settings(settings)
    )
    return _view(aggregate)


@router.post("/{framework_id}/draft/pushes", response_model=DraftView)
async def push_competency(
    framework_id: FrameworkId, push: Push, actor: HrAdmin, request: Request
) -> DraftView:
    """Assign a competency once to the roles named; roles created later do not receive it."""
    aggregate = await _frameworks(request).execute(
        framework_id, actor.subject, lambda a: a.push(push.competency, push.target, push.roles)
    )
    return _view(aggregate)


KEY = r"[a-z0-9][a-z0-9._-]{0,79}"
ELEMENT_KEYS = {"lateral_paths": rf"^{KEY}->{KEY}$"}


def _element_routes(collection: str, segment: str, model: type[BaseModel]) -> None:
    """PUT (create or replace) and DELETE for one keyed collection of the draft: by HR, and
    for the collections sections cover, by the contributors whose sections cover the
    element."""
    sectioned = collection in SECTION_COLLECTIONS
    Editor = Author if sectioned else HrAdmin

    async def edit(
        request: Request,
        actor: Actor,
        framework_id: str,
        key: str,
        element: BaseModel | None,
        command: Callable[[FrameworkAggregate], list[IntegrationEvent]],
    ) -> DraftView:
        if actor.has("hr_admin"):
            aggregate = await _frameworks(request).execute(framework_id, actor.subject, command)
        else:
            aggregate = await _authoring(request).edit(
                framework_id, actor.subject, collection, key, element, command
            )
        return _view(aggregate)

    ElementKey = Annotated[
        str,
        Path(
            pattern=ELEMENT_KEYS.get(collection, f"^{KEY}$"),
            description=f"the element's key; on PUT it must be the key the body's {segment} "
            "has (`key`, or `from_family->to_family` for a lateral path), else 422",
        ),
    ]

    async def define(
        framework_id: FrameworkId,
        key: ElementKey,
        element: BaseModel,
        actor: Actor,
        request: Request,
    ) -> DraftView:
        if identity(collection, element) != key:
            raise HTTPException(
                422,
                detail=f"the {segment} in the body is {identity(collection, element)!r}, "
                f"the URL names {key!r}",
            )
        return await edit(
            request, actor, framework_id, key, element, lambda a: a.define(collection, element)
        )

    async def remove(
        framework_id: FrameworkId, key: ElementKey, actor: Actor, request: Request
    ) -> DraftView:
        return await edit(
            request, actor, framework_id, key, None, lambda a: a.remove(collection, key)
        )

    # Annotations are strings here (postponed evaluation) and `model` is a local: give FastAPI
    # the class itself, so the body is parsed and documented as that element.
    define.__annotations__["element"] = model
    define.__annotations__["key"] = remove.__annotations__["key"] = ElementKey
    define.__annotations__["actor"] = remove.__annotations__["actor"] = Editor
    path = f"/{{framework_id}}/draft/{segment}/{{key}}"
    router.put(path, response_model=DraftView, summary=f"Define one of the draft's {segment}")(
        define
    )
    router.delete(path, response_model=DraftView, summary=f"Remove one of the draft's {segment}")(
        remove
    )


for _collection, _segment, _model in (
    ("categories", "categories", CompetencyCategory),
    ("families", "families", JobFamily),
    ("lateral_paths", "lateral-paths", LateralPath),
    ("competencies", "competencies", Competency),
    ("roles", "roles", RoleProfile),
    ("rules", "rules", DeploymentRule),
):
    _element_routes(_collection, _segment, _model)


@router.get("/{framework_id}/draft/roles/{role}/effective", response_model=EffectiveRoleProfile)
async def draft_effective_role(
    framework_id: FrameworkId, role: str, actor: HrAdmin, request: Request
) -> EffectiveRoleProfile:
    """The role profile with every deployment rule applied, each competency's origins shown."""
    draft = _view(await _frameworks(request).draft(framework_id)).framework
    return _effective(draft, framework_id, role)


@router.get("/{framework_id}/draft/export")
async def export_draft(
    framework_id: FrameworkId,
    actor: HrAdmin,
    request: Request,
    format: formats.ExportFormat = "yaml",
) -> PlainTextResponse:
    draft = _view(await _frameworks(request).draft(framework_id)).framework
    return _export(draft, framework_id, format)


@router.post("/{framework_id}/versions", status_code=201, response_model=Publication)
async def publish_version(
    framework_id: FrameworkId, body: PublishRequest, actor: HrAdmin, request: Request
) -> Publication:
    """Publish the draft as the next immutable version; refused (422) with every problem,
    then (409) while fewer reviewers approved the draft as it stands than its policy asks
    for, naming those who have not. The version names who approved."""
    published, problems = await _frameworks(request).publish(
        framework_id, actor.subject, body.revision
    )
    return Publication(
        framework_id=framework_id,
        version=published.version,
        revision=published.revision,
        published_at=published.published_at,
        approvals=published.approvals,
        warnings=problems,
    )


# -- published versions (any authenticated caller) ------------------------------------------


@router.get("", response_model=Page[VersionSummary])
async def list_frameworks(page: Paged, request: Request) -> Page[VersionSummary]:
    """Every published framework with its latest version."""
    return page.of(await _frameworks(request).latest_of_each(), key=lambda v: v.framework_id)


@router.get("/{framework_id}/versions", response_model=Page[VersionSummary])
async def version_history(
    framework_id: FrameworkId, page: Paged, request: Request
) -> Page[VersionSummary]:
    """Version history, oldest first: number, minor or major, when and by whom."""
    history = await _frameworks(request).history(framework_id)
    if not history:
        raise not_found(f"framework {framework_id!r} published versions")
    return page.of(history, key=lambda v: v.version)


@router.get("/{framework_id}/published", response_model=PublishedVersion)
async def published_framework(found: Selected) -> PublishedVersion:
    """The framework exactly as published: by version, in force at an instant, or latest."""
    return found


@router.get("/{framework_id}/published/roles/{role}", response_model=EffectiveRoleProfile)
async def published_role(role: str, found: Selected) -> EffectiveRoleProfile:
    """A role's effective profile as published, with each competency's origins."""
    return _effective(found.framework, found.framework_id, role)


@router.get("/{framework_id}/published/grid", response_model=GridView)
async def published_grid(family: str, track: TrackKind, found: Selected) -> GridView:
    """Competencies by career level for one family's track, as published."""
    job_family = found.framework.family(family)
    ladder = job_family.track(track) if job_family else None
    if ladder is None:
        raise not_found(f"{track} track of family {family!r} in version {found.version}")
    return GridView(
        framework_id=found.framework_id,
        version=found.version,
        family=family,
        track=track,
        levels=[lv.code for lv in ladder.levels],
        rows=grid(found.framework, family, track),
    )


@router.get("/{framework_id}/published/export")
async def export_published(
    found: Selected, format: formats.ExportFormat = "yaml"
) -> PlainTextResponse:
    """The published version as a file: YAML or JSON (lossless) or the CSV grid."""
    return _export(found.framework, found.framework_id, format)


@router.get("/{framework_id}/diff", response_model=Diff)
async def version_diff(
    framework_id: FrameworkId,
    from_version: Annotated[int, Query(ge=1, le=MAX_INTEGER)],
    to_version: Annotated[int, Query(ge=1, le=MAX_INTEGER)],
    actor: CurrentActor,
    request: Request,
) -> Diff:
    """What changed between two published versions (reworded anchors included)."""
    before = await _published(request, framework_id, from_version, None)
    after = await _published(request, framework_id, to_version, None)
    return Diff(
        framework_id=framework_id,
        from_version=from_version,
        to_version=to_version,
        changes=diff(before.framework, after.framework),
    )


@format_router.get("/framework-format/schema.json", response_model=dict[str, Any])
async def format_schema(actor: CurrentActor) -> dict[str, Any]:
    """The JSON Schema of the framework file format (YAML and JSON)."""
    return native.json_schema()


def _effective(framework: Framework, framework_id: str, role: str) -> EffectiveRoleProfile:
    found = framework.role(role)
    profile = effective_profile(framework, found) if found else None
    if profile is None:
        raise not_found(f"role {role!r} of framework {framework_id!r}")
    return profile


STATUS = {NoDraft: 404, UnknownElement: 404, DraftExists: 409}


@router.get("/{framework_id}/anchor-reviews", response_model=Page[AnchorReview])
async def anchor_reviews(
    framework_id: FrameworkId,
    actor: HrAdmin,
    page: Paged,
    request: Request,
    since_version: Annotated[int, Query(ge=1, le=MAX_INTEGER)] = 1,
) -> Page[AnchorReview]:
    """Anchors calibration sessions found raters reading differently, worst first: what to
    reword in the next minor revision (hr_admin)."""
    reviews = await _frameworks(request).anchor_reviews(framework_id, since_version)
    return page.of(reviews, key=lambda r: (r.session_id, r.competency))


def install(api: FastAPI) -> None:
    """Mount the routes and turn the framework's typed errors into 4xx answers."""
    api.include_router(router)
    api.include_router(format_router)

    @api.exception_handler(FrameworkError)
    async def _refused(_: Request, error: FrameworkError) -> JSONResponse:
        content: dict[str, Any] = {"detail": str(error)}
        if isinstance(error, PublicationRefused):
            content["problems"] = [p.model_dump() for p in error.problems]
        return JSONResponse(status_code=STATUS.get(type(error), 422), content=content)
