"""HTTP API of the cycle orchestrator: start cycles, follow them, and steer them.

HR (`hr_admin`) starts, follows, pauses, resumes, cancels and signals cycles; a manager
acknowledges their own gap review, once, when the cycle waits on them, and may ask whether it
does. Starting a cycle records who started it (`CycleRequested`): the services act for a
cycle on that record, never on the workflow's input.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from libs.events.envelope import EventMetadata, new_event_id
from libs.events.schemas.cycles import CycleRequested
from libs.platform.auth import CurrentActor, HrAdmin, require_role
from libs.platform.runtime import not_found
from libs.workflows.messages import (
    FrameworkRef,
    Population,
    Steering,
    grant_digest,
)
from services.cycles.adapters.activities import cycle_stream
from services.cycles.workflows.review_cycle import (
    ALREADY_ACKNOWLEDGED,
    COMPLETED,
    NOT_IN_GAP_REVIEW,
    NOT_WAITED_ON,
    TASK_QUEUE,
    CycleOutcome,
    CycleProgress,
    CycleRequest,
    ReviewCycleWorkflow,
    Schedule,
)

router = APIRouter(prefix="/cycles", tags=["cycles"])
QUERY_TIMEOUT = timedelta(seconds=5)
UPDATE_TIMEOUT = timedelta(seconds=10)


class StartCycle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    framework: FrameworkRef
    population: Population = Population()
    schedule: Schedule = Schedule()
    last_number: int | None = Field(
        None, ge=1, description="run this many cycles; unset: recur until cancelled"
    )


class CycleStatus(BaseModel):
    cycle_id: str
    status: str
    stage: str | None = None
    progress: CycleProgress | None = None
    outcome: CycleOutcome | None = None
    failure: str | None = None


Control = Literal["pause", "resume", "close-campaign", "start-next-cycle"]


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manager: str | None = Field(None, description="default: the caller (hr_admin may name one)")


class Acknowledged(BaseModel):
    cycle_id: str
    manager: str
    still_waiting_on: int = Field(description="managers the gap review still waits on")


class WaitingOnYou(BaseModel):
    """All a manager learns of a cycle: whether it waits on them now."""

    cycle_id: str
    waiting_on_you: bool


# Why the workflow refused an acknowledgement, as HTTP statuses.
_REFUSALS = {NOT_WAITED_ON: 403, ALREADY_ACKNOWLEDGED: 409, NOT_IN_GAP_REVIEW: 409}


class CalibrationDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str


def root_cause(error: BaseException) -> BaseException:
    """Temporal wraps the failing activity's error in workflow and activity errors."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _client(request: Request) -> Client:
    return request.app.state.runtime.temporal


async def _described(
    request: Request, cycle_id: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionStatus | None]:
    """The cycle's workflow and its status; 404 when there is no such cycle."""
    handle = _client(request).get_workflow_handle_for(ReviewCycleWorkflow.run, cycle_id)
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise not_found(f"cycle {cycle_id!r}") from None
        raise
    return handle, description.status


async def _running(request: Request, cycle_id: str) -> WorkflowHandle[Any, Any]:
    handle, status = await _described(request, cycle_id)
    if status != WorkflowExecutionStatus.RUNNING:
        name = status.name if status else "UNKNOWN"
        raise HTTPException(409, f"cycle {cycle_id!r} is {name}: it takes no more signals")
    return handle


@router.post("", status_code=202, response_model=CycleStatus)
async def start_cycle(body: StartCycle, actor: CurrentActor, request: Request) -> CycleStatus:
    """Start a review cycle (hr_admin); follow it with GET /cycles/{cycle_id}."""
    require_role(actor, "hr_admin")
    cycle_id = f"cycle-{new_event_id().hex}"
    grant = secrets.token_urlsafe(32)
    # Recorded before the workflow exists, so that the services know it by its first activity.
    await request.app.state.runtime.store.append(
        cycle_stream(cycle_id),
        0,
        [
            CycleRequested(
                series_id=cycle_id,
                requested_by=actor.subject,
                roles=sorted(actor.roles),
                grant_sha256=grant_digest(grant),
            )
        ],
        EventMetadata(actor=actor.subject),
    )
    await _client(request).start_workflow(
        ReviewCycleWorkflow.run,
        CycleRequest(
            cycle_id=cycle_id,
            framework=body.framework,
            requested_by=actor.subject,
            grant=grant,
            population=body.population,
            schedule=body.schedule,
            last_number=body.last_number,
        ),
        id=cycle_id,
        task_queue=TASK_QUEUE,
    )
    return CycleStatus(cycle_id=cycle_id, status="RUNNING", stage="starting")


@router.get("/{cycle_id}", response_model=CycleStatus)
async def cycle_status(cycle_id: str, actor: HrAdmin, request: Request) -> CycleStatus:
    """Where the cycle is, whom it waits on, and how it ended (hr_admin)."""
    handle, status = await _described(request, cycle_id)
    if status == WorkflowExecutionStatus.RUNNING:
        try:
            progress = await handle.query(ReviewCycleWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as error:
            # No worker answers while the orchestrator restarts: say so rather than hang.
            return CycleStatus(
                cycle_id=cycle_id,
                status=status.name,
                failure=f"progress not available right now ({error.message}); retry",
            )
        if progress.stage == COMPLETED:
            # The workflow answers `completed` only once it has returned: it returned after
            # `describe`, and its outcome is there now.
            status = (await handle.describe()).status
        if status == WorkflowExecutionStatus.RUNNING:
            return CycleStatus(
                cycle_id=cycle_id, status=status.name, stage=progress.stage, progress=progress
            )
    result: dict[str, Any] = {"cycle_id": cycle_id, "status": status.name if status else "UNKNOWN"}
    if status == WorkflowExecutionStatus.COMPLETED:
        result["stage"] = COMPLETED
        result["outcome"] = await handle.result()
    else:
        try:
            await handle.result()
        except Exception as error:  # noqa: BLE001 - report why the cycle ended
            result["failure"] = str(root_cause(error))
    return CycleStatus(**result)


@router.post("/{cycle_id}/calibration-completed", status_code=202, response_model=CycleStatus)
async def calibration_completed(
    cycle_id: str, body: CalibrationDone, actor: CurrentActor, request: Request
) -> CycleStatus:
    """Tell the cycle a calibration session completed, when its event cannot reach it
    (hr_admin); normally `CalibrationCompleted` does this."""
    require_role(actor, "hr_admin")
    handle = await _running(request, cycle_id)
    await handle.signal(ReviewCycleWorkflow.calibration_completed, body.session_id)
    return CycleStatus(cycle_id=cycle_id, status="RUNNING", stage="calibration signalled")


@router.post("/{cycle_id}/{control}", status_code=202, response_model=CycleStatus)
async def steer(
    cycle_id: str, control: Control, actor: CurrentActor, request: Request
) -> CycleStatus:
    """Pause (at the next stage boundary), resume, close the campaign before its date, or
    start the next cycle without waiting (hr_admin)."""
    require_role(actor, "hr_admin")
    handle = await _running(request, cycle_id)
    signal = {
        "pause": ReviewCycleWorkflow.pause,
        "resume": ReviewCycleWorkflow.resume,
        "close-campaign": ReviewCycleWorkflow.close_campaign,
        "start-next-cycle": ReviewCycleWorkflow.start_next_cycle,
    }[control]
    await handle.signal(signal, Steering(actor=actor.subject))  # type: ignore[arg-type]
    return CycleStatus(cycle_id=cycle_id, status="RUNNING", stage=f"{control} requested")


@router.delete("/{cycle_id}", status_code=202, response_model=CycleStatus)
async def cancel(cycle_id: str, actor: CurrentActor, request: Request) -> CycleStatus:
    """Cancel the cycle (hr_admin); the cancellation is recorded as its last stage."""
    require_role(actor, "hr_admin")
    await (await _running(request, cycle_id)).cancel()
    return CycleStatus(cycle_id=cycle_id, status="CANCEL_REQUESTED")


@router.get("/{cycle_id}/waiting-on-me", response_model=WaitingOnYou)
async def waiting_on_me(cycle_id: str, actor: CurrentActor, request: Request) -> WaitingOnYou:
    """Whether the cycle waits on the caller's gap-review acknowledgement (a manager, or
    hr_admin); nothing else of the cycle."""
    if not actor.has("manager"):
        require_role(actor, "hr_admin")
    handle, status = await _described(request, cycle_id)
    waiting = False
    if status == WorkflowExecutionStatus.RUNNING:
        try:
            waiting = await handle.query(
                ReviewCycleWorkflow.waits_on, actor.subject, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as error:
            raise _unavailable(cycle_id, error.message) from None
    return WaitingOnYou(cycle_id=cycle_id, waiting_on_you=waiting)


@router.post(
    "/{cycle_id}/gap-review/acknowledgements", status_code=202, response_model=Acknowledged
)
async def acknowledge(
    cycle_id: str, body: Acknowledgement, actor: CurrentActor, request: Request
) -> Acknowledged:
    """A manager the gap review waits on acknowledges their reports' gaps, once (hr_admin may
    on a manager's behalf). 403 for anyone it does not wait on; 409 for a second
    acknowledgement, or outside gap review."""
    manager = body.manager or actor.subject
    if manager != actor.subject:
        require_role(actor, "hr_admin")
    handle = await _running(request, cycle_id)
    try:
        pending = await handle.execute_update(
            ReviewCycleWorkflow.acknowledge, manager, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
            raise HTTPException(_REFUSALS[cause.type], cause.message) from None
        raise
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        raise _unavailable(cycle_id, str(error)) from None
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise HTTPException(409, f"cycle {cycle_id!r} has ended: it takes no more") from None
        raise _unavailable(cycle_id, error.message) from None
    return Acknowledged(cycle_id=cycle_id, manager=manager, still_waiting_on=len(pending))


def _unavailable(cycle_id: str, reason: str) -> HTTPException:
    # No worker answers while the orchestrator restarts: say so rather than hang.
    return HTTPException(
        503,
        f"cycle {cycle_id!r} cannot answer right now ({reason}); retry shortly",
        headers={"Retry-After": "5"},
    )
