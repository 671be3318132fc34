"""The envelope every event travels in, from the event store to JetStream and back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import uuid_utils.compat as uuid_compat
from pydantic import BaseModel, ConfigDict, Field


def new_event_id() -> UUID:
    """A UUIDv7: unique and time-ordered, so ids sort roughly by creation time."""
    return uuid_compat.uuid7()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """A recorded event: its metadata plus the payload as stored (a JSON object).

    `global_position` is unique and strictly increasing along the service's log but not
    dense (see `libs.events.store`). `actor` is the authenticated subject whose command
    caused the event, or `service:<name>` when a service reacts to another event.
    """

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    event_type: str
    schema_version: int = Field(ge=1)
    source: str = Field(
        description="the bounded context whose log recorded the event, or the outside system "
        "(hris, lms) that published it"
    )
    stream_id: str
    stream_version: int = Field(ge=1)
    global_position: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    correlation_id: UUID
    causation_id: UUID | None = None
    trace_context: dict[str, str] = Field(default_factory=dict)
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Appended:
    """What an append tells its caller of each event it wrote: the envelope as far as the
    writer knows it. Its log position and recording time are the database's, and no command
    needs them: reading them back would cost every append a result row (about a tenth of its
    CPU, bench/README.md). A reader of the log gets the whole `Envelope`."""

    event_id: UUID
    event_type: str
    schema_version: int
    stream_id: str
    stream_version: int
    occurred_at: datetime
    actor: str
    correlation_id: UUID
    causation_id: UUID | None


class EventMetadata(BaseModel):
    """Who and what caused the events of one append: shared by all events in it."""

    model_config = ConfigDict(frozen=True)

    actor: str = Field(min_length=1)
    correlation_id: UUID = Field(default_factory=new_event_id)
    causation_id: UUID | None = None

    @classmethod
    def reacting_to(cls, envelope: Envelope | Appended, actor: str) -> EventMetadata:
        """The metadata of events `actor` appends in reaction to `envelope`: the same
        correlation, caused by that event."""
        return cls(
            actor=actor, correlation_id=envelope.correlation_id, causation_id=envelope.event_id
        )
