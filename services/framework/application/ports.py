"""What the framework service's use cases need from the world, as ports
(docs/architecture.md §1, Inside a service): the framework's event log, the read models kept
beside it (published versions, anchor reviews), and the unit of work that holds them in one
transaction. The PostgreSQL adapters implement them; the application tests run on in-memory
ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import InconsistentAnchorsFound
from libs.events.schemas.framework import Framework, FrameworkPublished, Revision


class VersionSummary(BaseModel):
    framework_id: str
    version: int
    revision: Revision
    published_at: datetime
    actor: str


class PublishedVersion(VersionSummary):
    framework: Framework


class AnchorReview(BaseModel):
    """One competency whose anchors raters read differently in one calibration session."""

    model_config = ConfigDict(frozen=True)

    competency: str
    framework_version: int
    session_id: str
    flagged_items: int
    compared_items: int
    share: float
    found_at: datetime


class EventLog(Protocol):
    """The service's event log, which is also its outbox (docs/architecture.md §3, Append).
    Outside a unit of work each append is a transaction of its own."""

    async def last_version_of(self, stream_id: str, event_types: Sequence[str]) -> int:
        """The stream version of its latest event of these types; 0 when there is none."""
        ...

    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, until_version: int | None = None
    ) -> list[Envelope]: ...

    def decode(self, envelope: Envelope) -> IntegrationEvent:
        """The event an envelope carries, upcast to its current schema version."""
        ...

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[IntegrationEvent],
        metadata: EventMetadata,
    ) -> list[Envelope]:
        """Append if the stream is at `expected_version`, else raise, having written nothing."""
        ...


class VersionRecord(Protocol):
    """Where published versions are kept for history and as-of queries (a read model),
    written in the transaction of the `FrameworkPublished` event."""

    async def record(self, envelope: Envelope, event: FrameworkPublished) -> None: ...

    async def history(self, framework_id: str) -> list[VersionSummary]:
        """The framework's versions, oldest first."""
        ...

    async def latest_of_each(self) -> list[VersionSummary]: ...

    async def find(
        self, framework_id: str, version: int | None = None, as_of: datetime | None = None
    ) -> PublishedVersion | None:
        """The version asked for, else the one in force at `as_of`, else the latest."""
        ...


class AnchorReviews(Protocol):
    """Anchors to reword, from the assessment service's InconsistentAnchorsFound."""

    async def record(self, envelope: Envelope, event: InconsistentAnchorsFound) -> None:
        """Keep each finding once, however often it is delivered."""
        ...

    async def of(self, framework_id: str, since_version: int) -> list[AnchorReview]:
        """Reviews of the framework's anchors, worst share first, from a version on."""
        ...


class Work(Protocol):
    """Everything one use case reads and writes, through one transaction."""

    @property
    def events(self) -> EventLog: ...

    @property
    def versions(self) -> VersionRecord: ...

    @property
    def anchor_reviews(self) -> AnchorReviews: ...


class UnitOfWork(Protocol):
    """Where a use case's work begins and ends. An event reaction is handed the work of the
    transaction its consumer already opened (with the inbox claim) instead."""

    def reading(self) -> AbstractAsyncContextManager[Work]:
        """For queries: reads, and writes nothing."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Work]:
        """For commands: everything written commits together, or nothing does."""
        ...
