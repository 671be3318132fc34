"""ReviewCycleWorkflow: orchestrates a review cycle across the services.

Deterministic workflow code: it calls activities by name on each owning service's task
queue and never touches a database. So far it runs the first stage of a cycle: pin the
framework version, then wait until every service confirms it holds that version.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from libs.events.activities import (
        RESOLVE_FRAMEWORK,
        SERVICES,
        FrameworkConfirmation,
        FrameworkRef,
        confirm_framework,
    )

TASK_QUEUE = "cycles"


class CycleRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    cycle_id: str
    framework: FrameworkRef
    requested_by: str


class CycleOutcome(BaseModel):
    cycle_id: str
    framework: FrameworkRef
    confirmations: list[FrameworkConfirmation]


# Replication through the broker takes moments; outages can take longer, so keep trying.
REPLICATION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=250),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)


@workflow.defn
class ReviewCycleWorkflow:
    def __init__(self) -> None:
        self.stage = "starting"

    @workflow.run
    async def run(self, request: CycleRequest) -> CycleOutcome:
        self.stage = "pinning framework version"
        framework = await workflow.execute_activity(
            RESOLVE_FRAMEWORK,
            request.framework,
            task_queue="framework",
            result_type=FrameworkRef,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self.stage = "waiting for services to hold the framework version"
        confirmations = await asyncio.gather(
            *(
                workflow.execute_activity(
                    confirm_framework(service),
                    framework,
                    task_queue=service,
                    result_type=FrameworkConfirmation,
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=timedelta(hours=1),
                    retry_policy=REPLICATION_RETRY,
                )
                for service in SERVICES
                if service != "framework"
            )
        )
        self.stage = "completed"
        return CycleOutcome(
            cycle_id=request.cycle_id, framework=framework, confirmations=list(confirmations)
        )

    @workflow.query
    def progress(self) -> str:
        return self.stage
