"""The review-cycle workflow on Temporal's time-skipping server with stand-in activities
that keep to the contracts of `libs.workflows.contracts` and count their calls: the
orchestration tests' fixtures (tests/integration/test_review_cycle_workflow.py and the tests
that replace one stand-in with a service's real activity)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Interceptor, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from libs.platform.temporal import PayloadKeys, data_converter
from libs.workflows.contracts import (
    CLOSE_CAMPAIGN,
    EVALUATE_CYCLE,
    GAP_MOVEMENT,
    GAP_REVIEW,
    OPEN_CALIBRATION,
    OPEN_CAMPAIGN,
    RECORD_STAGE,
    RESOLVE_FRAMEWORK,
    SEND_REMINDERS,
    confirm_framework,
)
from libs.workflows.messages import (
    CalibrationOpened,
    CampaignStarted,
    CampaignStep,
    CycleCases,
    FrameworkConfirmation,
    FrameworkRef,
    GapMovement,
    GapReview,
    MovementRequest,
    OpenCampaign,
    PromotionEvaluations,
    ResponseCount,
    SessionRef,
    StageChange,
    Steering,
)
from services.cycles.workflows.review_cycle import (
    TASK_QUEUE,
    CycleOutcome,
    CycleRequest,
    ReviewCycleWorkflow,
)
from tests.support.temporal import time_skipping

HISTORIES = Path(__file__).resolve().parents[1] / "integration" / "histories"
MANAGERS = ["emp-lead-a", "emp-lead-b"]
# Clients and workers encrypt every payload, as the services' do (libs/platform/temporal.py).
KEYS = PayloadKeys.generate()
CONVERTER = data_converter(KEYS)
# HR's steering signals name who sent them (services/cycles/workflows/review_cycle.py).
HR = Steering(actor="hannah-hr")


@dataclass
class Services:
    """Stand-in activities on each service's task queue, recording what they were asked."""

    calls: Counter[str] = field(default_factory=Counter)
    stages: list[StageChange] = field(default_factory=list)
    opened: set[str] = field(default_factory=set)
    # Stages whose recording waits until the test lets it go.
    held: dict[str, asyncio.Event] = field(default_factory=dict)

    def workers(
        self,
        env: WorkflowEnvironment,
        record_stage: Callable[..., Any] | None = None,
        evaluate_cycle: Callable[..., Any] | None = None,
    ) -> list[Worker]:
        """The workflow's worker and the stand-ins; `record_stage` and `evaluate_cycle`: the
        cycles and promotion services' real activities instead of the stand-ins."""

        @activity.defn(name=RESOLVE_FRAMEWORK.name)
        async def resolve(ref: FrameworkRef) -> FrameworkRef:
            return FrameworkRef(framework_id=ref.framework_id, version=ref.version or 4)

        def confirmer(service: str) -> Callable[..., Any]:
            @activity.defn(name=confirm_framework(service).name)
            async def confirm(ref: FrameworkRef) -> FrameworkConfirmation:
                return FrameworkConfirmation(
                    service=service, framework_id=ref.framework_id, version=ref.version or 0
                )

            return confirm

        @activity.defn(name=OPEN_CAMPAIGN.name)
        async def open_campaign(request: OpenCampaign) -> CampaignStarted:
            self.calls[OPEN_CAMPAIGN.name] += 1
            self.opened.add(request.campaign_id)
            return CampaignStarted(campaign_id=request.campaign_id, subjects=50, assignments=300)

        def campaign_step(name: str, outstanding: int, closed: bool) -> Callable[..., Any]:
            @activity.defn(name=name)
            async def step(request: CampaignStep) -> ResponseCount:
                self.calls[name] += 1
                return ResponseCount(
                    campaign_id=request.campaign_id,
                    assignments=300,
                    outstanding=outstanding,
                    closed=closed,
                )

            return step

        @activity.defn(name=OPEN_CALIBRATION.name)
        async def open_calibration(request: CampaignStep) -> CalibrationOpened:
            self.calls[OPEN_CALIBRATION.name] += 1
            return CalibrationOpened(session_id=f"{request.campaign_id}.calibration", subjects=50)

        @activity.defn(name=GAP_REVIEW.name)
        async def gap_review(request: SessionRef) -> GapReview:
            self.calls[GAP_REVIEW.name] += 1
            return GapReview(
                session_id=request.session_id, people=50, open_gaps=80, plans=40, managers=MANAGERS
            )

        @activity.defn(name=GAP_MOVEMENT.name)
        async def gap_movement(request: MovementRequest) -> GapMovement:
            self.calls[GAP_MOVEMENT.name] += 1
            return GapMovement(
                previous_session_id=request.previous_session_id,
                session_id=request.session_id,
                people=50,
                compared=500,
                improved=120,
                declined=30,
                mean_change=0.2,
            )

        @activity.defn(name=EVALUATE_CYCLE.name)
        async def evaluate(request: CycleCases) -> PromotionEvaluations:
            self.calls[EVALUATE_CYCLE.name] += 1
            return PromotionEvaluations(cycle_id=request.cycle_id, cases=3, evaluated=3, ready=1)

        @activity.defn(name=RECORD_STAGE.name)
        async def record(change: StageChange) -> None:
            self.stages.append(change)
            if change.stage in self.held:
                await self.held[change.stage].wait()

        client = env.client
        return [
            Worker(
                client,
                task_queue=TASK_QUEUE,
                workflows=[ReviewCycleWorkflow],
                activities=[record_stage or record],
            ),
            Worker(client, task_queue="framework", activities=[resolve]),
            Worker(
                client,
                task_queue="assessment",
                activities=[
                    confirmer("assessment"),
                    open_campaign,
                    campaign_step(SEND_REMINDERS.name, 120, False),
                    campaign_step(CLOSE_CAMPAIGN.name, 40, True),
                    open_calibration,
                ],
            ),
            Worker(
                client,
                task_queue="development",
                activities=[confirmer("development"), gap_review, gap_movement],
            ),
            Worker(
                client,
                task_queue="promotion",
                activities=[confirmer("promotion"), evaluate_cycle or evaluate],
            ),
        ]

    def stage_names(self, cycle: str) -> list[str]:
        return [s.stage for s in self.stages if s.cycle_id == cycle]


@dataclass
class Cycles:
    env: WorkflowEnvironment
    services: Services

    async def start(self, cycle_id: str, **request: Any) -> WorkflowHandle[Any, CycleOutcome]:
        return await self.env.client.start_workflow(
            ReviewCycleWorkflow.run,
            CycleRequest(
                cycle_id=cycle_id,
                framework=FrameworkRef(framework_id="product-engineering"),
                requested_by="hannah-hr",
                **request,
            ),
            id=cycle_id,
            task_queue=TASK_QUEUE,
        )

    async def stage_of(self, handle: WorkflowHandle[Any, Any]) -> str:
        return (await handle.query(ReviewCycleWorkflow.progress)).stage

    async def to_gap_review(self, handle: WorkflowHandle[Any, Any]) -> None:
        """HR closes the first cycle's campaign early and completes its calibration."""
        await self.reach(handle, "campaign open")
        await handle.signal(ReviewCycleWorkflow.close_campaign, HR)
        await self.reach(handle, "calibration")
        await handle.signal(ReviewCycleWorkflow.calibration_completed, f"{handle.id}.1.calibration")
        await self.reach(handle, "gap review")

    async def reach(self, handle: WorkflowHandle[Any, Any], stage: str) -> None:
        """Let the workflow run (in real time: activities are quick) until it is at `stage`."""
        for _ in range(200):
            if await self.stage_of(handle) == stage:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never reached {stage!r}; at {await self.stage_of(handle)!r}")


@asynccontextmanager
async def running_cycles(
    record_stage: Callable[..., Any] | None = None,
    evaluate_cycle: Callable[..., Any] | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> AsyncIterator[Cycles]:
    """The workflow and the stand-ins' workers running on a time-skipping server, with the
    cycles and promotion services' real `record_stage` or `evaluate_cycle` when given."""
    async with time_skipping(CONVERTER, interceptors) as env:
        services = Services()
        workers = services.workers(env, record_stage, evaluate_cycle)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            yield Cycles(env, services)
        finally:
            for worker in workers:
                await worker.shutdown()
            await asyncio.gather(*tasks, return_exceptions=True)
