"""The framework service's use cases: draft commands (load the aggregate, decide, append
atomically), publication, and the queries on published versions and anchor reviews.

Every command carries the actor who issued it; it is recorded on each event appended. The
stream version read with the state guards the append, so two concurrent edits of one draft
cannot both land (the loser gets `ConcurrencyError`, HTTP 409, and retries on fresh state).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from libs.events.envelope import Envelope, EventMetadata
from libs.events.ports import EventLog, UnitOfWork
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import InconsistentAnchorsFound
from libs.events.schemas.framework import FrameworkPublished, Revision
from services.framework.application.ports import (
    AnchorReview,
    PublishedVersion,
    VersionSummary,
    Work,
)
from services.framework.domain import authoring
from services.framework.domain.authoring import AuthoringEvent, DraftAuthoring
from services.framework.domain.drafting import FrameworkAggregate
from services.framework.domain.events import DraftReplaced, DraftStarted
from services.framework.domain.rules import Problem

# Events that set the whole draft: nothing before the latest of them shapes it.
WHOLE_DRAFT = (DraftStarted.event_type, DraftReplaced.event_type)

Decision = Callable[[FrameworkAggregate], list[IntegrationEvent]]


def stream_of(framework_id: str) -> str:
    return f"framework-{framework_id}"


AUTHORING_STREAMS = "authoring-"
"""What the stream of every framework's co-authoring and review starts with."""


def authoring_stream(framework_id: str) -> str:
    # Not under `framework-`: no framework id can make one stream the other's.
    return f"{AUTHORING_STREAMS}{framework_id}"


async def load_authoring(events: EventLog, framework_id: str) -> DraftAuthoring:
    """Who is invited to the framework's draft, its comments and its review round."""
    state = DraftAuthoring(framework_id)
    for envelope in await events.read_stream(authoring_stream(framework_id)):
        event = await events.decode(envelope)
        assert isinstance(event, AuthoringEvent), envelope.event_type
        state.apply(event, envelope.stream_version)
    return state


async def load(events: EventLog, framework_id: str) -> FrameworkAggregate:
    """The aggregate, read from its latest whole-document events rather than from the start.

    A publication and a draft replacement each carry the whole framework, and the state
    needs only the latest publication and the draft: so reading starts at the latest of
    those, plus the latest publication if a replacement came after it. Loading then costs
    the same at version 50 as at version 2.
    """
    stream = stream_of(framework_id)
    aggregate = FrameworkAggregate(framework_id)
    published = await events.last_version_of(stream, [FrameworkPublished.event_type])
    replaced = await events.last_version_of(stream, WHOLE_DRAFT)
    envelopes = await events.read_stream(stream, after_version=max(published, replaced, 1) - 1)
    if 0 < published < replaced:
        envelopes[:0] = await events.read_stream(
            stream, after_version=published - 1, until_version=published
        )
    for envelope in envelopes:
        aggregate.apply(await events.decode(envelope), envelope.stream_version)
    return aggregate


class Frameworks:
    """`events`: the log, each append its own transaction; `unit_of_work`: transactions
    that keep the log and the read models together."""

    def __init__(self, events: EventLog, unit_of_work: UnitOfWork[Work]) -> None:
        self.events = events
        self.unit_of_work = unit_of_work

    # -- drafts ----------------------------------------------------------------------------

    async def draft(self, framework_id: str) -> FrameworkAggregate:
        """The framework as its events leave it: the draft and the latest publication."""
        return await load(self.events, framework_id)

    async def execute(self, framework_id: str, actor: str, decide: Decision) -> FrameworkAggregate:
        """Run one draft command; return the aggregate with its events applied."""
        aggregate = await load(self.events, framework_id)
        events = decide(aggregate)
        recorded = await self.events.append(
            stream_of(framework_id), aggregate.stream_version, events, EventMetadata(actor=actor)
        )
        for event, envelope in zip(events, recorded, strict=True):
            aggregate.apply(event, envelope.stream_version)
        return aggregate

    async def publish(
        self, framework_id: str, actor: str, requested: Revision | None = None
    ) -> tuple[FrameworkPublished, list[Problem]]:
        """Publish the draft as the next version; return it with the warnings found.

        The events, the end of the review round and the published-versions row are one
        transaction: a version is either fully published (citable, queryable, on its way to
        consumers) or not at all. Both streams are appended at the versions read, so a
        verdict or an edit that lands meanwhile refuses the publication (409) rather than
        slip past the approvals counted.
        """
        aggregate = await load(self.events, framework_id)
        review = await load_authoring(self.events, framework_id)
        events, closing, problems = authoring.publish(
            aggregate, review, datetime.now(UTC), requested
        )
        published = events[0]
        assert isinstance(published, FrameworkPublished)
        metadata = EventMetadata(actor=actor)
        async with self.unit_of_work.transaction() as work:
            recorded = await work.events.append(
                stream_of(framework_id), aggregate.stream_version, events, metadata
            )
            if closing:
                await work.events.append(
                    authoring_stream(framework_id), review.stream_version, closing, metadata
                )
            await work.versions.record(recorded[0], published)
        return published, problems

    # -- published versions ------------------------------------------------------------------

    async def history(self, framework_id: str) -> list[VersionSummary]:
        """The framework's published versions, oldest first."""
        async with self.unit_of_work.reading() as work:
            return await work.versions.history(framework_id)

    async def latest_of_each(self) -> list[VersionSummary]:
        """Every published framework with its latest version."""
        async with self.unit_of_work.reading() as work:
            return await work.versions.latest_of_each()

    async def published(
        self, framework_id: str, version: int | None = None, as_of: datetime | None = None
    ) -> PublishedVersion | None:
        """The version asked for, else the one in force at `as_of`, else the latest."""
        async with self.unit_of_work.reading() as work:
            return await work.versions.find(framework_id, version, as_of)

    # -- anchor reviews (docs/domain.md §4: inconsistent anchors feed the next minor revision)

    async def on_inconsistent_anchors(
        self, work: Work, envelope: Envelope, event: InconsistentAnchorsFound
    ) -> None:
        await work.anchor_reviews.record(envelope, event)

    async def anchor_reviews(self, framework_id: str, since_version: int = 1) -> list[AnchorReview]:
        """Anchors raters read differently, worst share first, from a version on."""
        async with self.unit_of_work.reading() as work:
            return await work.anchor_reviews.of(framework_id, since_version)
