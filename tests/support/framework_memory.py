"""The framework service's ports in memory (services/framework/application/ports.py): its
event log and read models, held by one unit of work. Each answers as the PostgreSQL
adapter's query does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from libs.events.envelope import Appended, Envelope
from libs.events.schemas.assessment import InconsistentAnchorsFound
from libs.events.schemas.framework import FrameworkPublished
from services.framework.application.frameworks import Frameworks
from services.framework.application.ports import AnchorReview, PublishedVersion, VersionSummary
from tests.support.memory import MemoryEventLog, MemoryUnitOfWork


class MemoryPublishedVersions:
    def __init__(self) -> None:
        self.rows: list[PublishedVersion] = []

    async def record(self, envelope: Appended, event: FrameworkPublished) -> None:
        key = (event.framework_id, event.version)
        if any((v.framework_id, v.version) == key for v in self.rows):
            raise ValueError(f"version {key} is recorded already")  # the primary key
        self.rows.append(
            PublishedVersion(
                framework_id=event.framework_id,
                version=event.version,
                revision=event.revision,
                published_at=event.published_at,
                actor=envelope.actor,
                framework=event.framework,
                approvals=event.approvals,
            )
        )

    async def history(self, framework_id: str) -> list[VersionSummary]:
        theirs = sorted((v for v in self.rows if v.framework_id == framework_id), key=_version)
        return [_summary(v) for v in theirs]

    async def latest_of_each(self) -> list[VersionSummary]:
        latest: dict[str, PublishedVersion] = {}
        for v in sorted(self.rows, key=_version):
            latest[v.framework_id] = v
        return [_summary(v) for _, v in sorted(latest.items())]

    async def find(
        self, framework_id: str, version: int | None = None, as_of: datetime | None = None
    ) -> PublishedVersion | None:
        matching = [
            v
            for v in self.rows
            if v.framework_id == framework_id
            and (version is None or v.version == version)
            and (as_of is None or v.published_at <= as_of)
        ]
        return max(matching, key=_version, default=None)


def _version(v: PublishedVersion) -> int:
    return v.version


def _summary(v: PublishedVersion) -> VersionSummary:
    return VersionSummary.model_validate(v.model_dump(exclude={"framework"}))


class MemoryAnchorReviews:
    def __init__(self) -> None:
        # (session, competency) -> (framework id, review): the table's primary key
        self.rows: dict[tuple[str, str], tuple[str, AnchorReview]] = {}

    async def record(self, envelope: Envelope, event: InconsistentAnchorsFound) -> None:
        for a in event.anchors:
            review = AnchorReview(
                competency=a.competency,
                framework_version=event.framework_version,
                session_id=event.session_id,
                flagged_items=a.flagged_items,
                compared_items=a.compared_items,
                share=a.share,
                found_at=envelope.occurred_at,
            )
            self.rows.setdefault((event.session_id, a.competency), (event.framework_id, review))

    async def of(self, framework_id: str, since_version: int) -> list[AnchorReview]:
        found = [
            review
            for fid, review in self.rows.values()
            if fid == framework_id and review.framework_version >= since_version
        ]
        return sorted(found, key=lambda r: (-r.share, r.competency, r.found_at))


@dataclass
class MemoryFrameworkWork:
    events: MemoryEventLog = field(default_factory=lambda: MemoryEventLog("framework"))
    versions: MemoryPublishedVersions = field(default_factory=MemoryPublishedVersions)
    anchor_reviews: MemoryAnchorReviews = field(default_factory=MemoryAnchorReviews)


def memory_frameworks() -> tuple[Frameworks, MemoryFrameworkWork]:
    """The application on in-memory ports, and those ports to seed and inspect. Appends
    outside a unit of work go to the same log, as they do to the service's one store."""
    work = MemoryFrameworkWork()
    unit = MemoryUnitOfWork(work, work.events, work.versions, work.anchor_reviews)
    return Frameworks(work.events, unit), work
