"""ReviewCycleWorkflow on Temporal's time-skipping test server (docs/architecture.md §4): the
stages, the 21-day campaign, the calibration escalation, the gap-review deadline and the
90-day wait between cycles, in seconds of real time.

The services' activities here are stand-ins that keep to the contracts of
`libs.workflows.contracts` and count their calls: this tests the orchestration (order,
timers, signals, continue-as-new, versioning). The real activities are tested against
PostgreSQL in test_cycle_activities.py, and the whole loop on the real stack in tests/e2e.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

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
    Population,
    PromotionEvaluations,
    ResponseCount,
    SessionRef,
    StageChange,
)
from services.cycles.workflows.review_cycle import (
    TASK_QUEUE,
    CycleOutcome,
    CycleRequest,
    ReviewCycleWorkflow,
)

HISTORIES = Path(__file__).parent / "histories"
TEST_SERVER = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "temporal-test-server"
MANAGERS = ["emp-lead-a", "emp-lead-b"]
# Clients and workers encrypt every payload, as the services' do (libs/platform/temporal.py).
CONVERTER = data_converter(PayloadKeys.generate())


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
        await handle.signal(ReviewCycleWorkflow.close_campaign)
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


@pytest.fixture
async def cycles() -> AsyncIterator[Cycles]:
    if not TEST_SERVER.exists():
        pytest.skip(f"the time-skipping server is installed with the project: {TEST_SERVER}")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER, test_server_existing_path=str(TEST_SERVER)
    )
    services = Services()
    async with env:
        workers = services.workers(env)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        yield Cycles(env, services)
        for worker in workers:
            await worker.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_two_cycles_run_every_stage_and_the_second_reports_movement(cycles: Cycles) -> None:
    """docs/architecture.md §4 and docs/domain.md §5: campaign with reminders, calibration,
    gap review (one manager silent: recorded, not blocking), plans, promotion readiness, 90 days,
    then the next cycle measures score movement against the previous calibration."""
    handle = await cycles.start("cycle-a", last_number=2)
    await cycles.reach(handle, "campaign open")
    await cycles.env.sleep(timedelta(days=22))  # reminders at 7 and 14 days, close at 21
    await cycles.reach(handle, "calibration")
    assert cycles.services.calls[SEND_REMINDERS.name] == 2
    assert cycles.services.calls[CLOSE_CAMPAIGN.name] == 1
    await handle.signal(ReviewCycleWorkflow.calibration_completed, "cycle-a.1.calibration")
    await cycles.reach(handle, "gap review")
    progress = await handle.query(ReviewCycleWorkflow.progress)
    assert progress.waiting_on == [f"manager {m} (acknowledge gaps)" for m in MANAGERS]
    await handle.signal(ReviewCycleWorkflow.acknowledge_gaps, MANAGERS[0])
    await cycles.env.sleep(timedelta(days=8))
    await cycles.reach(handle, "waiting for the next cycle")
    assert cycles.services.stage_names("cycle-a.1") == [
        "started",
        "campaign open",
        "calibration",
        "gap review",
        "gap review timed out",
        "development plans",
        "promotion evaluation",
        "waiting for the next cycle",
    ]
    timed_out = cycles.services.stages[4]
    assert f"proceeding without: {MANAGERS[1]}" in timed_out.detail

    await cycles.env.sleep(timedelta(days=91))  # continue-as-new into cycle 2
    await cycles.reach(handle, "campaign open")
    assert (await handle.query(ReviewCycleWorkflow.progress)).round_id == "cycle-a.2"
    await handle.signal(ReviewCycleWorkflow.close_campaign)  # HR closes it early
    await cycles.reach(handle, "calibration")
    await handle.signal(ReviewCycleWorkflow.calibration_completed, "cycle-a.2.calibration")
    await cycles.reach(handle, "gap review")
    for manager in MANAGERS:
        await handle.signal(ReviewCycleWorkflow.acknowledge_gaps, manager)
    outcome = await handle.result()
    assert outcome.number == 2
    assert outcome.movement is not None
    assert outcome.movement.previous_session_id == "cycle-a.1.calibration"
    assert outcome.acknowledged == sorted(MANAGERS)
    assert cycles.services.opened == {"cycle-a.1", "cycle-a.2"}
    assert cycles.services.stage_names("cycle-a.2")[-2:] == ["re-assessment", "completed"]
    sequences = [s.sequence for s in cycles.services.stages if s.cycle_id == "cycle-a.2"]
    assert sequences == list(range(1, len(sequences) + 1))


async def test_a_calibration_that_never_completes_is_escalated_and_the_cycle_waits(
    cycles: Cycles,
) -> None:
    """The issue's acceptance: escalation, then still waiting, not failed."""
    handle = await cycles.start("cycle-b", last_number=1)
    await cycles.reach(handle, "campaign open")
    await handle.signal(ReviewCycleWorkflow.close_campaign)
    await cycles.reach(handle, "calibration")
    await cycles.env.sleep(timedelta(days=15))
    progress = await handle.query(ReviewCycleWorkflow.progress)
    assert progress.escalations == 2
    assert progress.stage == "calibration"
    assert progress.waiting_on == [
        "calibration session cycle-b.1.calibration (hr_admin completes it)"
    ]
    assert (await handle.describe()).status.name == "RUNNING"  # type: ignore[union-attr]
    overdue = [s for s in cycles.services.stages if s.stage == "calibration overdue"]
    assert len(overdue) == 2
    assert "escalation 2 to hr_admin" in overdue[1].detail

    await handle.signal(ReviewCycleWorkflow.calibration_completed, "cycle-b.1.calibration")
    await cycles.reach(handle, "gap review")
    for manager in MANAGERS:
        await handle.signal(ReviewCycleWorkflow.acknowledge_gaps, manager)
    outcome = await handle.result()
    assert outcome.escalations == 2
    assert outcome.movement is None, "a first cycle has nothing to compare with"


async def test_pause_holds_the_next_stage_and_cancel_is_recorded(cycles: Cycles) -> None:
    handle = await cycles.start("cycle-c")
    await cycles.reach(handle, "campaign open")
    await handle.signal(ReviewCycleWorkflow.pause)
    await handle.signal(ReviewCycleWorkflow.close_campaign)
    await asyncio.sleep(0.5)
    progress = await handle.query(ReviewCycleWorkflow.progress)
    assert (progress.stage, progress.paused) == ("campaign open", True)
    assert cycles.services.calls[CLOSE_CAMPAIGN.name] == 0, "paused before closing"
    await handle.signal(ReviewCycleWorkflow.resume)
    await cycles.reach(handle, "calibration")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert cycles.services.stage_names("cycle-c.1")[-1] == "cancelled"


async def test_the_cycle_reports_completed_only_once_it_has_returned(cycles: Cycles) -> None:
    """While the last stage is being recorded the workflow is still running: the query
    answers the stage before, so that whoever polls for `completed` finds the outcome."""
    release = cycles.services.held["completed"] = asyncio.Event()
    handle = await cycles.start("cycle-f", last_number=1)
    await cycles.to_gap_review(handle)
    for manager in MANAGERS:
        await handle.execute_update(ReviewCycleWorkflow.acknowledge, manager)
    for _ in range(200):
        if cycles.services.stage_names("cycle-f.1")[-1:] == ["completed"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the last stage was never recorded")
    progress = await handle.query(ReviewCycleWorkflow.progress)
    assert (progress.stage, progress.waiting_on) == ("promotion evaluation", [])
    assert (await handle.describe()).status.name == "RUNNING"  # type: ignore[union-attr]
    release.set()
    assert (await handle.result()).number == 1
    assert await cycles.stage_of(handle) == "completed"


async def test_histories_of_earlier_releases_replay_on_the_current_code(cycles: Cycles) -> None:
    """Versioning (the issue): a cycle started before the full loop existed (it ran only the
    framework stage) replays on today's code, as do the full cycles of later releases (v3:
    a second cycle that reports `completed` only once it has returned) and one recorded now."""
    replayer = Replayer(workflows=[ReviewCycleWorkflow], data_converter=CONVERTER)
    for path in sorted(HISTORIES.glob("review_cycle_*.json")):
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        await replayer.replay_workflow(history)

    handle = await cycles.start("cycle-d", last_number=1)
    await cycles.to_gap_review(handle)
    for manager in MANAGERS:
        await handle.signal(ReviewCycleWorkflow.acknowledge_gaps, manager)
    await handle.result()
    await replayer.replay_workflow(await handle.fetch_history())


async def test_what_temporal_stores_is_ciphertext(cycles: Cycles) -> None:
    """Every payload (input, activity arguments and results, signals, updates) reaches the
    server encrypted: the history read raw, without the codec, holds none of the cycle's
    people, and the services' codec reads it back."""
    canary = "emp-canary-5c1d"
    handle = await cycles.start(
        "cycle-e", last_number=1, population=Population(employee_ids=[canary])
    )
    await cycles.to_gap_review(handle)
    for manager in MANAGERS:
        await handle.execute_update(ReviewCycleWorkflow.acknowledge, manager)
    await handle.result()

    plain = Client(cycles.env.client.service_client, namespace=cycles.env.client.namespace)
    history = await plain.get_workflow_handle("cycle-e").fetch_history()
    stored = b"".join(event.SerializeToString() for event in history.events)
    for secret in (canary, "hannah-hr", *MANAGERS, "cycle-e.1.calibration", "product-engineering"):
        assert secret.encode() not in stored, f"{secret!r} is stored in clear"
    started = history.events[0].workflow_execution_started_event_attributes
    [payload] = started.input.payloads
    assert payload.metadata["encoding"] == b"binary/encrypted"
    [request] = await CONVERTER.decode(started.input.payloads, [CycleRequest])
    assert request.population.employee_ids == [canary]
