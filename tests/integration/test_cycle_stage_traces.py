"""A trace per cycle stage (docs/architecture.md §5): ReviewCycleWorkflow on Temporal's
time-skipping server with the project's tracing interceptors (libs/platform/temporal.py) and
the cycles service's real stage activity on PostgreSQL, spans kept in memory.

Each recorded stage opens its own trace, rooted at a "cycle stage: <stage>" span linked to
the trace that started the cycle; the activities the workflow starts during the stage, and
the events they append (whose trace context the relay and the consumers continue), are in
that stage's trace. The other services' activities are stand-ins, as in
test_review_cycle_workflow.py (tests/support/review_cycle.py).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from libs.events.store import EventStore
from libs.platform.temporal import data_converter, interceptors
from libs.workflows.contracts import (
    CLOSE_CAMPAIGN,
    EVALUATE_CYCLE,
    GAP_REVIEW,
    OPEN_CALIBRATION,
    OPEN_CAMPAIGN,
    RECORD_STAGE,
    RESOLVE_FRAMEWORK,
)
from libs.workflows.messages import (
    FrameworkRef,
)
from services.cycles.adapters.activities import cycle_stream, stage_activity
from services.cycles.workflows.review_cycle import (
    TASK_QUEUE,
    CycleRequest,
    ReviewCycleWorkflow,
)
from tests.support.review_cycle import CONVERTER, HISTORIES, KEYS, MANAGERS, Cycles, running_cycles

STAGES = [
    "started",
    "campaign open",
    "calibration",
    "gap review",
    "development plans",
    "promotion evaluation",
    "completed",
]


@dataclass
class Traced:
    cycles: Cycles
    exporter: InMemorySpanExporter
    tracer_provider: TracerProvider
    store: EventStore


@pytest.fixture
async def traced(store: EventStore) -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(__name__)
    async with running_cycles(
        record_stage=stage_activity(store, "service:cycles", tracer),
        interceptors=interceptors(tracer),
    ) as cycles:
        yield Traced(cycles, exporter, provider, store)
    provider.shutdown()


def _by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


async def test_each_stage_is_a_trace_with_its_activities_and_events(traced: Traced) -> None:
    cycles = traced.cycles
    handle = await cycles.start("cycle-t", last_number=1)
    await cycles.to_gap_review(handle)
    for manager in MANAGERS:
        await handle.signal(ReviewCycleWorkflow.acknowledge_gaps, manager)
    await handle.result()
    spans = list(traced.exporter.get_finished_spans())

    # The starting trace: the client's StartWorkflow, the workflow, and every transition.
    (start,) = _by_name(spans, "StartWorkflow:ReviewCycleWorkflow")
    cycle_trace = _trace_id(start)
    transitions = _by_name(spans, f"RunActivity:{RECORD_STAGE.name}")
    assert len(transitions) == len(STAGES)
    assert {_trace_id(s) for s in transitions} == {cycle_trace}

    # A root span per stage, in a trace of its own, linked to the starting trace.
    stage_spans = {
        str(s.attributes["talentledger.cycle.stage"]): s  # type: ignore[index]
        for s in spans
        if s.name.startswith("cycle stage: ")
    }
    assert list(stage_spans) == STAGES
    assert len({_trace_id(s) for s in stage_spans.values()} | {cycle_trace}) == len(STAGES) + 1
    for number, (stage, span) in enumerate(stage_spans.items(), start=1):
        assert span.name == f"cycle stage: {stage}"
        assert span.parent is None
        assert dict(span.attributes or {}) == {
            "talentledger.cycle.id": "cycle-t",
            "talentledger.cycle.round_id": "cycle-t.1",
            "talentledger.cycle.stage": stage,
            "talentledger.cycle.stage_number": number,
            "talentledger.cycle.number": 1,
        }
        assert [link.context.trace_id for link in span.links] == [cycle_trace]

    # The activities started during a stage are in its trace, under its root.
    traces: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        traces[_trace_id(span)].append(span)

    def stage_of(activity: str) -> list[str]:
        runs = _by_name(spans, f"RunActivity:{activity}")
        assert runs, activity
        return [
            stage
            for stage, root in stage_spans.items()
            for run in runs
            if _trace_id(root) == _trace_id(run)
        ]

    assert stage_of(RESOLVE_FRAMEWORK.name) == ["started"]
    assert stage_of(OPEN_CAMPAIGN.name) == ["campaign open"]
    assert stage_of(CLOSE_CAMPAIGN.name) == ["campaign open"]
    assert stage_of(OPEN_CALIBRATION.name) == ["campaign open"]  # it prepares the next stage
    assert stage_of(GAP_REVIEW.name) == ["calibration"]
    assert stage_of(EVALUATE_CYCLE.name) == ["promotion evaluation"]
    for stage in ("campaign open", "promotion evaluation"):
        root = stage_spans[stage]
        members = traces[_trace_id(root)]
        assert [s for s in members if s.parent is None] == [root]
        ids = {s.context.span_id for s in members if s.context is not None}
        assert all(
            s.parent is not None and s.parent.span_id in ids for s in members if s is not root
        )
        starts = [s for s in members if s.name.startswith("StartActivity:")]
        assert starts
        assert root.context is not None
        assert all(s.parent and s.parent.span_id == root.context.span_id for s in starts)

    # The transition's event carries its stage's trace to the relay and the consumers.
    events = await traced.store.read_stream(cycle_stream("cycle-t.1"))
    assert [(await traced.store.decode(e)).stage for e in events] == STAGES  # type: ignore[attr-defined]
    for event, stage in zip(events, STAGES, strict=True):
        trace_id = format(_trace_id(stage_spans[stage]), "032x")
        assert event.trace_context["traceparent"].split("-")[1] == trace_id

    # Replay, with the same interceptors, does not depend on the spans or the headers.
    replayer = Replayer(
        workflows=[ReviewCycleWorkflow],
        data_converter=CONVERTER,
        interceptors=interceptors(traced.tracer_provider.get_tracer(__name__)),
    )
    await replayer.replay_workflow(await handle.fetch_history())
    # Stored histories were recorded before payloads were encrypted.
    earlier = Replayer(
        workflows=[ReviewCycleWorkflow],
        data_converter=data_converter(KEYS, plaintext=True),
        interceptors=interceptors(traced.tracer_provider.get_tracer(__name__)),
    )
    for path in sorted(HISTORIES.glob("review_cycle_*.json")):
        await earlier.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))


async def test_a_workflow_started_without_a_trace_still_traces_its_stages(
    traced: Traced,
) -> None:
    """A cycle started where no span is current (a schedule, the CLI without tracing):
    TracingInterceptor records nothing for the workflow, the stages are traced anyway."""
    cycles = traced.cycles
    client_without_tracing = type(cycles.env.client)(
        **{**cycles.env.client.config(), "interceptors": []}
    )
    handle: Any = await client_without_tracing.start_workflow(
        ReviewCycleWorkflow.run,
        CycleRequest(
            cycle_id="cycle-u",
            framework=FrameworkRef(framework_id="product-engineering"),
            requested_by="hannah-hr",
            last_number=1,
        ),
        id="cycle-u",
        task_queue=TASK_QUEUE,
    )
    await cycles.reach(handle, "campaign open")
    for _ in range(100):  # the stage is set as its activities start: wait for them to end
        spans = list(traced.exporter.get_finished_spans())
        if _by_name(spans, f"RunActivity:{OPEN_CAMPAIGN.name}"):
            break
        await asyncio.sleep(0.05)
    assert not _by_name(spans, "StartWorkflow:ReviewCycleWorkflow")
    (campaign,) = _by_name(spans, "cycle stage: campaign open")
    (opened,) = _by_name(spans, f"RunActivity:{OPEN_CAMPAIGN.name}")
    assert _trace_id(opened) == _trace_id(campaign)
    await handle.terminate()
