"""Command handlers of the framework service: load the aggregate, decide, append atomically.

Every command carries the actor who issued it; it is recorded on each event appended. The
stream version read with the state guards the append, so two concurrent edits of one draft
cannot both land (the loser gets `ConcurrencyError`, HTTP 409, and retries on fresh state).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from psycopg import AsyncConnection

from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.framework import FrameworkPublished, Revision
from libs.events.store import EventStore
from services.framework.domain.drafting import FrameworkAggregate
from services.framework.domain.events import DraftReplaced, DraftStarted
from services.framework.domain.rules import Problem

# Events that set the whole draft: nothing before the latest of them shapes it.
WHOLE_DRAFT = (DraftStarted.event_type, DraftReplaced.event_type)


class VersionRecord(Protocol):
    """Where published versions are kept for history and as-of queries (a read model)."""

    async def record(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: FrameworkPublished
    ) -> None: ...


Decision = Callable[[FrameworkAggregate], list[IntegrationEvent]]


def stream_of(framework_id: str) -> str:
    return f"framework-{framework_id}"


async def load(store: EventStore, framework_id: str) -> FrameworkAggregate:
    """The aggregate, read from its latest whole-document events rather than from the start.

    A publication and a draft replacement each carry the whole framework, and the state
    needs only the latest publication and the draft: so reading starts at the latest of
    those, plus the latest publication if a replacement came after it. Loading then costs
    the same at version 50 as at version 2.
    """
    stream = stream_of(framework_id)
    aggregate = FrameworkAggregate(framework_id)
    published = await store.last_version_of(stream, [FrameworkPublished.event_type])
    replaced = await store.last_version_of(stream, WHOLE_DRAFT)
    envelopes = await store.read_stream(stream, after_version=max(published, replaced, 1) - 1)
    if 0 < published < replaced:
        envelopes[:0] = await store.read_stream(
            stream, after_version=published - 1, until_version=published
        )
    for envelope in envelopes:
        aggregate.apply(store.decode(envelope), envelope.stream_version)
    return aggregate


async def execute(
    store: EventStore, framework_id: str, actor: str, decide: Decision
) -> FrameworkAggregate:
    """Run one draft command; return the aggregate with its events applied."""
    aggregate = await load(store, framework_id)
    events = decide(aggregate)
    recorded = await store.append(
        stream_of(framework_id), aggregate.stream_version, events, EventMetadata(actor=actor)
    )
    for event, envelope in zip(events, recorded, strict=True):
        aggregate.apply(event, envelope.stream_version)
    return aggregate


async def publish(
    store: EventStore,
    versions: VersionRecord,
    framework_id: str,
    actor: str,
    requested: Revision | None = None,
) -> tuple[FrameworkPublished, list[Problem]]:
    """Publish the draft as the next version; return it with the warnings found.

    The events and the published-versions row are one transaction: a version is either
    fully published (citable, queryable, on its way to consumers) or not at all.
    """
    aggregate = await load(store, framework_id)
    events, problems = aggregate.publish(datetime.now(UTC), requested)
    published = events[0]
    assert isinstance(published, FrameworkPublished)
    async with store.transaction() as conn:
        recorded = await store.append(
            stream_of(framework_id),
            aggregate.stream_version,
            events,
            EventMetadata(actor=actor),
            conn=conn,
        )
        await versions.record(conn, recorded[0], published)
    return published, problems
