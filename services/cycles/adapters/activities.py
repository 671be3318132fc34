"""The cycles service's own activity: publish a cycle's stage transition as an event, and
open the stage's trace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio import activity

from libs.events.envelope import EventMetadata
from libs.events.registry import Event
from libs.events.schemas.cycles import CycleStageChanged, CycleStarted
from libs.events.store import ConcurrencyError, EventStore
from libs.workflows.contracts import (
    RECORD_STAGE,
)
from libs.workflows.messages import (
    StageChange,
    StageTrace,
)


def cycle_stream(cycle_id: str) -> str:
    return f"cycle-{cycle_id}"


def stage_activity(
    store: EventStore, actor: str, tracer: Tracer | None = None
) -> Callable[[StageChange], Awaitable[StageTrace | None]]:
    stage_tracer = tracer or trace.get_tracer(__name__)

    @activity.defn(name=RECORD_STAGE.name)
    async def record_stage(change: StageChange) -> StageTrace | None:
        """Open the stage's trace, append the transition in it, and return the trace's W3C
        context (None when tracing is off): the workflow runs the stage's activities in it,
        so a cycle that runs for months is a trace per stage, not one endless trace.

        The transition is event `sequence` of the cycle's stream. A retry after a crash
        finds it there (the append's expected version fails) and records nothing."""
        caller = trace.get_current_span().get_span_context()
        with stage_tracer.start_as_current_span(
            f"cycle stage: {change.stage}",
            context=Context(),  # a root span: the stage's own trace
            links=[Link(caller)] if caller.is_valid else None,
            attributes=_stage_attributes(change),
        ):
            await _append(store, actor, change)  # the event carries the stage's trace on
            carrier: StageTrace = {}
            TraceContextTextMapPropagator().inject(carrier)
        return carrier or None

    return record_stage


async def _append(store: EventStore, actor: str, change: StageChange) -> None:
    kind = CycleStarted if change.sequence == 1 else CycleStageChanged
    event = kind(
        cycle_id=change.cycle_id,
        series_id=change.series_id,
        sequence=change.sequence,
        stage=change.stage,
        detail=change.detail,
    )
    await append_once(store, cycle_stream(change.cycle_id), change.sequence, event, actor)


async def append_once(
    store: EventStore, stream: str, sequence: int, event: Event, actor: str
) -> None:
    """Append `event` as event `sequence` of `stream`. A retry after a crash finds it there
    (the append's expected version fails) and records nothing; while an earlier event of the
    stream is missing, it fails, to be retried until that one is recorded."""
    try:
        await store.append(stream, sequence - 1, [event], EventMetadata(actor=actor))
    except ConcurrencyError:
        if await store.stream_version(stream) < sequence:
            raise


def _stage_attributes(change: StageChange) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "talentledger.cycle.id": change.series_id,
        "talentledger.cycle.round_id": change.cycle_id,
        "talentledger.cycle.stage": change.stage,
        "talentledger.cycle.stage_number": change.sequence,
    }
    # A round id is `<cycle id>.<number>` (CycleRequest.round_id).
    number = change.cycle_id.removeprefix(f"{change.series_id}.")
    if number.isdigit():
        attributes["talentledger.cycle.number"] = int(number)
    return attributes
