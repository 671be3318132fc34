"""The assessment service's ports in memory (services/assessment/application/ports.py): the
campaign records beside the shared event log and replicas, held by the shared unit of work
(tests/support/memory.py), which rolls back on error. What the PostgreSQL adapters do is
mirrored closely enough for the use cases to behave alike; the integration tests keep the
adapters themselves honest.

`MemoryAssessment.before_append` lets a test run something between a use case's reads and
its append (another command winning a race), and `MemoryWork.holds` records which
campaign each transaction held, and how. At the end, a small organisation and helpers to open
a campaign on it and rate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta

from libs.events.envelope import Appended, EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CampaignOpened
from services.assessment.application import launching, nominations, rating
from services.assessment.application.campaigns import Campaigns
from services.assessment.application.launching import Population
from services.assessment.application.ports import RecordedSubmission
from services.assessment.domain.aggregation import CompetencyResult
from services.assessment.domain.calibration_inputs import SignalKind, Signals
from services.assessment.domain.campaigns import (
    CampaignSettings,
    PeerNominated,
    PeerNominationDecided,
    SubmissionRecorded,
    submission_ratings,
)
from services.assessment.domain.raters import Nomination
from services.assessment.domain.ratings import RaterGroup, Rating
from services.assessment.domain.submissions import Answer
from tests.support.memory import (
    MemoryEventLog,
    MemoryFrameworkVersions,
    MemoryOrgChart,
    MemoryUnitOfWork,
    person,
)
from tests.support.sample_frameworks import valid_framework


@dataclass
class _Submission:
    group: RaterGroup
    final: bool
    answers: list[tuple[str, int | None, str | None]]


class MemoryRecords:
    """`log` gives the events of the service's log, which the queries about one person read."""

    def __init__(self, log: Callable[[], list[IntegrationEvent]] = list) -> None:
        self.log = log
        self.submissions: dict[tuple[str, str, str], _Submission] = {}
        self.nominations: dict[tuple[str, str, str], str] = {}
        self.calibrated: dict[tuple[str, str], str] = {}
        self.frozen: dict[str, set[tuple[str, str]]] = {}
        self.calibration_inputs: dict[str, dict[int, CompetencyResult]] = {}
        self.signals: dict[str, Signals] = {}

    async def record_submission(self, recorded: SubmissionRecorded, stream_version: int) -> None:
        s = recorded.submission
        self.submissions[(s.campaign, s.subject, s.rater)] = _Submission(
            recorded.group,
            s.final,
            [(a.item, a.value, a.comment, a.not_relevant) for a in s.answers],
        )

    async def record_nomination(self, campaign_id: str, nomination: Nomination) -> None:
        key = (campaign_id, nomination.subject, nomination.peer)
        self.nominations[key] = nomination.state

    async def ratings(
        self, campaign_id: str, subjects: Iterable[str] | None = None
    ) -> list[Rating]:
        wanted = None if subjects is None else set(subjects)
        return [
            rating
            for (campaign, subject, rater), s in self.submissions.items()
            if campaign == campaign_id and (wanted is None or subject in wanted)
            for rating in submission_ratings(subject, rater, s.group, s.answers)
        ]

    async def freeze_assignments(
        self, campaign_id: str, assignments: Iterable[tuple[str, str]]
    ) -> None:
        self.frozen.setdefault(campaign_id, set(assignments))

    async def frozen_assignments(
        self, campaign_id: str, subjects: Iterable[str] | None = None
    ) -> set[tuple[str, str]] | None:
        if campaign_id not in self.frozen:
            return None
        wanted = None if subjects is None else set(subjects)
        return {(s, r) for s, r in self.frozen[campaign_id] if wanted is None or s in wanted}

    async def submission_count(self, campaign_id: str) -> int:
        return sum(1 for campaign, _, _ in self.submissions if campaign == campaign_id)

    async def finalised(self, campaign_id: str) -> set[tuple[str, str]]:
        return {
            (subject, rater)
            for (campaign, subject, rater), s in self.submissions.items()
            if campaign == campaign_id and s.final
        }

    async def approved_peers(self, campaign_id: str) -> list[Nomination]:
        return [
            Nomination(subject, peer, nominated_by="", state="approved")
            for (campaign, subject, peer), state in self.nominations.items()
            if campaign == campaign_id and state == "approved"
        ]

    async def rated_as_peer(self, campaign_id: str, peer: str) -> list[str]:
        return sorted(
            subject
            for (campaign, subject, p), state in self.nominations.items()
            if campaign == campaign_id and p == peer and state == "approved"
        )

    async def submitted_by(self, campaign_id: str, rater: str) -> dict[str, bool]:
        return {
            subject: s.final
            for (campaign, subject, r), s in self.submissions.items()
            if campaign == campaign_id and r == rater
        }

    async def claim_for_calibration(
        self, campaign_id: str, session_id: str, subjects: list[str]
    ) -> dict[str, str]:
        claimed = self.calibrated
        taken = {s: claimed[(campaign_id, s)] for s in subjects if (campaign_id, s) in claimed}
        for subject in subjects:
            claimed.setdefault((campaign_id, subject), session_id)
        return taken

    async def campaigns_assessing(self, person: str) -> list[str]:
        return [
            e.campaign_id
            for e in self.log()
            if isinstance(e, CampaignOpened) and person in e.population
        ]

    async def submissions_involving(
        self, person: str, *, for_erasure: bool = False
    ) -> list[RecordedSubmission]:
        return [
            RecordedSubmission(campaign, subject, rater, s.group, s.final, list(s.answers))
            for (campaign, subject, rater), s in sorted(self.submissions.items())
            if person in (subject, rater)
        ]

    async def rewrite_answers(self, submission: RecordedSubmission) -> None:
        key = (submission.campaign_id, submission.subject, submission.rater)
        self.submissions[key] = replace(self.submissions[key], answers=submission.answers)

    async def nominations_involving(self, person: str) -> list[tuple[str, str]]:
        return sorted(
            {
                (e.campaign_id, e.subject)
                for e in self.log()
                if (isinstance(e, PeerNominated) and person in (e.subject, e.peer, e.nominated_by))
                or (
                    isinstance(e, PeerNominationDecided)
                    and person in (e.subject, e.peer, e.decided_by)
                )
            }
        )

    async def calibrations_of(self, person: str) -> list[str]:
        return [
            session
            for (_, subject), session in sorted(self.calibrated.items())
            if subject == person
        ]

    async def record_calibration_items(
        self, session_id: str, first: int, items: list[CompetencyResult]
    ) -> None:
        stored = self.calibration_inputs.setdefault(session_id, {})
        for ordinal, item in enumerate(items, first):
            stored.setdefault(ordinal, item)

    async def calibration_items(
        self,
        session_id: str,
        subjects: Sequence[str] | None = None,
        first: int = 0,
        limit: int = 0,
    ) -> list[CompetencyResult]:
        stored = sorted(self.calibration_inputs.get(session_id, {}).items())
        if subjects is not None:
            return [replace(i, groups=()) for _, i in stored if i.subject in subjects]
        found = [replace(i, groups=()) for n, i in stored if n >= first]
        return found[:limit] if limit else found

    async def record_calibration_signals(self, session_id: str, signals: Signals) -> None:
        self.signals.setdefault(session_id, signals)

    async def calibration_prepared(self, session_id: str) -> bool:
        return session_id in self.signals

    async def calibration_signals(
        self, session_id: str, kinds: Collection[SignalKind]
    ) -> Signals | None:
        found = self.signals.get(session_id)
        if found is None:
            return None
        return Signals(**{f.name: getattr(found, f.name) for f in fields(found) if f.name in kinds})


@dataclass(frozen=True)
class Hold:
    campaign_id: str
    exclusive: bool


@dataclass
class MemoryWork:
    events: MemoryEventLog = field(default_factory=lambda: MemoryEventLog("assessment"))
    records: MemoryRecords = field(default_factory=MemoryRecords)
    org_chart: MemoryOrgChart = field(default_factory=MemoryOrgChart)
    frameworks: MemoryFrameworkVersions = field(default_factory=MemoryFrameworkVersions)
    holds: list[Hold] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A function, not the bound method: a rollback's deep copy of the records would
        # copy the method's log with it.
        events = self.events
        self.records.log = lambda: events.everything()

    async def hold_campaign(self, campaign_id: str, *, exclusive: bool) -> None:
        self.holds.append(Hold(campaign_id, exclusive))


class MemoryAssessment(MemoryUnitOfWork[MemoryWork]):
    """The unit of work over `MemoryWork`, with `before_append`: work that commits between
    a transaction's reads and its first append (another command winning a race)."""

    def __init__(self) -> None:
        work = MemoryWork()
        super().__init__(work, work.events, work.records)
        self.before_append: list[Callable[[], Awaitable[None]]] = []
        self._racing = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryWork]:
        async with super().transaction() as work:
            yield replace(work, events=_RacedLog(work.events, self._race))

    async def _race(self) -> None:
        if not self.before_append or self._racing:
            return
        self._racing = True  # what the racer itself appends runs no other racer
        try:
            await self.before_append.pop(0)()
        finally:
            self._racing = False
        self.committed_meanwhile()


class _RacedLog:
    """The log as one transaction appends to it: `race` runs before its first append,
    when the transaction has written nothing another could see."""

    def __init__(self, log: MemoryEventLog, race: Callable[[], Awaitable[None]]) -> None:
        self._log = log
        self._race: Callable[[], Awaitable[None]] | None = race

    def __getattr__(self, name: str) -> object:
        return getattr(self._log, name)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[IntegrationEvent],
        metadata: EventMetadata,
    ) -> list[Appended]:
        if self._race is not None:
            race, self._race = self._race, None
            await race()
        return await self._log.append(stream_id, expected_version, events, metadata)


# -- a small organisation and a campaign on it, for the use-case tests ---------------------

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
CLOSES = NOW + timedelta(days=14)
CAMPAIGN = "spring"
HR = "hr-1"
# boss manages mgr and the peers p1..p3; mgr manages ann and cat; ann manages r1..r3.
ORGANISATION = (
    person("boss"),
    person("mgr", "boss", level="L4"),
    person("ann", "mgr"),
    person("cat", "mgr", department="Data"),
    person("r1", "ann", level="L2"),
    person("r2", "ann", level="L2"),
    person("r3", "ann", level="L2"),
    person("p1", "boss"),
    person("p2", "boss"),
    person("p3", "boss"),
)


def assessment_with_organisation() -> MemoryAssessment:
    """The organisation hired and framework `eng` version 1 received."""
    uow = MemoryAssessment()
    uow.work.org_chart.hire(*ORGANISATION)
    uow.work.frameworks.publish("eng", 1, valid_framework())
    return uow


async def open_spring(
    campaigns: Campaigns,
    employee_ids: list[str] | None = None,
    settings: CampaignSettings | None = None,
) -> CampaignOpened:
    """Campaign `spring` on framework `eng` version 1, for these people (default ann and cat)."""
    return await launching.open_campaign(
        campaigns,
        CAMPAIGN,
        "eng",
        1,
        Population(employee_ids=employee_ids or ["ann", "cat"]),
        CLOSES,
        HR,
        NOW,
        settings,
    )


async def rate(
    campaigns: Campaigns,
    subject: str,
    rater: str,
    value: int | None,
    *,
    final: bool = False,
    comment: str | None = None,
) -> bool:
    """The rater answers every item of the subject's questionnaire with `value`."""
    form = await rating.questionnaire_for(campaigns, CAMPAIGN, subject, rater)
    answers = [Answer(item=i.id, value=value, comment=comment) for i in form.items]
    return await rating.submit(campaigns, CAMPAIGN, subject, rater, answers, final, NOW)


async def approve_peers(campaigns: Campaigns, subject: str, manager: str, *peers: str) -> None:
    """The subject nominates the peers and their manager approves them."""
    for peer in peers:
        await nominations.nominate(campaigns, CAMPAIGN, subject, peer, subject, NOW)
        await nominations.decide_nomination(campaigns, CAMPAIGN, subject, peer, True, manager, NOW)
