"""Command and query handlers of 360 campaigns: load the aggregates, decide, append atomically.

A campaign is pinned to a framework version this service's replica holds; each subject's
questionnaire comes from their role profile in that version, and who rates them from the org
chart as it stands when the rating happens, plus the peers their manager approved.

Concurrency: commands about one subject append to that subject's stream with the version
they read, so a lost race is decided again on fresh state. Closing must not let a submission
through that read the campaign as open: subject commands hold a shared advisory lock on the
campaign and re-check it is not closed inside their transaction; closing takes the lock
exclusively. Subjects never wait for each other, only for a close.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from libs.events.envelope import EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CampaignClosed, CampaignOpened, RemindersSent
from libs.events.store import ConcurrencyError, EventStore
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import OrgChart
from services.assessment.adapters.postgres.campaign_records import CampaignRecords
from services.assessment.domain.aggregation import (
    CompetencyResult,
    SubjectCompetencyView,
    aggregate,
    subject_view,
)
from services.assessment.domain.campaigns import (
    Campaign,
    CampaignError,
    CampaignSettings,
    PeerNominated,
    PeerNominationDecided,
    SubjectAssessment,
    SubmissionRecorded,
)
from services.assessment.domain.questionnaires import Questionnaire, questionnaire
from services.assessment.domain.raters import Assignment, Nomination, OrgChartView, assignments
from services.assessment.domain.ratings import RaterGroup, Rating
from services.assessment.domain.submissions import Answer, Submission

# The public AssessmentSubmitted is relayed in its whole envelope, actor included, so naming
# the rater there would expose peers and direct reports (docs/domain.md §3, Anonymity). The rater
# is the actor of the private SubmissionRecorded; the announcement is the service's own,
# caused by it, in the same transaction.
ANNOUNCER = "service:assessment"
# Commands about different subjects never conflict; one about the same subject that loses a
# race is decided again on fresh state, this many times at most.
ATTEMPTS = 10
# Questionnaires cached per (framework, version, position): versions are immutable.
QUESTIONNAIRE_CACHE = 2048

_LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared(hashtextextended(%s, 0))"
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


class CampaignNotFound(CampaignError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id!r} not found")


class NotInCampaign(CampaignError):
    """The subject is not in the campaign's population."""


class NotARater(CampaignError):
    """The caller is not among the subject's raters in this campaign."""


class NotAllowed(CampaignError):
    """The caller may not see or do this for that subject."""


class UnknownFrameworkVersion(CampaignError):
    """The campaign would pin a framework version this service has not received."""


class NoRoleProfile(CampaignError):
    """The subject's position has no role profile in the campaign's framework version."""


class UnknownPopulation(CampaignError):
    """The requested population names nobody active in the org chart, or someone unknown."""


class ResultsNotReady(CampaignError):
    """Results are released at close only: while open, each new submission would change a
    group mean by exactly that rater's rating, and a subject could tell who moved it."""


@dataclass(frozen=True)
class Population:
    """Whom a campaign assesses: these employees, or everyone active in a department or a
    job family (or both), or everyone active."""

    employee_ids: list[str] | None = None
    department: str | None = None
    job_family: str | None = None


@dataclass(frozen=True)
class AssignmentStatus:
    subject: str
    group: RaterGroup
    submitted: bool
    final: bool


def stream_of(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def subject_stream_of(campaign_id: str, subject: str) -> str:
    return f"campaign-{campaign_id}:subject-{subject}"


class Campaigns:
    """The campaign use cases over the event store, the org chart and the framework replica."""

    def __init__(
        self,
        store: EventStore,
        org_chart: OrgChart,
        replica: FrameworkVersions,
        records: CampaignRecords,
    ) -> None:
        self.store = store
        self.org_chart = org_chart
        self.replica = replica
        self.records = records
        self._questionnaires: dict[tuple[str, int, tuple[str, str, str]], Questionnaire] = {}
        self._campaigns: dict[str, Campaign] = {}

    # -- loading ---------------------------------------------------------------------------

    async def campaign(self, campaign_id: str) -> Campaign:
        """The campaign as it stands; CampaignNotFound when it was never opened."""
        # CampaignOpened names the whole population: decoding it for every command made a
        # submission cost grow with the campaign (25 ms each at 10,000 people). Events never
        # change, so only the ones after the cached version are read.
        cached = self._campaigns.get(campaign_id)
        campaign = replace(cached) if cached else Campaign(campaign_id)
        stream = stream_of(campaign_id)
        for envelope in await self.store.read_stream(stream, after_version=campaign.stream_version):
            campaign.apply(self.store.decode(envelope), envelope.stream_version)
        if campaign.opened is None:
            raise CampaignNotFound(campaign_id)
        if len(self._campaigns) >= QUESTIONNAIRE_CACHE:
            self._campaigns.clear()
        self._campaigns[campaign_id] = campaign
        return replace(campaign)

    async def _subject(self, campaign: Campaign, subject: str) -> SubjectAssessment:
        if not campaign.assesses(subject):
            raise NotInCampaign(f"{subject!r} is not assessed in campaign {campaign.campaign_id!r}")
        assessment = SubjectAssessment(campaign.campaign_id, subject)
        stream = subject_stream_of(campaign.campaign_id, subject)
        for envelope in await self.store.read_stream(stream):
            assessment.apply(self.store.decode(envelope), envelope.stream_version)
        return assessment

    async def _org_around(
        self, conn: AsyncConnection[Any], assessment: SubjectAssessment, also: Iterable[str] = ()
    ) -> OrgChartView:
        """The subject, their manager, reports and nominated peers: what their commands need."""
        peers = [n.peer for n in assessment.nominations]
        return OrgChartView.of(
            await self.org_chart.around(conn, assessment.subject, [*peers, *also])
        )

    async def _questionnaire(
        self, conn: AsyncConnection[Any], campaign: Campaign, subject: str
    ) -> Questionnaire:
        opened = _opened(campaign)
        pinned = (opened.framework_id, opened.framework_version)
        position = campaign.position_of(subject)
        if position is None:
            raise NoRoleProfile(f"the org chart had no position for {subject!r} at opening")
        key = (*pinned, position)
        if (cached := self._questionnaires.get(key)) is not None:
            return cached
        framework = await self.replica.framework(conn, *pinned)
        profile = await self.replica.role_profile(conn, *pinned, position)
        if framework is None or profile is None:
            raise NoRoleProfile(
                f"framework {pinned[0]!r} version {pinned[1]} has no role profile for "
                f"{subject!r}'s position {'/'.join(position)}"
            )
        found = questionnaire(*pinned, framework, profile)
        if len(self._questionnaires) >= QUESTIONNAIRE_CACHE:
            self._questionnaires.clear()
        self._questionnaires[key] = found
        return found

    # -- writing ---------------------------------------------------------------------------

    async def _on_subject(
        self,
        campaign_id: str,
        subject: str,
        decide: Callable[
            [Campaign, SubjectAssessment, AsyncConnection[Any]],
            Awaitable[list[IntegrationEvent]],
        ],
        actor: str,
    ) -> list[IntegrationEvent]:
        """Run a command on one subject's assessment and append what it decides, retrying a
        lost race on fresh state."""
        for attempt in range(ATTEMPTS):
            campaign = await self.campaign(campaign_id)
            assessment = await self._subject(campaign, subject)
            async with self.store.pool.connection() as conn:
                events = await decide(campaign, assessment, conn)
            if not events:
                return []
            try:
                await self._append_subject(campaign, assessment, events, actor)
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
                # Raters of one subject submit at the same moment: back off with jitter so
                # that the losers do not collide again on the next attempt.
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
                continue
            return events
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _append_subject(
        self,
        campaign: Campaign,
        assessment: SubjectAssessment,
        events: Sequence[IntegrationEvent],
        actor: str,
    ) -> None:
        """Append to the subject's stream and update the campaign records, in one transaction,
        unless the campaign closed since it was read (then ConcurrencyError: decide again)."""
        campaign_stream = stream_of(campaign.campaign_id)
        stream = subject_stream_of(campaign.campaign_id, assessment.subject)
        async with self.store.transaction() as conn:
            await conn.execute(_LOCK_SHARED, (campaign_stream,))
            closed = await self.store.last_version_of(
                campaign_stream, [CampaignClosed.event_type], conn=conn
            )
            if closed and not campaign.closed:
                raise ConcurrencyError(campaign_stream, campaign.stream_version, closed)
            version = assessment.stream_version
            announcement: EventMetadata | None = None
            for event in events:
                metadata = (
                    announcement
                    if announcement is not None and not event.private
                    else EventMetadata(actor=actor)
                )
                [envelope] = await self.store.append(stream, version, [event], metadata, conn=conn)
                version = envelope.stream_version
                if isinstance(event, SubmissionRecorded):
                    # Its public announcement is the service's, caused by this record.
                    announcement = EventMetadata(
                        actor=ANNOUNCER,
                        correlation_id=envelope.correlation_id,
                        causation_id=envelope.event_id,
                    )
                    await self.records.record_submission(conn, event, version)
                elif isinstance(event, PeerNominated):
                    nomination = Nomination(event.subject, event.peer, event.nominated_by)
                    await self.records.record_nomination(conn, campaign.campaign_id, nomination)
                elif isinstance(event, PeerNominationDecided):
                    state = "approved" if event.approved else "rejected"
                    decided = Nomination(event.subject, event.peer, "", state)
                    await self.records.record_nomination(conn, campaign.campaign_id, decided)

    async def open_campaign(
        self,
        campaign_id: str,
        framework_id: str,
        framework_version: int,
        population: Population,
        closes_at: datetime,
        actor: str,
        now: datetime,
        settings: CampaignSettings | None = None,
    ) -> CampaignOpened:
        async with self.store.pool.connection() as conn:
            if await self.replica.framework(conn, framework_id, framework_version) is None:
                raise UnknownFrameworkVersion(
                    f"framework {framework_id!r} version {framework_version} has not reached "
                    "the assessment service: publish it, or wait for it to arrive"
                )
            org = OrgChartView.of(await self.org_chart.everyone(conn))
        campaign = Campaign(campaign_id)
        for envelope in await self.store.read_stream(stream_of(campaign_id)):
            campaign.apply(self.store.decode(envelope), envelope.stream_version)
        positions = {
            p.employee_id: (p.job_family, p.track, p.level)
            for p in org.people.values()
            if p.job_family and p.track and p.level
        }
        events = campaign.open(
            framework_id,
            framework_version,
            _members(population, org),
            closes_at,
            now,
            settings,
            positions,
        )
        await self.store.append(
            stream_of(campaign_id), campaign.stream_version, events, EventMetadata(actor=actor)
        )
        opened = events[0]
        assert isinstance(opened, CampaignOpened)
        return opened

    async def nominate(
        self, campaign_id: str, subject: str, peer: str, by: str, now: datetime
    ) -> Nomination:
        """A peer nominated by the subject or their manager, pending the manager's decision."""

        async def decide(
            campaign: Campaign, assessment: SubjectAssessment, conn: AsyncConnection[Any]
        ) -> list[IntegrationEvent]:
            org = await self._org_around(conn, assessment, [peer])
            return assessment.nominate(peer, by, org, campaign, now)

        await self._on_subject(campaign_id, subject, decide, by)
        return Nomination(subject, peer, by)

    async def decide_nomination(
        self, campaign_id: str, subject: str, peer: str, approve: bool, by: str, now: datetime
    ) -> Nomination:
        """The subject's manager approves or rejects a pending peer."""
        nominated_by: list[str] = []

        async def decide(
            campaign: Campaign, assessment: SubjectAssessment, conn: AsyncConnection[Any]
        ) -> list[IntegrationEvent]:
            org = await self._org_around(conn, assessment)
            events = assessment.decide(peer, approve, by, org, campaign, now)
            nominated_by[:] = [n.nominated_by for n in assessment.nominations if n.peer == peer]
            return events

        await self._on_subject(campaign_id, subject, decide, by)
        state = "approved" if approve else "rejected"
        return Nomination(subject, peer, nominated_by[-1], state, by)

    async def nominations(
        self, campaign_id: str, subject: str, viewer: str, hr: bool
    ) -> list[Nomination]:
        """The subject's peer nominations: all of them for their manager and HR; for the
        subject, only those they made, since the others would tell them who may rate them."""
        campaign = await self.campaign(campaign_id)
        assessment = await self._subject(campaign, subject)
        async with self.store.pool.connection() as conn:
            org = await self._org_around(conn, assessment)
        if hr or viewer == org.manager_of(subject):
            return assessment.nominations
        if viewer == subject:
            return [n for n in assessment.nominations if n.nominated_by == subject]
        raise NotAllowed(f"only {subject!r}, their manager or HR see their nominations")

    async def questionnaire_for(self, campaign_id: str, subject: str, rater: str) -> Questionnaire:
        """The subject's questionnaire, for one of their raters only."""
        campaign = await self.campaign(campaign_id)
        assessment = await self._subject(campaign, subject)
        async with self.store.pool.connection() as conn:
            org = await self._org_around(conn, assessment)
            if not any(a.rater == rater for a in assessment.assignments(org)):
                raise NotARater(f"{rater!r} is not an assigned rater of {subject!r}")
            return await self._questionnaire(conn, campaign, subject)

    async def my_assignments(self, campaign_id: str, rater: str) -> list[AssignmentStatus]:
        """Whom `rater` rates: themself, their manager, their reports and the subjects whose
        manager approved them as a peer, where assessed."""
        campaign = await self.campaign(campaign_id)
        async with self.store.pool.connection() as conn:
            around = OrgChartView.of(await self.org_chart.around(conn, rater))
            as_peer = await self.records.rated_as_peer(conn, campaign_id, rater)
        candidates = {rater, around.manager_of(rater), *around.reports.get(rater, []), *as_peer}
        found: list[AssignmentStatus] = []
        for subject in sorted(c for c in candidates if c is not None and campaign.assesses(c)):
            assessment = await self._subject(campaign, subject)
            async with self.store.pool.connection() as conn:
                org = await self._org_around(conn, assessment)
            found += [
                _status(assessment, a) for a in assessment.assignments(org) if a.rater == rater
            ]
        return found

    async def submit(
        self,
        campaign_id: str,
        subject: str,
        rater: str,
        answers: list[Answer],
        final: bool,
        now: datetime,
    ) -> bool:
        """Record the rater's submission; False when it is the same as the one recorded."""
        submission = Submission(
            campaign=campaign_id, subject=subject, rater=rater, answers=answers, final=final
        )

        async def decide(
            campaign: Campaign, assessment: SubjectAssessment, conn: AsyncConnection[Any]
        ) -> list[IntegrationEvent]:
            org = await self._org_around(conn, assessment)
            asked = await self._questionnaire(conn, campaign, subject)
            return assessment.submit(submission, asked, org, campaign, now)

        return bool(await self._on_subject(campaign_id, subject, decide, rater))

    async def _expected(
        self, conn: AsyncConnection[Any], campaign: Campaign, subjects: Iterable[str] | None = None
    ) -> list[Assignment]:
        """Every assignment of the campaign (of the subjects given, if any): org chart raters
        and approved peers."""
        org = OrgChartView.of(await self.org_chart.everyone(conn))
        peers: dict[str, list[Nomination]] = {}
        for n in await self.records.approved_peers(conn, campaign.campaign_id):
            peers.setdefault(n.subject, []).append(n)
        population = _opened(campaign).population
        if subjects is not None:
            wanted = set(subjects)
            population = [s for s in population if s in wanted]
        return [
            a for subject in population for a in assignments(subject, org, peers.get(subject, []))
        ]

    async def non_responders(self, campaign_id: str) -> list[Assignment]:
        """Assignments without a final submission: whom to remind."""
        campaign = await self.campaign(campaign_id)
        async with self.store.pool.connection() as conn:
            expected = await self._expected(conn, campaign)
            done = await self.records.finalised(conn, campaign_id)
        return [a for a in expected if (a.subject, a.rater) not in done]

    async def remind(self, campaign_id: str, actor: str, now: datetime) -> RemindersSent | None:
        """Announce who still owes submissions, for notification; None when nobody does."""
        campaign = await self.campaign(campaign_id)
        events = campaign.remind(await self.non_responders(campaign_id), now)
        if not events:
            return None
        await self.store.append(
            stream_of(campaign_id), campaign.stream_version, events, EventMetadata(actor=actor)
        )
        sent = events[0]
        assert isinstance(sent, RemindersSent)
        return sent

    async def close(self, campaign_id: str, actor: str) -> CampaignClosed:
        campaign = await self.campaign(campaign_id)
        stream = stream_of(campaign_id)
        async with self.store.transaction() as conn:
            # Waits for subject commands in flight; later ones see the campaign closed.
            await conn.execute(_LOCK, (stream,))
            expected = await self._expected(conn, campaign)
            done = await self.records.finalised(conn, campaign_id)
            events = campaign.close(
                submissions=await self.records.submission_count(conn, campaign_id),
                non_responders=sum(1 for a in expected if (a.subject, a.rater) not in done),
            )
            await self.store.append(
                stream, campaign.stream_version, events, EventMetadata(actor=actor), conn=conn
            )
        closed = events[0]
        assert isinstance(closed, CampaignClosed)
        return closed

    # -- results ---------------------------------------------------------------------------

    async def ratings(
        self, campaign_id: str, subjects: Iterable[str] | None = None
    ) -> tuple[Campaign, list[Rating]]:
        """A closed campaign and its ratings, of some subjects or all.

        Every recorded submission counts, finalised or not: closing ends revisions. Only
        raters still assigned count: after a change of manager, the former manager's
        submission would make the manager group a mean of two.
        """
        campaign = await self.campaign(campaign_id)
        if not campaign.closed:
            raise ResultsNotReady(
                f"campaign {campaign_id!r} is still open: results are released when it closes"
            )
        async with self.store.pool.connection() as conn:
            chosen = None if subjects is None else list(subjects)
            expected = await self._expected(conn, campaign, chosen)
            assigned = {(a.subject, a.rater) for a in expected}
            ratings = await self.records.ratings(conn, campaign_id, chosen)
        return campaign, [r for r in ratings if (r.subject, r.rater) in assigned]

    async def results(
        self, campaign_id: str, subjects: Iterable[str] | None = None
    ) -> tuple[Campaign, list[CompetencyResult]]:
        """The HR-side aggregate of a closed campaign, for some subjects or all."""
        campaign, ratings = await self.ratings(campaign_id, subjects)
        settings = campaign.settings
        return campaign, aggregate(ratings, settings.weights, settings.anonymity)

    async def results_for_subject(
        self, campaign_id: str, subject: str, viewer: str
    ) -> list[SubjectCompetencyView]:
        """The subject's results as they may see them: anonymous groups under the threshold
        suppressed, no rater named. For the subject and their manager only."""
        if viewer != subject:
            async with self.store.pool.connection() as conn:
                person = await self.org_chart.person(conn, subject)
            if person is None or person.manager_id != viewer:
                raise NotAllowed(f"only {subject!r} and their manager see their results")
        campaign = await self.campaign(campaign_id)
        if not campaign.assesses(subject):
            raise NotInCampaign(f"{subject!r} is not assessed in campaign {campaign_id!r}")
        campaign, results = await self.results(campaign_id, [subject])
        settings = campaign.settings
        return subject_view(results, settings.anonymity, settings.weights)


def _opened(campaign: Campaign) -> CampaignOpened:
    if campaign.opened is None:
        raise CampaignNotFound(campaign.campaign_id)
    return campaign.opened


def _members(population: Population, org: OrgChartView) -> list[str]:
    if population.employee_ids is not None:
        unknown = sorted(set(population.employee_ids) - set(org.people))
        if unknown:
            raise UnknownPopulation(f"not active in the org chart: {unknown}")
        return population.employee_ids
    members = [
        p.employee_id
        for p in org.people.values()
        if population.department in (None, p.department)
        and population.job_family in (None, p.job_family)
    ]
    if not members:
        where = " and ".join(
            f"{name} {value!r}"
            for name, value in (
                ("department", population.department),
                ("job family", population.job_family),
            )
            if value is not None
        )
        raise UnknownPopulation(f"nobody active in {where or 'the org chart'}")
    return members


def _status(assessment: SubjectAssessment, assignment: Assignment) -> AssignmentStatus:
    recorded = assessment.submissions.get(assignment.rater)
    return AssignmentStatus(
        subject=assignment.subject,
        group=assignment.group,
        submitted=recorded is not None,
        final=recorded is not None and recorded.submission.final,
    )
