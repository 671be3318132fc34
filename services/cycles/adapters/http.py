"""HTTP API of the cycle orchestrator: start a cycle and follow it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from libs.events.activities import FrameworkRef
from libs.events.envelope import new_event_id
from libs.platform.auth import CurrentActor, require_role
from libs.platform.runtime import not_found
from services.cycles.workflows.review_cycle import (
    TASK_QUEUE,
    CycleOutcome,
    CycleRequest,
    ReviewCycleWorkflow,
)

router = APIRouter(prefix="/cycles", tags=["cycles"])


class StartCycle(BaseModel):
    framework: FrameworkRef


class CycleStatus(BaseModel):
    cycle_id: str
    status: str
    stage: str | None = None
    outcome: CycleOutcome | None = None
    failure: str | None = None


def _root_cause(error: BaseException) -> BaseException:
    """Temporal wraps the failing activity's error in workflow and activity errors."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _client(request: Request) -> Client:
    return request.app.state.runtime.temporal


@router.post("", status_code=202, response_model=CycleStatus)
async def start_cycle(body: StartCycle, actor: CurrentActor, request: Request) -> CycleStatus:
    """Start a review cycle (hr_admin); follow it with GET /cycles/{cycle_id}."""
    require_role(actor, "hr_admin")
    cycle_id = f"cycle-{new_event_id()}"
    await _client(request).start_workflow(
        ReviewCycleWorkflow.run,
        CycleRequest(cycle_id=cycle_id, framework=body.framework, requested_by=actor.subject),
        id=cycle_id,
        task_queue=TASK_QUEUE,
    )
    return CycleStatus(cycle_id=cycle_id, status="RUNNING", stage="starting")


@router.get("/{cycle_id}", response_model=CycleStatus)
async def cycle_status(cycle_id: str, actor: CurrentActor, request: Request) -> CycleStatus:
    handle = _client(request).get_workflow_handle_for(ReviewCycleWorkflow.run, cycle_id)
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise not_found(f"cycle {cycle_id!r}") from None
        raise
    status = description.status
    result: dict[str, Any] = {"cycle_id": cycle_id, "status": status.name if status else "UNKNOWN"}
    if status == WorkflowExecutionStatus.RUNNING:
        result["stage"] = await handle.query(ReviewCycleWorkflow.progress)
    elif status == WorkflowExecutionStatus.COMPLETED:
        result["stage"] = "completed"
        result["outcome"] = await handle.result()
    else:
        try:
            await handle.result()
        except Exception as error:  # noqa: BLE001 - report why the cycle ended
            result["failure"] = str(_root_cause(error))
    return CycleStatus(**result)
