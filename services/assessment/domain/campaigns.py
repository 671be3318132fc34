"""The 360 campaign (docs/domain.md §3), as two kinds of aggregate.

- `Campaign`: opened for a population on one framework version with its settings (anonymity
  threshold, group weights, peer limits), reminded, closed. Its stream is short.
- `SubjectAssessment`: everything about one subject in one campaign: their peer nominations
  and the submissions of their raters. Raters of different subjects never contend, and a
  command reads a handful of events instead of a whole campaign's.

Submissions and nominations are recorded privately with the rater (the service needs them to
aggregate) and announced publicly without them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from sys import intern
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.events.registry import IntegrationEvent, PrivateEvent, registry
from libs.events.schemas.assessment import (
    AssessmentSubmitted,
    CampaignClosed,
    CampaignOpened,
    PendingRater,
    RatersNominated,
    RemindersSent,
    competency_of,
)
from services.assessment.domain.aggregation import GroupWeights
from services.assessment.domain.anonymity import AnonymityPolicy
from services.assessment.domain.questionnaires import Questionnaire
from services.assessment.domain.raters import (
    Assignment,
    Nomination,
    NominationRefused,
    NotEntitled,
    OrgChartView,
    PeerPolicy,
    assignments,
    decide,
    nominate,
)
from services.assessment.domain.ratings import RaterGroup, Rating
from services.assessment.domain.submissions import (
    StoredAnswer,
    Submission,
    SubmissionRefused,
    check,
    stored_answer,
    unchanged,
)


class CampaignError(ValueError):
    """A command the campaign's state does not allow; the message says why."""


class InvalidCampaign(CampaignError):
    """A campaign that cannot be opened as described (no one in it, a past close date)."""


class CampaignSettings(BaseModel):
    """What HR may set per campaign; every part has a documented default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    anonymity: AnonymityPolicy = AnonymityPolicy()
    weights: GroupWeights = GroupWeights()
    peers: PeerPolicy = PeerPolicy()

    @model_validator(mode="after")
    def _peers_can_be_shown(self) -> CampaignSettings:
        """A peer group capped below the anonymity threshold could never be shown."""
        if self.peers.maximum < self.anonymity.minimum_responses:
            raise ValueError(
                f"peers.maximum {self.peers.maximum} is below anonymity.minimum_responses "
                f"{self.anonymity.minimum_responses}: the peer group could never be shown"
            )
        return self

    @classmethod
    def of(cls, opened: CampaignOpened) -> CampaignSettings:
        return cls(
            anonymity=AnonymityPolicy(minimum_responses=opened.minimum_responses),
            weights=GroupWeights.model_validate(opened.group_weights),
            peers=PeerPolicy(minimum=opened.peers_minimum, maximum=opened.peers_maximum),
        )


@registry.event
class SubmissionRecorded(PrivateEvent):
    """The submission itself, rater and answers: it never leaves the assessment service."""

    event_type = "SubmissionRecorded"
    context = "assessment"
    schema_version = 1

    submission: Submission
    group: RaterGroup
    recorded_at: datetime = Field(description="when the campaign accepted it")


@registry.event
class PeerNominated(PrivateEvent):
    """A peer proposed to rate the subject, pending their manager's decision."""

    event_type = "PeerNominated"
    context = "assessment"
    schema_version = 1

    campaign_id: str
    subject: str
    peer: str
    nominated_by: str


@registry.event
class PeerNominationDecided(PrivateEvent):
    """The subject's manager approved or rejected a nominated peer."""

    event_type = "PeerNominationDecided"
    context = "assessment"
    schema_version = 1

    campaign_id: str
    subject: str
    peer: str
    approved: bool
    decided_by: str


@dataclass
class Campaign:
    campaign_id: str
    stream_version: int = 0
    opened: CampaignOpened | None = None
    closed: bool = False
    # Derived from `opened` once, when it is applied: every command asks who is assessed and
    # under which settings, and the population of a large campaign is thousands of names.
    population: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    settings: CampaignSettings = field(
        default_factory=lambda: CampaignSettings(), repr=False, compare=False
    )

    def apply(self, event: IntegrationEvent, stream_version: int) -> None:
        self.stream_version = stream_version
        if isinstance(event, CampaignOpened):
            self.opened = event
            self.population = frozenset(event.population)
            self.settings = CampaignSettings.of(event)
        elif isinstance(event, CampaignClosed):
            self.closed = True

    def open(
        self,
        framework_id: str,
        framework_version: int,
        population: list[str],
        closes_at: datetime,
        now: datetime,
        settings: CampaignSettings | None = None,
        positions: Mapping[str, tuple[str, str, str]] | None = None,
    ) -> list[IntegrationEvent]:
        if self.opened is not None:
            raise CampaignError(f"campaign {self.campaign_id!r} is already open")
        if not population:
            raise InvalidCampaign("a campaign needs at least one person to assess")
        if closes_at <= now:
            raise InvalidCampaign(f"the close date {closes_at.isoformat()} has passed")
        chosen = settings or CampaignSettings()
        return [
            CampaignOpened(
                campaign_id=self.campaign_id,
                framework_id=framework_id,
                framework_version=framework_version,
                population=sorted(set(population)),
                closes_at=closes_at,
                minimum_responses=chosen.anonymity.minimum_responses,
                group_weights=chosen.weights.model_dump(),
                peers_minimum=chosen.peers.minimum,
                peers_maximum=chosen.peers.maximum,
                positions={p: pos for p, pos in (positions or {}).items() if p in population},
            )
        ]

    def is_open(self, now: datetime) -> bool:
        return self.opened is not None and not self.closed and now < self.opened.closes_at

    def position_of(self, subject: str) -> tuple[str, str, str] | None:
        """The position the subject is assessed in: as the campaign opened."""
        return self.opened.positions.get(subject) if self.opened else None

    def assesses(self, subject: str) -> bool:
        return subject in self.population

    def remind(self, pending: Iterable[Assignment], now: datetime) -> list[IntegrationEvent]:
        """Remind every rater who owes a final submission; nothing when nobody does."""
        if self.opened is None or not self.is_open(now):
            raise CampaignError(f"campaign {self.campaign_id!r} is not open: nobody to remind")
        owed: dict[str, int] = {}
        for assignment in pending:
            owed[assignment.rater] = owed.get(assignment.rater, 0) + 1
        if not owed:
            return []
        raters = [PendingRater(rater=r, pending=n) for r, n in sorted(owed.items())]
        return [
            RemindersSent(
                campaign_id=self.campaign_id, raters=raters, closes_at=self.opened.closes_at
            )
        ]

    def close(self, submissions: int, non_responders: int) -> list[IntegrationEvent]:
        if self.opened is None or self.closed:
            raise CampaignError(f"campaign {self.campaign_id!r} is not open")
        return [
            CampaignClosed(
                campaign_id=self.campaign_id,
                submissions=submissions,
                non_responders=non_responders,
            )
        ]


@dataclass
class SubjectAssessment:
    """One subject in one campaign: their peers and the submissions about them."""

    campaign_id: str
    subject: str
    stream_version: int = 0
    nominations: list[Nomination] = field(default_factory=list)
    submissions: dict[str, SubmissionRecorded] = field(default_factory=dict)

    def apply(self, event: IntegrationEvent, stream_version: int) -> None:
        self.stream_version = stream_version
        if isinstance(event, SubmissionRecorded):
            self.submissions[event.submission.rater] = event
        elif isinstance(event, PeerNominated):
            self.nominations.append(Nomination(event.subject, event.peer, event.nominated_by))
        elif isinstance(event, PeerNominationDecided):
            for i, n in enumerate(self.nominations):
                if n.peer == event.peer and n.state == "pending":
                    self.nominations[i] = Nomination(
                        n.subject,
                        n.peer,
                        n.nominated_by,
                        "approved" if event.approved else "rejected",
                        event.decided_by,
                    )

    def _require_open(self, campaign: Campaign, now: datetime) -> None:
        if not campaign.assesses(self.subject):
            raise CampaignError(
                f"{self.subject!r} is not assessed in campaign {self.campaign_id!r}"
            )
        if not campaign.is_open(now):
            raise NominationRefused(f"campaign {self.campaign_id!r} is closed")

    def nominate(
        self, peer: str, by: str, org: OrgChartView, campaign: Campaign, now: datetime
    ) -> list[IntegrationEvent]:
        """A pending peer nomination; nothing when the peer is already nominated.

        Accepting a repeat silently matters for anonymity: refusing it would tell the
        subject whom their manager nominated, which the nominations view keeps from them.
        """
        self._require_open(campaign, now)
        if by in (self.subject, org.manager_of(self.subject)) and any(
            n.peer == peer and n.state != "rejected" for n in self.nominations
        ):
            return []
        n = nominate(self.subject, peer, by, org, self.nominations, campaign.settings.peers)
        after = [*self.nominations, n]
        return [
            PeerNominated(
                campaign_id=self.campaign_id, subject=n.subject, peer=n.peer, nominated_by=by
            ),
            self._peer_group(after, campaign),
        ]

    def decide(
        self,
        peer: str,
        approve: bool,
        by: str,
        org: OrgChartView,
        campaign: Campaign,
        now: datetime,
    ) -> list[IntegrationEvent]:
        self._require_open(campaign, now)
        manager = org.manager_of(self.subject)
        # Who may decide is checked before anything about the nominations is revealed.
        if by != manager:
            raise NotEntitled(
                f"only the manager of {self.subject!r} ({manager!r}) decides their peers"
            )
        pending = next(
            (n for n in self.nominations if n.peer == peer and n.state == "pending"), None
        )
        if pending is None:
            raise NominationRefused(f"{peer!r} has no pending nomination for {self.subject!r}")
        decided = decide(pending, approve, by, org)
        after = [decided if n is pending else n for n in self.nominations]
        return [
            PeerNominationDecided(
                campaign_id=self.campaign_id,
                subject=self.subject,
                peer=peer,
                approved=approve,
                decided_by=by,
            ),
            self._peer_group(after, campaign),
        ]

    def _peer_group(self, nominations: list[Nomination], campaign: Campaign) -> RatersNominated:
        """Where the subject's peer group stands, in counts only."""
        approved = sum(1 for n in nominations if n.state == "approved")
        return RatersNominated(
            campaign_id=self.campaign_id,
            subject=self.subject,
            approved_peers=approved,
            pending_peers=sum(1 for n in nominations if n.state == "pending"),
            peers_needed=max(0, campaign.settings.peers.minimum - approved),
        )

    def assignments(self, org: OrgChartView) -> list[Assignment]:
        return assignments(self.subject, org, self.nominations)

    def submit(
        self,
        submission: Submission,
        questionnaire: Questionnaire,
        org: OrgChartView,
        campaign: Campaign,
        now: datetime,
    ) -> list[IntegrationEvent]:
        """Record a submission or its revision; nothing at all when it is sent again as is."""
        if not campaign.assesses(submission.subject):
            raise SubmissionRefused(
                [f"{submission.subject!r} is not assessed in campaign {self.campaign_id!r}"]
            )
        if not any(a.rater == submission.rater for a in self.assignments(org)):
            raise SubmissionRefused(
                [f"{submission.rater!r} is not an assigned rater of {submission.subject!r}"]
            )
        previous = self.submissions.get(submission.rater)
        if (
            campaign.is_open(now)
            and previous is not None
            and unchanged(previous.submission, submission)
        ):
            return []
        assignment = check(
            submission,
            questionnaire,
            self.assignments(org),
            campaign_open=campaign.is_open(now),
            finalised=previous is not None and previous.submission.final,
        )
        return [
            SubmissionRecorded(submission=submission, group=assignment.group, recorded_at=now),
            AssessmentSubmitted(
                campaign_id=self.campaign_id,
                subject=submission.subject,
                group=assignment.group,
                final=submission.final,
                answered=len(submission.answers),
            ),
        ]


def submission_ratings(
    subject: str,
    rater: str,
    group: RaterGroup,
    answers: Iterable[Sequence[Any]],
) -> list[Rating]:
    """One submission's ratings, one per competency, from its stored answers.

    At sub-skill granularity a rater's competency rating is the mean of their observed
    sub-skill ratings, and not observed when they observed none; the competency is not
    relevant when they marked every one of its items so. The sub-skill values stay on the
    rating (`sub_skills`), for the calibrated score of each sub-skill.
    """
    by_competency: dict[str, list[StoredAnswer]] = {}
    for row in answers:
        answer = stored_answer(row)
        by_competency.setdefault(intern(competency_of(answer[0])), []).append(answer)
    found: list[Rating] = []
    for competency, given in by_competency.items():
        observed = [value for _, value, _, _ in given if value is not None]
        comments = [comment for _, _, comment, _ in given if comment]
        # Interned, as the competency is: a campaign holds hundreds of thousands of ratings,
        # and their keys are the framework's few, one string each instead of one per rating.
        sub_skills = {
            intern(item.split("/", 1)[1]): value for item, value, _, _ in given if "/" in item
        }
        # Built unvalidated: the values come from checked submissions, and a campaign has
        # hundreds of thousands of them.
        found.append(
            Rating.model_construct(
                subject=subject,
                rater=rater,
                group=group,
                competency=competency,
                value=sum(observed) / len(observed) if observed else None,
                comment=" / ".join(comments) or None,
                not_relevant=all(not_relevant for *_, not_relevant in given),
                sub_skills=sub_skills or None,
            )
        )
    return found
