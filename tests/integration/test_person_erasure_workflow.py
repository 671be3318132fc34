"""PersonErasureWorkflow on Temporal's time-skipping test server (docs/privacy.md, Requests):
the order of its steps, the wait for every process's key cache to expire before any service
erases, a legal hold stopping it before any key is destroyed, a service failing for a
while, the progress query, and an erasure of the release before the wait replaying.

The activities are stand-ins under the contracts' names and task queues: this tests the
orchestration only. The cycles service's real steps (destroying keys, recording the outcome)
are tested on PostgreSQL, NATS and Temporal in test_privacy_requests_api.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from libs.platform.temporal import data_converter
from libs.workflows.contracts import (
    CLEAR_ERASURE,
    DESTROY_PERSONAL_KEYS,
    HOLDING_PERSONAL_DATA,
    KEY_CACHES_EXPIRE,
    PROMOTION,
    RECORD_ERASURE,
    erase_personal_data,
)
from libs.workflows.messages import (
    ErasedData,
    ErasureClearance,
    ErasureOrder,
    ErasureOutcome,
    KeysDestroyed,
    erasure_workflow_id,
)
from services.cycles.workflows.person_erasure import (
    DONE,
    ERASING,
    TASK_QUEUE,
    WAITING_FOR_CACHES,
    ErasureReport,
    PersonErasureWorkflow,
)
from tests.support.review_cycle import CONVERTER, HISTORIES, KEYS
from tests.support.temporal import time_skipping

ORDER = ErasureOrder(request_ref="REQ-7", employee_id="emp-ada", grant="g" * 43)
HOLD = "legal hold H-1 on emp-ada: litigation 2026-114"


@dataclass
class Steps:
    """Stand-ins for each step, recording what they were asked in order."""

    clearance: ErasureClearance = field(default_factory=lambda: ErasureClearance(cleared=True))
    calls: list[str] = field(default_factory=list)
    outcomes: list[ErasureOutcome] = field(default_factory=list)
    # Services whose erasure fails this many times before it succeeds.
    failing: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    # Services whose erasure waits until the test lets it go.
    held: dict[str, asyncio.Event] = field(default_factory=dict)

    def workers(self, env: WorkflowEnvironment) -> list[Worker]:
        @activity.defn(name=CLEAR_ERASURE.name)
        async def clear(order: ErasureOrder) -> ErasureClearance:
            self.calls.append(CLEAR_ERASURE.name)
            return self.clearance

        @activity.defn(name=DESTROY_PERSONAL_KEYS.name)
        async def destroy(order: ErasureOrder) -> KeysDestroyed:
            self.calls.append(DESTROY_PERSONAL_KEYS.name)
            return KeysDestroyed(employee_id=order.employee_id, keys=1)

        @activity.defn(name=RECORD_ERASURE.name)
        async def record(outcome: ErasureOutcome) -> None:
            self.calls.append(RECORD_ERASURE.name)
            self.outcomes.append(outcome)

        def eraser(service: str) -> Callable[..., Any]:
            @activity.defn(name=erase_personal_data(service).name)
            async def erase(order: ErasureOrder) -> ErasedData:
                self.attempts[service] = self.attempts.get(service, 0) + 1
                if self.attempts[service] <= self.failing.get(service, 0):
                    raise ApplicationError(f"{service} database restarting")  # retryable
                if service in self.held:
                    await self.held[service].wait()
                self.calls.append(erase_personal_data(service).name)
                return ErasedData(service=service, erased={"comments": 2})

            return erase

        by_queue: dict[str, list[Callable[..., Any]]] = {
            s: [eraser(s)] for s in HOLDING_PERSONAL_DATA
        }
        by_queue[PROMOTION].append(clear)
        client = env.client
        return [
            Worker(
                client,
                task_queue=TASK_QUEUE,
                workflows=[PersonErasureWorkflow],
                activities=[destroy, record],
            ),
            *(Worker(client, task_queue=q, activities=a) for q, a in by_queue.items()),
        ]


@asynccontextmanager
async def erasing(
    steps: Steps,
) -> AsyncIterator[tuple[WorkflowEnvironment, WorkflowHandle[Any, ErasureReport]]]:
    """The workflow started for ORDER, its stand-ins' workers running."""
    async with time_skipping(CONVERTER) as env:
        workers = steps.workers(env)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            yield (
                env,
                await env.client.start_workflow(
                    PersonErasureWorkflow.run,
                    ORDER,
                    id=erasure_workflow_id(ORDER.request_ref),
                    task_queue=TASK_QUEUE,
                ),
            )
        finally:
            for worker in workers:
                await worker.shutdown()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_cleared_request_destroys_the_keys_then_every_service_erases() -> None:
    steps = Steps()
    async with erasing(steps) as (_, handle):
        report = await handle.result()
        history = await handle.fetch_history()
    # Deterministic: what it recorded replays on the same code.
    await Replayer(workflows=[PersonErasureWorkflow], data_converter=CONVERTER).replay_workflow(
        history
    )
    erasures = [erase_personal_data(s).name for s in HOLDING_PERSONAL_DATA]
    assert steps.calls[:2] == [CLEAR_ERASURE.name, DESTROY_PERSONAL_KEYS.name]
    assert sorted(steps.calls[2:-1]) == sorted(erasures), "every service, after the keys"
    assert steps.calls[-1] == RECORD_ERASURE.name
    # Between the keys and the services, a timer as long as every process's key cache.
    order = [_step(event) for event in history.events]
    order = [step for step in order if step is not None]
    assert order[:4] == [
        CLEAR_ERASURE.name,
        DESTROY_PERSONAL_KEYS.name,
        f"timer {KEY_CACHES_EXPIRE}",
        "timer fired",
    ]
    assert sorted(order[4:-1]) == sorted(erasures)
    assert steps.outcomes == [
        ErasureOutcome(order=ORDER, outcome="erased", services=sorted(HOLDING_PERSONAL_DATA))
    ]
    assert report == ErasureReport(
        request_ref="REQ-7",
        employee_id="emp-ada",
        outcome="erased",
        keys_destroyed=1,
        erased={s: {"comments": 2} for s in HOLDING_PERSONAL_DATA},
    )


async def test_a_legal_hold_refuses_the_request_before_any_key_is_destroyed() -> None:
    steps = Steps(clearance=ErasureClearance(cleared=False, reason=HOLD))
    async with erasing(steps) as (_, handle):
        report = await handle.result()
        progress = await handle.query(PersonErasureWorkflow.progress)
    assert steps.calls == [CLEAR_ERASURE.name, RECORD_ERASURE.name]
    assert steps.outcomes == [ErasureOutcome(order=ORDER, outcome="refused", reason=HOLD)]
    assert (report.outcome, report.reason, report.erased) == ("refused", HOLD, {})
    assert (progress.step, progress.keys_destroyed) == (DONE, None)


async def test_a_service_failing_for_a_while_is_retried_and_the_erasure_completes() -> None:
    steps = Steps(failing={"assessment": 2})
    async with erasing(steps) as (_, handle):
        report = await handle.result()
    assert steps.attempts["assessment"] == 3
    assert report.outcome == "erased"
    assert sorted(report.erased) == sorted(HOLDING_PERSONAL_DATA)


async def test_progress_shows_each_confirmation_as_it_arrives() -> None:
    steps = Steps(held={"development": asyncio.Event()})
    async with erasing(steps) as (env, handle):
        progress = await _when(handle, lambda p: p.step == WAITING_FOR_CACHES)
        assert progress.keys_destroyed == 1
        assert (progress.confirmed, progress.waiting_on) == ({}, [])
        assert steps.calls == [CLEAR_ERASURE.name, DESTROY_PERSONAL_KEYS.name], "no service yet"
        await env.sleep(KEY_CACHES_EXPIRE)  # the server skips the time
        progress = await _when(handle, lambda p: len(p.confirmed) == 3)
        assert progress.step == ERASING
        assert progress.keys_destroyed == 1
        assert sorted(progress.confirmed) == sorted(set(HOLDING_PERSONAL_DATA) - {"development"})
        assert progress.waiting_on == ["development"]
        steps.held["development"].set()
        report = await handle.result()
        progress = await handle.query(PersonErasureWorkflow.progress)
    assert (progress.step, progress.waiting_on) == (DONE, [])
    assert sorted(progress.confirmed) == sorted(report.erased) == sorted(HOLDING_PERSONAL_DATA)


async def test_an_erasure_started_before_the_wait_for_key_caches_replays_without_it() -> None:
    """Recorded on the release before the wait (payloads in clear, as the codec still reads
    them): it destroyed the keys and asked the services at once."""
    path = HISTORIES / "person_erasure_v1_erased.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[PersonErasureWorkflow], data_converter=data_converter(KEYS, plaintext=True)
    )
    await replayer.replay_workflow(history)


def _step(event: Any) -> str | None:
    """An activity scheduled or a timer, as the workflow commanded them."""
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return str(event.activity_task_scheduled_event_attributes.activity_type.name)
    if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
        timeout = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        return f"timer {timeout}"
    if event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
        return "timer fired"
    return None


async def _when(handle: WorkflowHandle[Any, Any], done: Callable[[Any], bool]) -> Any:
    for _ in range(200):
        progress = await handle.query(PersonErasureWorkflow.progress)
        if done(progress):
            return progress
        await asyncio.sleep(0.05)
    pytest.fail(f"the progress never got there: {progress}")
