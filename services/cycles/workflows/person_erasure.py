"""PersonErasureWorkflow: one erasure request about a person, carried out across the services
(docs/privacy.md, Requests; docs/cycles.md, Erasure requests).

Deterministic workflow code, like the review cycle's: every step is an activity of
`libs.workflows.contracts` on its service's task queue, each idempotent, each checking the
request against the `ErasureRequested` the cycles API recorded. The input holds the ids,
the request's reference and its grant: nothing personal.

1. clear the request against legal holds (promotion); a hold refuses it, and the refusal
   is published (`PersonErased`, outcome `refused`, naming the holds but not why they were
   placed) with nothing erased;
2. destroy the person's data keys (cycles): every sealed field of every event log and
   JetStream message reads `[erased]` from then on;
3. wait until every process's cache of opened keys has expired (`KEY_CACHES_EXPIRE`): a
   process still holding the key could write the person's text into a read model after the
   services scrubbed it;
4. every service holding personal data erases what its read models keep of the person, all
   at once; each confirmation shows in the progress query as it arrives;
5. publish the outcome (`PersonErased`, outcome `erased`, the services that confirmed).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from libs.workflows.contracts import (
        CLEAR_ERASURE,
        CYCLES,
        DESTROY_PERSONAL_KEYS,
        HOLDING_PERSONAL_DATA,
        KEY_CACHES_EXPIRE,
        RECORD_ERASURE,
        erase_personal_data,
        execute,
    )
    from libs.workflows.messages import ErasureOrder, ErasureOutcome

TASK_QUEUE = CYCLES
CLEARING = "clearing legal holds"
DESTROYING_KEYS = "destroying data keys"
WAITING_FOR_CACHES = "waiting for key caches to expire"
# Erasures started before the wait existed replay without it.
WAIT_FOR_KEY_CACHES = "wait-for-key-caches"
ERASING = "erasing in the services"
RECORDING = "recording the outcome"
DONE = "done"


class ErasureProgress(BaseModel):
    """What the progress query answers: the step, and what each service confirmed."""

    request_ref: str
    employee_id: str
    step: str = CLEARING
    keys_destroyed: int | None = Field(None, description="set once the keys are destroyed")
    confirmed: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="per service that confirmed, what it erased by kind"
    )
    waiting_on: list[str] = Field(default_factory=list, description="services yet to confirm")


class ErasureReport(BaseModel):
    """How the request ended."""

    request_ref: str
    employee_id: str
    outcome: Literal["erased", "refused"]
    reason: str = Field(
        "", description="why it was refused: each legal hold, who placed it and when"
    )
    keys_destroyed: int = 0
    erased: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="per service, what it erased by kind"
    )


@workflow.defn
class PersonErasureWorkflow:
    @workflow.init
    def __init__(self, order: ErasureOrder) -> None:
        self._progress = ErasureProgress(
            request_ref=order.request_ref, employee_id=order.employee_id
        )

    @workflow.run
    async def run(self, order: ErasureOrder) -> ErasureReport:
        progress = self._progress
        clearance = await execute(CLEAR_ERASURE, order)
        if not clearance.cleared:
            await self._record(
                ErasureOutcome(order=order, outcome="refused", reason=clearance.reason)
            )
            return ErasureReport(
                request_ref=order.request_ref,
                employee_id=order.employee_id,
                outcome="refused",
                reason=clearance.reason,
            )

        progress.step = DESTROYING_KEYS
        destroyed = await execute(DESTROY_PERSONAL_KEYS, order)
        progress.keys_destroyed = destroyed.keys

        if workflow.patched(WAIT_FOR_KEY_CACHES):
            progress.step = WAITING_FOR_CACHES
            await asyncio.sleep(KEY_CACHES_EXPIRE.total_seconds())

        progress.step = ERASING
        progress.waiting_on = list(HOLDING_PERSONAL_DATA)
        await asyncio.gather(*(self._erase(service, order) for service in HOLDING_PERSONAL_DATA))
        services = sorted(progress.confirmed)
        await self._record(ErasureOutcome(order=order, outcome="erased", services=services))
        return ErasureReport(
            request_ref=order.request_ref,
            employee_id=order.employee_id,
            outcome="erased",
            keys_destroyed=destroyed.keys,
            erased=dict(progress.confirmed),
        )

    async def _erase(self, service: str, order: ErasureOrder) -> None:
        erased = await execute(erase_personal_data(service), order)
        self._progress.confirmed[service] = dict(erased.erased)
        self._progress.waiting_on.remove(service)

    async def _record(self, outcome: ErasureOutcome) -> None:
        self._progress.step = RECORDING
        await execute(RECORD_ERASURE, outcome)
        self._progress.step = DONE

    @workflow.query
    def progress(self) -> ErasureProgress:
        return self._progress
