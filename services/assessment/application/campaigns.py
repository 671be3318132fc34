"""360 campaigns as the use cases read them (docs/domain.md §3): the campaign and each subject's
assessment from their streams, the questionnaire a subject is rated on, who rates whom.

A campaign is pinned to a framework version this service's replica holds; each subject's
questionnaire comes from their role profile in that version, and who rates them from the org
chart as it stands when the rating happens, plus the peers their manager approved.

The use cases, one module each: `launching` (open a campaign on its population),
`nominations`, `rating` (questionnaires, assignments, submissions), `reminders`, `closing`,
`results`, and `calibration`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from libs.events.envelope import Envelope
from libs.events.ports import EventLog, UnitOfWork
from libs.events.schemas.assessment import CampaignOpened
from services.assessment.application.ports import Work
from services.assessment.domain.campaigns import Campaign, CampaignError, SubjectAssessment
from services.assessment.domain.questionnaires import Questionnaire, questionnaire
from services.assessment.domain.raters import Assignment, Nomination, OrgChartView, assignments

# Campaigns and questionnaires cached (a questionnaire per framework, version and position:
# versions are immutable), each at most this many.
CACHED = 2048
# Subjects' assessments cached, at most this many, the least recently read forgotten first.
# What pays is a rater's questionnaire read just before their submission, and commands that
# follow each other on one subject: a few subjects per request in flight. More only held
# objects the garbage collector walked on every full collection, with the loop held: a
# cache of 1,000 subjects at 1,000 people (50,000 answers, each a model with its own
# containers) made one every two seconds of the rating phase, 100 to 200 ms each
# (bench/README.md). They hold submissions' opened comments: an entry may be built with a
# key another process opened up to a minute before the keys were destroyed
# (`CACHE_SECONDS` of libs.personal.vault), and must be gone before the erasure scrubs,
# which waits a quarter minute longer than that (`KEY_CACHES_EXPIRE`): so an entry lives
# at most that quarter minute.
SUBJECTS_CACHED = 256
SUBJECT_SECONDS = 15.0


class CampaignNotFound(CampaignError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id!r} not found")


class NotInCampaign(CampaignError):
    """The subject is not in the campaign's population."""


class NotAllowed(CampaignError):
    """The caller may not see or do this for that subject."""


class UnknownFrameworkVersion(CampaignError):
    """The campaign would pin a framework version this service has not received."""


class NoRoleProfile(CampaignError):
    """The subject's position has no role profile in the campaign's framework version."""


def stream_of(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def subject_stream_of(campaign_id: str, subject: str) -> str:
    return f"campaign-{campaign_id}:subject-{subject}"


class Campaigns:
    """The campaigns in the service's storage; what cannot change once read is cached.
    `events`: the log, each read and append on its own; `unit_of_work`: the records and
    replicas read together, and transactions that keep them and the log together."""

    def __init__(self, events: EventLog, unit_of_work: UnitOfWork[Work]) -> None:
        self.events = events
        self.unit_of_work = unit_of_work
        self._questionnaires: dict[tuple[str, int, tuple[str, str, str]], Questionnaire] = {}
        self._campaigns: dict[str, Campaign] = {}
        self._subjects: dict[tuple[str, str], tuple[float, SubjectAssessment]] = {}

    async def campaign(self, campaign_id: str, log: EventLog | None = None) -> Campaign:
        """The campaign as it stands; CampaignNotFound when it was never opened. `log`: read
        through a unit of work's, in its transaction, instead of on a connection of its own."""
        log = log or self.events
        campaign = self._cached_campaign(campaign_id)
        stream = stream_of(campaign_id)
        read = await log.read_stream(stream, after_version=campaign.stream_version)
        return await self._campaign_read_on(campaign, read, log)

    async def campaign_and_subject(
        self, campaign_id: str, subject: str, log: EventLog | None = None
    ) -> tuple[Campaign, SubjectAssessment]:
        """The campaign, and the subject's assessment in it, read in one statement;
        NotInCampaign when the campaign does not assess them. `log` as for `campaign`."""
        log = log or self.events
        campaign = self._cached_campaign(campaign_id)
        # Decoding a subject's stream (its submissions' sealed comments opened) was most of
        # what a command cost: the events after the cached version are read, those before
        # cannot change. The cached copy expires whole, however recently it was extended.
        key = (campaign_id, subject)
        now = time.monotonic()
        expires, cached = self._subjects.get(key, (0.0, None))
        if cached is None or expires <= now:
            expires, cached = now + SUBJECT_SECONDS, SubjectAssessment(*key)
        assessment = _copy(cached)
        streams = (stream_of(campaign_id), subject_stream_of(*key))
        read = await log.read_streams(
            dict(zip(streams, (campaign.stream_version, assessment.stream_version), strict=True))
        )
        campaign = await self._campaign_read_on(campaign, read[streams[0]], log)
        if not campaign.assesses(subject):
            raise NotInCampaign(f"{subject!r} is not assessed in campaign {campaign_id!r}")
        for envelope in read[streams[1]]:
            assessment.apply(await log.decode(envelope), envelope.stream_version)
        self._subjects.pop(key, None)  # re-inserted last: the oldest is forgotten first
        if len(self._subjects) >= SUBJECTS_CACHED:
            del self._subjects[next(iter(self._subjects))]
        self._subjects[key] = (expires, _copy(assessment))
        return campaign, assessment

    def _cached_campaign(self, campaign_id: str) -> Campaign:
        # CampaignOpened names the whole population: decoding it for every command made a
        # submission cost grow with the campaign (25 ms each at 10,000 people). Events never
        # change, so only the ones after the cached version are read.
        cached = self._campaigns.get(campaign_id)
        return replace(cached) if cached else Campaign(campaign_id)

    async def _campaign_read_on(
        self, campaign: Campaign, read: list[Envelope], log: EventLog
    ) -> Campaign:
        for envelope in read:
            campaign.apply(await log.decode(envelope), envelope.stream_version)
        if campaign.opened is None:
            raise CampaignNotFound(campaign.campaign_id)
        if len(self._campaigns) >= CACHED:
            self._campaigns.clear()
        self._campaigns[campaign.campaign_id] = campaign
        return replace(campaign)

    async def questionnaire(self, work: Work, campaign: Campaign, subject: str) -> Questionnaire:
        """What the subject is rated on: their position's role profile in the pinned version."""
        opened = opened_of(campaign)
        pinned = (opened.framework_id, opened.framework_version)
        position = campaign.position_of(subject)
        if position is None:
            raise NoRoleProfile(f"the org chart had no position for {subject!r} at opening")
        key = (*pinned, position)
        if (cached := self._questionnaires.get(key)) is not None:
            return cached
        framework = await work.frameworks.framework(*pinned)
        profile = await work.frameworks.role_profile(*pinned, position)
        if framework is None or profile is None:
            raise NoRoleProfile(
                f"framework {pinned[0]!r} version {pinned[1]} has no role profile for "
                f"{subject!r}'s position {'/'.join(position)}"
            )
        found = questionnaire(*pinned, framework, profile)
        if len(self._questionnaires) >= CACHED:
            self._questionnaires.clear()
        self._questionnaires[key] = found
        return found


def _copy(assessment: SubjectAssessment) -> SubjectAssessment:
    """A copy a command may apply events to: its events and nominations are never changed
    in place, only replaced."""
    return replace(
        assessment,
        nominations=list(assessment.nominations),
        submissions=dict(assessment.submissions),
    )


def opened_of(campaign: Campaign) -> CampaignOpened:
    if campaign.opened is None:
        raise CampaignNotFound(campaign.campaign_id)
    return campaign.opened


async def org_around(
    work: Work, assessment: SubjectAssessment, also: Iterable[str] = ()
) -> OrgChartView:
    """The subject, their manager, reports and nominated peers: what their commands need."""
    peers = [n.peer for n in assessment.nominations]
    return OrgChartView.of(await work.org_chart.around(assessment.subject, [*peers, *also]))


async def expected_assignments(
    work: Work, campaign: Campaign, subjects: Iterable[str] | None = None
) -> list[Assignment]:
    """Every assignment of the campaign (of the subjects given, if any): org chart raters
    and approved peers."""
    org = OrgChartView.of(await work.org_chart.everyone())
    peers: dict[str, list[Nomination]] = {}
    for n in await work.records.approved_peers(campaign.campaign_id):
        peers.setdefault(n.subject, []).append(n)
    population = opened_of(campaign).population
    if subjects is not None:
        wanted = set(subjects)
        population = [s for s in population if s in wanted]
    return [a for subject in population for a in assignments(subject, org, peers.get(subject, []))]


@dataclass(frozen=True)
class Progress:
    """Every assignment of a campaign, and those still without a final submission."""

    expected: list[Assignment]
    outstanding: list[Assignment]


async def progress_in(work: Work, campaign: Campaign) -> Progress:
    expected = await expected_assignments(work, campaign)
    done = await work.records.finalised(campaign.campaign_id)
    return Progress(expected, [a for a in expected if (a.subject, a.rater) not in done])
