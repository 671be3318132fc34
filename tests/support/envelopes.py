"""Events as another context's log recorded them and its consumer hands them over: for
seeding read models through their handlers and driving a service's event reactions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from libs.events.envelope import Envelope
from libs.events.registry import IntegrationEvent


def envelope(
    event: IntegrationEvent, stream_id: str, version: int = 1, at: datetime | None = None
) -> Envelope:
    """`at`: when the event occurred (default now), for reactions that order events by it."""
    now = datetime.now(UTC)
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=event.event_type,
        schema_version=event.schema_version,
        source=event.context,
        stream_id=stream_id,
        stream_version=version,
        global_position=0,
        occurred_at=at or now,
        recorded_at=now,
        actor="tests",
        correlation_id=uuid.uuid4(),
        payload=event.model_dump(mode="json"),
    )
