"""The cycles service's own activity: publish a cycle's stage transition as an event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from libs.events.activities import RECORD_STAGE, StageChange
from libs.events.envelope import EventMetadata
from libs.events.schemas.cycles import CycleStageChanged, CycleStarted
from libs.events.store import ConcurrencyError, EventStore


def cycle_stream(cycle_id: str) -> str:
    return f"cycle-{cycle_id}"


def stage_activity(store: EventStore, actor: str) -> Callable[[StageChange], Awaitable[None]]:
    @activity.defn(name=RECORD_STAGE)
    async def record_stage(change: StageChange) -> None:
        """Append the transition as event `sequence` of the cycle's stream. A retry after a
        crash finds it there (the append's expected version fails) and records nothing."""
        kind = CycleStarted if change.sequence == 1 else CycleStageChanged
        event = kind(
            cycle_id=change.cycle_id,
            series_id=change.series_id,
            sequence=change.sequence,
            stage=change.stage,
            detail=change.detail,
        )
        stream = cycle_stream(change.cycle_id)
        try:
            await store.append(stream, change.sequence - 1, [event], EventMetadata(actor=actor))
        except ConcurrencyError:
            if await store.stream_version(stream) < change.sequence:
                raise  # an earlier transition is missing: retry until it is recorded

    return record_stage
