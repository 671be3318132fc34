"""Command handlers: publish a framework version; find a published one."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.events.envelope import Envelope, EventMetadata
from libs.events.schemas.framework import FrameworkPublished
from libs.events.store import EventStore
from services.framework.domain.publication import FrameworkDraft, check, revision_of


def stream_of(framework_id: str) -> str:
    return f"framework-{framework_id}"


async def load(store: EventStore, framework_id: str) -> tuple[int, list[FrameworkPublished]]:
    """The stream's version and every version published so far, oldest first."""
    events = await store.read_stream(stream_of(framework_id))
    versions = [store.decode(e) for e in events if e.event_type == FrameworkPublished.event_type]
    stream_version = events[-1].stream_version if events else 0
    return stream_version, [v for v in versions if isinstance(v, FrameworkPublished)]


async def publish(
    store: EventStore, framework_id: str, draft: FrameworkDraft, actor: str
) -> Envelope:
    """Validate and publish the next version; the stream version guards concurrent publishes."""
    check(framework_id, draft)
    expected, versions = await load(store, framework_id)
    previous = versions[-1] if versions else None
    event = FrameworkPublished(
        framework_id=framework_id,
        version=len(versions) + 1,
        name=draft.name,
        revision=revision_of(previous, draft),
        scale_min=draft.scale_min,
        scale_max=draft.scale_max,
        levels=draft.levels,
        competencies=draft.competencies,
        published_at=datetime.now(UTC),
    )
    [recorded] = await store.append(
        stream_of(framework_id), expected, [event], EventMetadata(actor=actor)
    )
    return recorded
