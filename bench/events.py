"""The event types the benchmarks append, registered like any other payload schema.

Each benchmark has its own log (schema). The schema name doubles as the event's context:
the relay publishes on `talentledger.<schema>.…` and a consumer subscribes on
`talentledger.<context>.…`, so the two must agree.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict

from libs.events.envelope import EventMetadata
from libs.events.registry import IntegrationEvent, registry
from libs.personal.sealing import PersonalOf

APPENDS_SCHEMA = "bench"
LATENCY_SCHEMA = "bench_latency"
SEALED_SCHEMA = "bench_sealed"
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


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str
    value: int | None


class PlainAnswer(_Answer):
    comment: str | None = None


class SealedAnswer(_Answer):
    # As an assessment answer's comment (services/assessment/domain/submissions.py): it
    # belongs to the rater and the subject of the submission holding it.
    comment: Annotated[str | None, PersonalOf("rater", "subject")] = None


class _Submission(IntegrationEvent):
    """A rater's assessment of a subject, shaped like the assessment service's submissions:
    ten answers, one of them with a comment."""

    schema_version = 1
    context = SEALED_SCHEMA

    campaign: str
    subject: str
    rater: str
    final: bool
    n: int
    writer: int = 0


@registry.event
class PlainSubmission(_Submission):
    """The submission with a comment that is not personal data: stored as it is."""

    event_type = "BenchPlainSubmission"

    answers: list[PlainAnswer]


@registry.event
class SealedSubmission(_Submission):
    """The same submission with the comment personal data: sealed before it is stored."""

    event_type = "BenchSealedSubmission"

    answers: list[SealedAnswer]


def payload(n: int, writer: int = 0) -> dict[str, object]:
    """The JSON payload of `BenchEvent(n, writer)`, for baselines that bypass the store."""
    return {"n": n, "writer": writer, "note": _NOTE}
