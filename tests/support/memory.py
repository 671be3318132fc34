"""In-memory implementations of the ports every service's application shares: the event log
and the unit of work (docs/architecture.md §1, Inside a service). Application tests run on
them in milliseconds; the PostgreSQL adapters have integration tests of their own."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Generic, TypeVar

from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import IntegrationEvent, registry
from libs.events.store import ConcurrencyError

W = TypeVar("W")


class MemoryEventLog:
    """One service's log in a list. An append names the stream's expected version and, on a
    conflict, raises and writes nothing (docs/architecture.md §3, Append)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.envelopes: list[Envelope] = []

    def stream(self, stream_id: str) -> list[Envelope]:
        return [e for e in self.envelopes if e.stream_id == stream_id]

    def events(self, stream_id: str) -> list[IntegrationEvent]:
        return [self.decode(e) for e in self.stream(stream_id)]

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[IntegrationEvent],
        metadata: EventMetadata,
    ) -> list[Envelope]:
        if not events:
            return []
        current = len(self.stream(stream_id))
        if current != expected_version:
            raise ConcurrencyError(stream_id, expected_version, current)
        now = datetime.now(UTC)
        appended = [
            Envelope(
                event_id=uuid.uuid4(),
                event_type=event.event_type,
                schema_version=event.schema_version,
                source=self.source,
                stream_id=stream_id,
                stream_version=current + n,
                global_position=len(self.envelopes) + n,
                occurred_at=now,
                recorded_at=now,
                actor=metadata.actor,
                correlation_id=metadata.correlation_id,
                causation_id=metadata.causation_id,
                payload=event.model_dump(mode="json"),
            )
            for n, event in enumerate(events, start=1)
        ]
        self.envelopes += appended
        return appended

    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, until_version: int | None = None
    ) -> list[Envelope]:
        return [
            e
            for e in self.stream(stream_id)
            if e.stream_version > after_version
            and (until_version is None or e.stream_version <= until_version)
        ]

    async def last_version_of(self, stream_id: str, event_types: Sequence[str]) -> int:
        found = [e.stream_version for e in self.stream(stream_id) if e.event_type in event_types]
        return max(found, default=0)

    def decode(self, envelope: Envelope) -> IntegrationEvent:
        return registry.decode(envelope.event_type, envelope.schema_version, envelope.payload)


class MemoryUnitOfWork(Generic[W]):
    """Hands out one in-memory `work`. A transaction that raises puts every object in
    `kept` back as it found it, as a rollback would; `commits` and `rollbacks` count them."""

    def __init__(self, work: W, *kept: object) -> None:
        self.work = work
        self.kept = kept
        self.commits = 0
        self.rollbacks = 0

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[W]:
        yield self.work

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[W]:
        saved = [copy.deepcopy(vars(kept)) for kept in self.kept]
        try:
            yield self.work
        except BaseException:
            for kept, state in zip(self.kept, saved, strict=True):
                vars(kept).clear()
                vars(kept).update(state)
            self.rollbacks += 1
            raise
        self.commits += 1
