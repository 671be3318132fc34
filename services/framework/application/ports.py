"""What the framework service's use cases need from the world, as ports
(docs/architecture.md §1, Inside a service): the framework's event log and the read models
kept beside it (published versions, anchor reviews), held in one transaction by a unit of
work (`libs.events.ports.UnitOfWork[Work]`). The PostgreSQL adapters implement them; the
application tests run on in-memory ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from libs.events.envelope import Envelope
from libs.events.ports import EventLog
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
