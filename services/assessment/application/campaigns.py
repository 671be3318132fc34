"""Command and query handlers of 360 campaigns: load the aggregate, decide, append atomically.

A campaign is pinned to a framework version this service's replica holds; each subject's
questionnaire comes from their role profile in that version, and who rates them from the org
chart as it stands when the rating happens (peers are not nominated yet: no peer group).
The stream version read with the state guards every append; a submission that loses a race
to another rater's is decided again on fresh state, since the two do not conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from psycopg import AsyncConnection

from libs.events.envelope import EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CampaignClosed, CampaignOpened
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.store import ConcurrencyError, EventStore
from services.assessment.domain.aggregation import (
    DEFAULT_POLICY,
    SubjectCompetencyView,
    aggregate,
    subject_view,
)
from services.assessment.domain.campaigns import Campaign, CampaignError
from services.assessment.domain.org_chart import Person
from services.assessment.domain.questionnaires import Questionnaire, questionnaire
from services.assessment.domain.raters import Assignment, OrgChartView, assignments
from services.assessment.domain.ratings import RaterGroup
from services.assessment.domain.submissions import Answer, Submission

# The public AssessmentSubmitted is relayed in its whole envelope, actor included, so naming
# the rater there would expose peers and direct reports (DOMAIN.md §3, Anonymity). The rater
# is the actor of the private SubmissionRecorded; the announcement is the service's own,
# caused by it, in the same transaction.
ANNOUNCER = "service:assessment"
# Concurrent submissions to one campaign are independent: retry a lost race this many times.
SUBMIT_ATTEMPTS = 5


class People(Protocol):
    """The org chart read model (adapters.postgres.org_chart.OrgChart)."""

    async def person(self, conn: AsyncConnection[Any], employee_id: str) -> Person | None: ...

    async def reports_of(self, conn: AsyncConnection[Any], manager_id: str) -> list[Person]: ...

    async def everyone(self, conn: AsyncConnection[Any]) -> list[Person]: ...


class Frameworks(Protocol):
    """The framework replica (libs.replicas.framework_versions.FrameworkVersions)."""

    async def framework(
        self, conn: AsyncConnection[Any], framework_id: str, version: int
    ) -> Framework | None: ...

    async def role_profile(
        self,
        conn: AsyncConnection[Any],
        framework_id: str,
        version: int,
        position: tuple[str, str, str],
    ) -> EffectiveRoleProfile | None: ...


class CampaignNotFound(CampaignError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id!r} not found")


class NotInCampaign(CampaignError):
    """The subject is not in the campaign's population."""


class NotARater(CampaignError):
    """The caller is not among the subject's raters in this campaign."""


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
    """Whom a campaign assesses: these employees, or one department, or everyone active."""

    employee_ids: list[str] | None = None
    department: str | None = None


@dataclass(frozen=True)
class AssignmentStatus:
    subject: str
    group: RaterGroup
    submitted: bool
    final: bool


def stream_of(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


async def load(store: EventStore, campaign_id: str) -> Campaign:
    campaign = Campaign(campaign_id)
    for envelope in await store.read_stream(stream_of(campaign_id)):
        campaign.apply(store.decode(envelope), envelope.stream_version)
    return campaign


def _opened(campaign: Campaign) -> CampaignOpened:
    if campaign.opened is None:
        raise CampaignNotFound(campaign.campaign_id)
    return campaign.opened


class Campaigns:
    """The campaign use cases over the event store, the org chart and the framework replica."""

    def __init__(self, store: EventStore, org_chart: People, replica: Frameworks) -> None:
        self.store = store
        self.org_chart = org_chart
        self.replica = replica

    async def _append(self, campaign: Campaign, events: list[IntegrationEvent], actor: str) -> None:
        await self.store.append(
            stream_of(campaign.campaign_id),
            campaign.stream_version,
            events,
            EventMetadata(actor=actor),
        )

    async def _record_submission(
        self, campaign: Campaign, events: list[IntegrationEvent], rater: str
    ) -> None:
        if not events:
            return
        recorded, announced = events
        stream = stream_of(campaign.campaign_id)
        async with self.store.transaction() as conn:
            [envelope] = await self.store.append(
                stream, campaign.stream_version, [recorded], EventMetadata(actor=rater), conn=conn
            )
            await self.store.append(
                stream,
                envelope.stream_version,
                [announced],
                EventMetadata(
                    actor=ANNOUNCER,
                    correlation_id=envelope.correlation_id,
                    causation_id=envelope.event_id,
                ),
                conn=conn,
            )

    async def open_campaign(
        self,
        campaign_id: str,
        framework_id: str,
        framework_version: int,
        population: Population,
        closes_at: datetime,
        actor: str,
        now: datetime,
    ) -> CampaignOpened:
        async with self.store.pool.connection() as conn:
            if await self.replica.framework(conn, framework_id, framework_version) is None:
                raise UnknownFrameworkVersion(
                    f"framework {framework_id!r} version {framework_version} has not reached "
                    "the assessment service: publish it, or wait for it to arrive"
                )
            org = OrgChartView.of(await self.org_chart.everyone(conn))
        campaign = await load(self.store, campaign_id)
        events = campaign.open(
            framework_id, framework_version, _members(population, org), closes_at, now
        )
        await self._append(campaign, events, actor)
        opened = events[0]
        assert isinstance(opened, CampaignOpened)
        return opened

    async def _around(self, conn: AsyncConnection[Any], subject: str) -> OrgChartView:
        """The subject, their manager and their reports: all their assignments need."""
        person = await self.org_chart.person(conn, subject)
        if person is None:
            return OrgChartView.of([])
        manager = (
            await self.org_chart.person(conn, person.manager_id) if person.manager_id else None
        )
        reports = await self.org_chart.reports_of(conn, subject)
        return OrgChartView.of([person, *([manager] if manager else []), *reports])

    async def _assignments(
        self, conn: AsyncConnection[Any], campaign: Campaign, subject: str
    ) -> list[Assignment]:
        if subject not in _opened(campaign).population:
            raise NotInCampaign(f"{subject!r} is not assessed in campaign {campaign.campaign_id!r}")
        return assignments(subject, await self._around(conn, subject), [])

    async def _questionnaire(
        self, conn: AsyncConnection[Any], campaign: Campaign, subject: str
    ) -> Questionnaire:
        opened = _opened(campaign)
        pinned = (opened.framework_id, opened.framework_version)
        person = await self.org_chart.person(conn, subject)
        if person is None or not (person.job_family and person.track and person.level):
            raise NoRoleProfile(f"the org chart has no position for {subject!r}")
        position = (person.job_family, person.track, person.level)
        framework = await self.replica.framework(conn, *pinned)
        profile = await self.replica.role_profile(conn, *pinned, position)
        if framework is None or profile is None:
            raise NoRoleProfile(
                f"framework {pinned[0]!r} version {pinned[1]} has no role profile for "
                f"{subject!r}'s position {'/'.join(position)}"
            )
        return questionnaire(*pinned, framework, profile)

    async def questionnaire_for(self, campaign_id: str, subject: str, rater: str) -> Questionnaire:
        """The subject's questionnaire, for one of their raters only."""
        campaign = await load(self.store, campaign_id)
        async with self.store.pool.connection() as conn:
            if not any(a.rater == rater for a in await self._assignments(conn, campaign, subject)):
                raise NotARater(f"{rater!r} is not an assigned rater of {subject!r}")
            return await self._questionnaire(conn, campaign, subject)

    async def my_assignments(self, campaign_id: str, rater: str) -> list[AssignmentStatus]:
        """Whom `rater` rates: themself, their manager and their reports, where assessed."""
        campaign = await load(self.store, campaign_id)
        population = set(_opened(campaign).population)
        async with self.store.pool.connection() as conn:
            around = await self._around(conn, rater)
            candidates = {rater, around.manager_of(rater), *around.reports.get(rater, [])}
            found = [
                a
                for subject in sorted(c for c in candidates if c in population)
                for a in await self._assignments(conn, campaign, subject)
                if a.rater == rater
            ]
        return [_status(campaign, a) for a in found]

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
        for attempt in range(SUBMIT_ATTEMPTS):
            campaign = await load(self.store, campaign_id)
            async with self.store.pool.connection() as conn:
                expected = await self._assignments(conn, campaign, subject)
                asked = await self._questionnaire(conn, campaign, subject)
            events = campaign.submit(submission, asked, expected, now)
            try:
                await self._record_submission(campaign, events, rater)
            except ConcurrencyError:
                if attempt == SUBMIT_ATTEMPTS - 1:
                    raise
                continue
            return bool(events)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _expected(self, campaign: Campaign) -> list[Assignment]:
        async with self.store.pool.connection() as conn:
            org = OrgChartView.of(await self.org_chart.everyone(conn))
        return [a for s in _opened(campaign).population for a in assignments(s, org, [])]

    async def close(self, campaign_id: str, actor: str) -> CampaignClosed:
        campaign = await load(self.store, campaign_id)
        events = campaign.close(await self._expected(campaign))
        await self._append(campaign, events, actor)
        closed = events[0]
        assert isinstance(closed, CampaignClosed)
        return closed

    async def non_responders(self, campaign_id: str) -> list[Assignment]:
        campaign = await load(self.store, campaign_id)
        return campaign.non_responders(await self._expected(campaign))

    async def results_for_subject(
        self, campaign_id: str, subject: str
    ) -> list[SubjectCompetencyView]:
        """The subject's results as they may see them: anonymous groups under the
        threshold suppressed, no rater named."""
        campaign = await load(self.store, campaign_id)
        if subject not in _opened(campaign).population:
            raise NotInCampaign(f"{subject!r} is not assessed in campaign {campaign.campaign_id!r}")
        if not campaign.closed:
            raise ResultsNotReady(
                f"campaign {campaign_id!r} is still open: results are released when it closes"
            )
        ratings = [r for r in campaign.ratings() if r.subject == subject]
        return subject_view(aggregate(ratings, policy=DEFAULT_POLICY), DEFAULT_POLICY)


def _members(population: Population, org: OrgChartView) -> list[str]:
    if population.employee_ids is not None:
        unknown = sorted(set(population.employee_ids) - set(org.people))
        if unknown:
            raise UnknownPopulation(f"not active in the org chart: {unknown}")
        return population.employee_ids
    department = population.department
    members = [
        p.employee_id
        for p in org.people.values()
        if department is None or p.department == department
    ]
    if not members:
        where = f"department {department!r}" if department is not None else "the org chart"
        raise UnknownPopulation(f"nobody active in {where}")
    return members


def _status(campaign: Campaign, assignment: Assignment) -> AssignmentStatus:
    recorded = campaign.submissions.get((assignment.subject, assignment.rater))
    return AssignmentStatus(
        subject=assignment.subject,
        group=assignment.group,
        submitted=recorded is not None,
        final=recorded is not None and recorded.submission.final,
    )
