"""What the framework service's use cases need from the world, as ports
(docs/architecture.md §1, Inside a service): the framework's event log (appended, and read
by who made each change) and the read models kept beside it (published versions, anchor
reviews, calibration findings), held in one transaction by a unit of
work (`libs.events.ports.UnitOfWork[Work]`). The PostgreSQL adapters implement them; the
application tests run on in-memory ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from libs.events.envelope import Appended, Envelope
from libs.events.ports import EventLog
from libs.events.schemas.assessment import AnchorFindingsRecorded, InconsistentAnchorsFound
from libs.events.schemas.framework import Approval, Framework, FrameworkPublished, Revision
from services.framework.domain.prelaunch_calibration import Rating


class VersionSummary(BaseModel):
    framework_id: str
    version: int
    revision: Revision
    published_at: datetime
    actor: str
    approvals: list[Approval] = Field(
        default_factory=list, description="the reviewers who approved it, when"
    )


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


class Change(BaseModel):
    """One event of a framework's log, as the record of who made it."""

    model_config = ConfigDict(frozen=True)

    framework_id: str
    change: str = Field(description="the event, e.g. CompetencyDefined")
    stream_version: int
    occurred_at: datetime


class RatingGiven(BaseModel):
    """One rating a rater gave (or revised) in a calibration before launch."""

    model_config = ConfigDict(frozen=True)

    framework_id: str
    exercise_id: str
    example: str
    rating: Rating
    rated_at: datetime


class RemarkMade(BaseModel):
    """A comment on a draft, or a reviewer's verdict with its comment: what someone wrote."""

    model_config = ConfigDict(frozen=True)

    framework_id: str
    kind: str = Field(description="the event, e.g. FrameworkDraftCommented")
    element: str | None = Field(None, description="the element commented on")
    verdict: str | None = Field(None, description="a reviewer's: approve or request_changes")
    text: str
    made_at: datetime


class Mention(BaseModel):
    """A step of a draft's authoring that names someone other than its actor: an invitation
    to contribute, a review round naming them, the approvals a publication recorded."""

    model_config = ConfigDict(frozen=True)

    framework_id: str
    kind: str = Field(description="the event, e.g. ReviewRoundOpened")
    named_as: str = Field(description="contributor, reviewer or approver")
    occurred_at: datetime


class Changes(Protocol):
    """The framework log read by who made each change (the actor every event records)."""

    async def made_by(self, actor: str) -> list[Change]:
        """Every change `actor` made to any framework, oldest first."""
        ...

    async def ratings_given_by(self, rater: str) -> list[RatingGiven]:
        """Every rating `rater` gave in calibrations before launch, oldest first."""
        ...

    async def remarks_by(self, author: str) -> list[RemarkMade]:
        """Every comment and verdict `author` wrote on a draft, oldest first."""
        ...

    async def mentions_of(self, person: str) -> list[Mention]:
        """Every authoring step that names `person` as contributor, reviewer or approver,
        oldest first."""
        ...


class VersionRecord(Protocol):
    """Where published versions are kept for history and as-of queries (a read model),
    written in the transaction of the `FrameworkPublished` event."""

    async def record(self, envelope: Appended, event: FrameworkPublished) -> None: ...

    async def history(self, framework_id: str) -> list[VersionSummary]:
        """The framework's versions, oldest first."""
        ...

    async def latest_of_each(self) -> list[VersionSummary]: ...

    async def published_by(self, actor: str) -> list[VersionSummary]:
        """The versions `actor` published, oldest first."""
        ...

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


class CalibrationFindings(Protocol):
    """What calibrations found about the framework's versions (AnchorFindingsRecorded)."""

    async def record(self, envelope: Envelope, event: AnchorFindingsRecorded) -> None:
        """Keep each session's findings once, however often they are delivered."""
        ...

    async def of(self, framework_id: str) -> list[AnchorFindingsRecorded]:
        """The framework's findings, oldest first."""
        ...


class Work(Protocol):
    """Everything one use case reads and writes, through one transaction."""

    @property
    def events(self) -> EventLog: ...

    @property
    def versions(self) -> VersionRecord: ...

    @property
    def anchor_reviews(self) -> AnchorReviews: ...

    @property
    def findings(self) -> CalibrationFindings: ...

    @property
    def changes(self) -> Changes: ...
