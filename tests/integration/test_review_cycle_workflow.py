"""ReviewCycleWorkflow on Temporal's time-skipping test server (docs/architecture.md §4): the
stages, the 21-day campaign, the calibration escalation, the gap-review deadline and the
90-day wait between cycles, in seconds of real time.

The services' activities here are stand-ins (tests/support/review_cycle.py) that keep to
the contracts of `libs.workflows.contracts` and count their calls: this tests the
orchestration (order, timers, signals, continue-as-new, versioning). The real activities
are tested against PostgreSQL in test_cycle_activities.py, and the whole loop on the real
stack in tests/e2e.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.worker import Replayer

from libs.platform.temporal import data_converter
from libs.workflows.contracts import (
    CLOSE_CAMPAIGN,
    SEND_REMINDERS,
)
from libs.workflows.messages import Population, Steering
from services.cycles.workflows.review_cycle import (
    CycleRequest,
    ReviewCycleWorkflow,
)
from tests.support.backbone import eventually
from tests.support.review_cycle import (
    CONVERTER,
    HISTORIES,
    HR,
    KEYS,
    MANAGERS,
    Cycles,
    running_cycles,
)


@pytest.fixture
async def cycles() -> AsyncIterator[Cycles]:
    async with running_cycles() as running:
        yield running


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
    await handle.signal(ReviewCycleWorkflow.close_campaign, HR)  # HR closes it early
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
    await handle.signal(ReviewCycleWorkflow.close_campaign, HR)
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
    await handle.signal(ReviewCycleWorkflow.pause, HR)
    await handle.signal(ReviewCycleWorkflow.close_campaign, HR)
    await asyncio.sleep(0.5)
    progress = await handle.query(ReviewCycleWorkflow.progress)
    assert (progress.stage, progress.paused) == ("campaign open", True)
    assert cycles.services.calls[CLOSE_CAMPAIGN.name] == 0, "paused before closing"
    await handle.signal(ReviewCycleWorkflow.resume, HR)
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
    # v1 to v3 were recorded before payloads were encrypted.
    replayer = Replayer(
        workflows=[ReviewCycleWorkflow], data_converter=data_converter(KEYS, plaintext=True)
    )
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


async def test_steering_without_the_payload_keys_changes_nothing(cycles: Cycles) -> None:
    """docs/security.md, Temporal: someone who reaches Temporal but holds no payload key sends
    steering signals and an acknowledgement, without a sender, in clear, and forged; none
    counts, the workflow keeps running, and HR's own signals still work."""
    handle = await cycles.start("cycle-f")
    await cycles.reach(handle, "campaign open")
    await handle.signal(ReviewCycleWorkflow.pause, HR)
    outsider = Client(cycles.env.client.service_client, namespace=cycles.env.client.namespace)
    forged = outsider.get_workflow_handle("cycle-f")
    mallory = Steering(actor="mallory")
    await forged.signal("resume")  # no sender
    await forged.signal("resume", mallory)  # a sender, in clear
    await forged.signal("close_campaign", mallory)
    await forged.signal("calibration_completed", "cycle-f.1.calibration")
    with pytest.raises(Exception):  # noqa: B017, PT011 - refused whatever the SDK calls it
        await forged.execute_update("acknowledge", MANAGERS[0])
    # Signals are applied in order: once HR's next one shows, the forged ones were handled.
    await handle.signal(ReviewCycleWorkflow.pause, Steering(actor="hannah-hr-again"))

    async def signals_recorded() -> int:
        # A signal that arrives while a workflow task runs is buffered by the server and
        # enters the history only when that task completes: wait for all six.
        history = await handle.fetch_history()
        signalled = [
            e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")
        ]
        return len(signalled) >= 6 and len(signalled)

    assert await eventually(signals_recorded, 60, "the six signals in the history") == 6
    await _settled(handle)
    progress = await handle.query(ReviewCycleWorkflow.progress)
    assert (progress.stage, progress.paused, progress.close_requested) == (
        "campaign open",
        True,
        False,
    )
    assert cycles.services.calls[CLOSE_CAMPAIGN.name] == 0
    assert (await handle.describe()).status.name == "RUNNING"  # type: ignore[union-attr]

    await handle.signal(ReviewCycleWorkflow.resume, HR)
    await handle.signal(ReviewCycleWorkflow.close_campaign, HR)
    await cycles.reach(handle, "calibration")


async def _settled(handle: Any) -> None:
    """Until the workflow has completed a task after the last signal it was sent."""
    for _ in range(200):
        events = (await handle.fetch_history()).events
        last_signal = max(
            i
            for i, e in enumerate(events)
            if e.HasField("workflow_execution_signaled_event_attributes")
        )
        if any(
            e.HasField("workflow_task_completed_event_attributes") for e in events[last_signal:]
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow never handled its signals")
