"""HTTP API of requests about a person's data (docs/privacy.md, Requests), for a privacy
officer (`privacy_officer`).

An access request gathers, there and then, what every service holding personal data holds
of the person: each service is asked with the caller's own token and checks it itself. An
erasure request is recorded (`ErasureRequested`, with the hash of a fresh grant) before its
workflow starts with the grant: the services act on that record, never on the workflow's
input.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import uuid4

import httpx
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from libs.events.envelope import EventMetadata
from libs.events.schemas.cycles import AccessRequestAnswered, ErasureRequested, PersonErased
from libs.events.schemas.hris import EmployeeId
from libs.events.store import ConcurrencyError, EventStore
from libs.platform.auth import Actor, CurrentActor, require_role
from libs.platform.runtime import not_found
from libs.privacy.http import ROUTE
from libs.privacy.records import PersonalDataExport, ServiceRecords
from libs.privacy.requests import ERASING_ROLE
from libs.workflows.contracts import HOLDING_PERSONAL_DATA
from libs.workflows.messages import ErasureOrder, RequestRef, erasure_workflow_id, grant_digest
from services.cycles.adapters.http import root_cause
from services.cycles.adapters.personal_data import records_of
from services.cycles.workflows.person_erasure import (
    DONE,
    TASK_QUEUE,
    ErasureReport,
    PersonErasureWorkflow,
)

# Each access request's record is a stream of its own: `access-request-<uuid>`.
ACCESS_REQUEST_STREAM = "access-request-"
router = APIRouter(prefix="/privacy/requests", tags=["privacy"])
# How long each service has to answer an access request; one that takes longer is listed as
# not answering rather than holding up the others.
ANSWER_TIMEOUT = 10.0
QUERY_TIMEOUT = timedelta(seconds=5)


class AccessRequest(BaseModel):
    """Everything every service holds about the person (GDPR art. 15)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["access"]
    employee_id: EmployeeId


class ErasureRequest(BaseModel):
    """Erase everything held about the person (GDPR art. 17), unless a legal hold stops it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["erasure"]
    employee_id: EmployeeId
    request_ref: RequestRef


PrivacyRequest = Annotated[AccessRequest | ErasureRequest, Field(discriminator="kind")]


class ErasureStatus(BaseModel):
    """Where an erasure request is: while it runs, its step and the services that confirmed;
    once done, its outcome, why a refusal, and what each service erased."""

    request_ref: str
    employee_id: str
    requested_by: str
    status: str = Field(description="the workflow's: RUNNING, COMPLETED, FAILED, NOT_STARTED...")
    step: str | None = None
    keys_destroyed: int | None = None
    confirmed: list[str] = Field(default_factory=list, description="services that confirmed")
    waiting_on: list[str] = Field(default_factory=list, description="services yet to confirm")
    outcome: Literal["erased", "refused"] | None = None
    reason: str = Field(
        "",
        description="why it was refused: each legal hold, who placed it and when (their "
        "reasons: the promotion service's GET /legal-holds)",
    )
    erased: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="per service, what it erased by kind"
    )
    failure: str | None = None


@router.post(
    "",
    response_model=PersonalDataExport | ErasureStatus,
    responses={202: {"model": ErasureStatus, "description": "an erasure request, accepted"}},
)
async def make_request(
    body: PrivacyRequest, actor: CurrentActor, request: Request, response: Response
) -> PersonalDataExport | ErasureStatus:
    """An access request (200: the export) or an erasure request (202: its status; the same
    reference again answers the same, 409 if it names another person) (privacy_officer)."""
    require_role(actor, ERASING_ROLE)
    if isinstance(body, AccessRequest):
        urls: dict[str, str] = request.app.state.runtime.settings.service_urls
        own = await records_of(_store(request), body.employee_id)
        export = await gather_export(
            body.employee_id, actor, request.headers.get("authorization", ""), urls, own
        )
        await _record_access(_store(request), export)
        return export
    response.status_code = 202
    return await _request_erasure(body, actor, request)


@router.get("/{request_ref}", response_model=ErasureStatus)
async def request_status(
    request_ref: RequestRef, actor: CurrentActor, request: Request
) -> ErasureStatus:
    """Where the erasure request is, or how it ended (privacy_officer)."""
    require_role(actor, ERASING_ROLE)
    return await _status(request, request_ref)


# -- access ----------------------------------------------------------------------------


async def gather_export(
    employee_id: str,
    actor: Actor,
    authorization: str,
    urls: dict[str, str],
    own: ServiceRecords,
) -> PersonalDataExport:
    """Ask every service holding personal data at once; one that fails is listed in
    `missing` with why, never failing the export. `own`: the cycles service's records."""
    async with httpx.AsyncClient(
        timeout=ANSWER_TIMEOUT, headers={"Authorization": authorization}
    ) as client:
        answers = await asyncio.gather(
            *(
                _records_of(client, service, urls.get(service), employee_id)
                for service in HOLDING_PERSONAL_DATA
            )
        )
    return PersonalDataExport(
        employee_id=employee_id,
        generated_at=datetime.now(UTC),
        requested_by=actor.subject,
        services=[own, *(a for a in answers if isinstance(a, ServiceRecords))],
        missing=[a for a in answers if isinstance(a, str)],
    )


async def _records_of(
    client: httpx.AsyncClient, service: str, base_url: str | None, employee_id: str
) -> ServiceRecords | str:
    """The service's records of the person, or why there are none."""
    if base_url is None:
        return f"{service}: no address for it (TALENTLEDGER_SERVICE_URLS)"
    url = base_url + ROUTE.format(employee_id=quote(employee_id, safe=""))
    try:
        answer = await client.get(url)
    except httpx.TimeoutException:
        return f"{service}: no answer within {ANSWER_TIMEOUT:g} s"
    except httpx.HTTPError as error:
        return f"{service}: unreachable at {base_url} ({type(error).__name__}: {error})"
    if answer.status_code != 200:
        return f"{service}: answered {answer.status_code} ({_detail(answer)})"
    try:
        records = ServiceRecords.model_validate_json(answer.content)
    except ValidationError:
        return f"{service}: answered something other than its records"
    if (records.service, records.employee_id) != (service, employee_id):
        return f"{service}: answered for {records.service}, about {records.employee_id!r}"
    return records


async def _record_access(store: EventStore, export: PersonalDataExport) -> None:
    """Who read everything held about whom, and which services answered, in the cycles log
    for auditors (docs/privacy.md, Requests): ids and service names, none of the export."""
    answered = [records.service for records in export.services]
    event = AccessRequestAnswered(
        employee_id=export.employee_id,
        requested_by=export.requested_by,
        answered=answered,
        missing=[s for s in HOLDING_PERSONAL_DATA if s not in answered],
    )
    await store.append(
        f"{ACCESS_REQUEST_STREAM}{uuid4()}", 0, [event], EventMetadata(actor=export.requested_by)
    )


def _detail(answer: httpx.Response) -> str:
    """What the service said, from any body: FastAPI's `{"detail": ...}`, other JSON or text."""
    try:
        said = answer.json()
    except ValueError:
        return answer.text[:200]
    return str(said.get("detail", "") if isinstance(said, dict) else said)[:200]


# -- erasure ---------------------------------------------------------------------------


def _store(request: Request) -> EventStore:
    return request.app.state.runtime.store


def _client(request: Request) -> Client:
    return request.app.state.runtime.temporal


async def _request_erasure(body: ErasureRequest, actor: Actor, request: Request) -> ErasureStatus:
    ref = body.request_ref
    grant = secrets.token_urlsafe(32)
    requested = ErasureRequested(
        request_ref=ref,
        employee_id=body.employee_id,
        requested_by=actor.subject,
        roles=sorted(actor.roles),
        grant_sha256=grant_digest(grant),
    )
    try:
        # Recorded before the workflow exists, so that the services know it by its first
        # activity; the stream's first event makes the reference the request's for good.
        await _store(request).append(
            erasure_workflow_id(ref), 0, [requested], EventMetadata(actor=actor.subject)
        )
    except ConcurrencyError:
        status = await _status(request, ref)
        if status.employee_id != body.employee_id:
            raise HTTPException(
                409, f"request {ref!r} names another person: give this one its own reference"
            ) from None
        return status  # the same request again
    try:
        await _client(request).start_workflow(
            PersonErasureWorkflow.run,
            ErasureOrder(request_ref=ref, employee_id=body.employee_id, grant=grant),
            id=erasure_workflow_id(ref),
            task_queue=TASK_QUEUE,
            # An erasure runs once: its id names the request for good.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        raise HTTPException(
            409,
            f"a workflow {erasure_workflow_id(ref)!r} exists that this API did not start; "
            "the services will not act for it: make the request under another reference",
        ) from None
    return ErasureStatus(
        request_ref=ref,
        employee_id=body.employee_id,
        requested_by=actor.subject,
        status=WorkflowExecutionStatus.RUNNING.name,
        step="starting",
    )


async def _status(request: Request, ref: str) -> ErasureStatus:
    store = _store(request)
    envelopes = await store.read_stream(erasure_workflow_id(ref))
    if not envelopes:
        raise not_found(f"privacy request {ref!r}")
    first = envelopes[0]
    # Anything else is an outside system's event admitted under the stream id before the
    # intake refused such events (libs/events/intake.py); not opened here.
    requested = (
        await store.decode(first) if first.event_type == ErasureRequested.event_type else None
    )
    if not isinstance(requested, ErasureRequested):
        raise HTTPException(
            409,
            f"reference {ref!r} is taken: stream {erasure_workflow_id(ref)!r} holds "
            f"{first.source}'s {first.event_type}, not an erasure request; make the request "
            "under another reference",
        )
    known: dict[str, Any] = {
        "request_ref": ref,
        "employee_id": requested.employee_id,
        "requested_by": requested.requested_by,
    }
    handle = _client(request).get_workflow_handle_for(
        PersonErasureWorkflow.run, erasure_workflow_id(ref)
    )
    try:
        status = (await handle.describe()).status
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        # Temporal no longer keeps the ended workflow: the record says how it ended.
        ended = await store.decode(envelopes[1]) if len(envelopes) > 1 else None
        if isinstance(ended, PersonErased):
            return ErasureStatus(
                **known,
                status=WorkflowExecutionStatus.COMPLETED.name,
                step=DONE,
                confirmed=ended.services,
                outcome=ended.outcome,
                reason=ended.reason,
            )
        return ErasureStatus(
            **known,
            status="NOT_STARTED",
            failure="the request is recorded but its workflow has not started (it is starting, "
            "or starting it failed): if this lasts, make the request again under another "
            "reference",
        )
    if status == WorkflowExecutionStatus.RUNNING:
        running = await _progress(handle, known)
        if running.step != DONE:
            return running
    return await _ended(handle, known)


async def _progress(handle: WorkflowHandle[Any, Any], known: dict[str, Any]) -> ErasureStatus:
    try:
        progress = await handle.query(PersonErasureWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        # No worker answers while the cycles service restarts: say so rather than hang.
        return ErasureStatus(
            **known,
            status=WorkflowExecutionStatus.RUNNING.name,
            failure=f"progress not available right now ({error.message}); retry",
        )
    return ErasureStatus(
        **known,
        status=WorkflowExecutionStatus.RUNNING.name,
        step=progress.step,
        keys_destroyed=progress.keys_destroyed,
        confirmed=sorted(progress.confirmed),
        waiting_on=progress.waiting_on,
        erased=progress.confirmed,
    )


async def _ended(handle: WorkflowHandle[Any, Any], known: dict[str, Any]) -> ErasureStatus:
    """The outcome of a workflow that has ended (or, past its last step, is ending)."""
    try:
        report: ErasureReport = await handle.result()
    except Exception as error:  # noqa: BLE001 - report why the erasure ended
        status = (await handle.describe()).status
        return ErasureStatus(
            **known,
            status=status.name if status else "UNKNOWN",
            failure=str(root_cause(error)),
        )
    return ErasureStatus(
        **known,
        status=WorkflowExecutionStatus.COMPLETED.name,
        step=DONE,
        keys_destroyed=report.keys_destroyed,
        confirmed=sorted(report.erased),
        outcome=report.outcome,
        reason=report.reason,
        erased=report.erased,
    )
