"""A framework's upkeep cadence (docs/framework.md, Review and revision cadence): its state,
reviews HR records, and the periodic check that announces what falls due.

Each framework's cadence is a stream of its own in the service's log (`cadence-<id>`:
never the framework's stream, so a check never races a draft edit), holding the reviews
recorded (private) and the due announcements (public). Publications are read from the
published versions. Every append is guarded by the stream version read with the state, so
of two checkers (two replicas, or one restarted mid-round) deciding the same announcement
only one lands; the other reads the stream again and finds it there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from libs.events.concurrency import ConcurrencyError
from libs.events.envelope import EventMetadata
from libs.events.ports import EventLog, UnitOfWork
from libs.events.schemas.framework import FrameworkReviewDue, FrameworkRevisionDue
from services.framework.application.ports import Work
from services.framework.domain.cadence import (
    Announcement,
    Cadence,
    CadencePolicy,
    FrameworkReviewRecorded,
    Publication,
    announcements,
    cadence,
)
from services.framework.domain.drafting import FrameworkError

log = logging.getLogger(__name__)

CADENCE_STREAMS = "cadence-"
"""What every framework's cadence stream id starts with (no framework stream does)."""
ACTOR = "service:framework"
"""Who appends the due announcements."""
ATTEMPTS = 5
"""Rounds of one framework's check that may lose a race before it is left to the next."""


def cadence_stream(framework_id: str) -> str:
    return f"{CADENCE_STREAMS}{framework_id}"


class NotPublished(FrameworkError):
    """The framework has no published version: there is nothing to keep up yet."""


class NotLatest(FrameworkError):
    """A review recorded of a version that is not the latest."""


def _now() -> datetime:
    return datetime.now(UTC)


class FrameworkCadence:
    """`clock` says what time it is (a test moves it on)."""

    def __init__(
        self,
        events: EventLog,
        unit_of_work: UnitOfWork[Work],
        policy: CadencePolicy,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.events = events
        self.unit_of_work = unit_of_work
        self.policy = policy
        self.clock = clock

    async def _read(
        self, framework_id: str
    ) -> tuple[list[Publication], list[FrameworkReviewRecorded], list[Announcement], int]:
        """Publications, reviews recorded, announcements made and the cadence stream's
        version (what an append to it must expect)."""
        async with self.unit_of_work.reading() as work:
            history = await work.versions.history(framework_id)
        publications = [
            Publication(version=v.version, revision=v.revision, published_at=v.published_at)
            for v in history
        ]
        reviews: list[FrameworkReviewRecorded] = []
        announced: list[Announcement] = []
        version = 0
        for envelope in await self.events.read_stream(cadence_stream(framework_id)):
            event = await self.events.decode(envelope)
            version = envelope.stream_version
            if isinstance(event, FrameworkReviewRecorded):
                reviews.append(event)
            elif isinstance(event, FrameworkReviewDue | FrameworkRevisionDue):
                announced.append(event)
        return publications, reviews, announced, version

    async def state(self, framework_id: str) -> Cadence:
        publications, reviews, _, _ = await self._read(framework_id)
        if not publications:
            raise NotPublished(f"framework {framework_id!r} has no published version")
        return cadence(framework_id, publications, reviews, self.policy, self.clock())

    async def states(self) -> list[Cadence]:
        """Every published framework's cadence, by framework id."""
        async with self.unit_of_work.reading() as work:
            frameworks = sorted(v.framework_id for v in await work.versions.latest_of_each())
        return [await self.state(framework_id) for framework_id in frameworks]

    async def record_review(self, framework_id: str, version: int, actor: str) -> Cadence:
        """HR reviewed the latest version and found nothing to change."""
        for _ in range(ATTEMPTS):
            publications, _, _, stream_version = await self._read(framework_id)
            if not publications:
                raise NotPublished(f"framework {framework_id!r} has no published version")
            latest = max(p.version for p in publications)
            if version != latest:
                raise NotLatest(
                    f"version {version} of framework {framework_id!r} is not the latest "
                    f"({latest}): review the latest version"
                )
            recorded = FrameworkReviewRecorded(version=version, reviewed_at=self.clock())
            try:
                await self.events.append(
                    cadence_stream(framework_id),
                    stream_version,
                    [recorded],
                    EventMetadata(actor=actor),
                )
            except ConcurrencyError:
                continue  # a check announced something meanwhile: read again
            return await self.state(framework_id)
        raise ConcurrencyError(cadence_stream(framework_id), stream_version, None)

    # -- the periodic check ------------------------------------------------------------------

    async def check(self) -> list[Announcement]:
        """Announce every due obligation not announced yet, for every published framework;
        what this round appended."""
        async with self.unit_of_work.reading() as work:
            frameworks = sorted(v.framework_id for v in await work.versions.latest_of_each())
        appended: list[Announcement] = []
        for framework_id in frameworks:
            try:
                appended += await self._check(framework_id)
            except Exception:
                log.exception("cadence check of framework %r failed; next round", framework_id)
        return appended

    async def _check(self, framework_id: str) -> list[Announcement]:
        for _ in range(ATTEMPTS):
            publications, reviews, announced, version = await self._read(framework_id)
            if not publications:
                return []
            state = cadence(framework_id, publications, reviews, self.policy, self.clock())
            due = announcements(state, announced)
            if not due:
                return []
            try:
                await self.events.append(
                    cadence_stream(framework_id), version, due, EventMetadata(actor=ACTOR)
                )
            except ConcurrencyError:
                continue  # another checker, or a review, got there first: decide again
            return due
        log.warning("cadence check of framework %r kept losing races; next round", framework_id)
        return []
