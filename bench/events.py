"""The event types the benchmarks append, registered like any other payload schema.

Each benchmark has its own log (schema). The schema name doubles as the event's context:
the relay publishes on `talentledger.<schema>.…` and a consumer subscribes on
`talentledger.<context>.…`, so the two must agree.
"""

from __future__ import annotations

from libs.events.envelope import EventMetadata
from libs.events.registry import IntegrationEvent, registry

APPENDS_SCHEMA = "bench"
LATENCY_SCHEMA = "bench_latency"
METADATA = EventMetadata(actor="bench")
# Pads the payload to the size of a typical small domain event (a few ids and a label).
_NOTE = "benchmark payload " * 6


@registry.event
class BenchEvent(IntegrationEvent):
    """A small event: `n` numbers it within a run, `writer` says which writer appended it."""

    event_type = "BenchEvent"
    schema_version = 1
    context = APPENDS_SCHEMA

    n: int
    writer: int = 0
    note: str = _NOTE


@registry.event
class LatencyProbe(IntegrationEvent):
    """The same payload as `BenchEvent`, in the latency benchmark's own log."""

    event_type = "LatencyProbe"
    schema_version = 1
    context = LATENCY_SCHEMA

    n: int
    writer: int = 0
    note: str = _NOTE


def payload(n: int, writer: int = 0) -> dict[str, object]:
    """The JSON payload of `BenchEvent(n, writer)`, for baselines that bypass the store."""
    return {"n": n, "writer": writer, "note": _NOTE}
