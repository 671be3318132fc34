"""The 360 campaign aggregate (DOMAIN.md §3): opened for a population on one framework
version, collecting one submission per (subject, rater), closed at its deadline.

State is rebuilt from the campaign's stream; commands check against it and return the events
to append. A submission is recorded privately with its rater and answers (the service needs
them to aggregate) and announced publicly without the rater.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import Field

from libs.events.registry import IntegrationEvent, PrivateEvent, registry
from libs.events.schemas.assessment import AssessmentSubmitted, CampaignClosed, CampaignOpened
from services.assessment.domain.questionnaires import Questionnaire
from services.assessment.domain.raters import Assignment
from services.assessment.domain.ratings import RaterGroup, Rating
from services.assessment.domain.submissions import Submission, SubmissionRefused, check, unchanged


class CampaignError(ValueError):
    """A command the campaign's state does not allow; the message says why."""


class InvalidCampaign(CampaignError):
    """A campaign that cannot be opened as described (no one in it, a past close date)."""


@registry.event
class SubmissionRecorded(PrivateEvent):
    """The submission itself, rater and answers: it never leaves the assessment service."""

    event_type = "SubmissionRecorded"
    context = "assessment"
    schema_version = 1

    submission: Submission
    group: RaterGroup
    recorded_at: datetime = Field(description="when the campaign accepted it")


@dataclass
class Campaign:
    campaign_id: str
    stream_version: int = 0
    opened: CampaignOpened | None = None
    closed: bool = False
    submissions: dict[tuple[str, str], SubmissionRecorded] = field(default_factory=dict)

    def apply(self, event: IntegrationEvent, stream_version: int) -> None:
        self.stream_version = stream_version
        if isinstance(event, CampaignOpened):
            self.opened = event
        elif isinstance(event, SubmissionRecorded):
            s = event.submission
            self.submissions[(s.subject, s.rater)] = event
        elif isinstance(event, CampaignClosed):
            self.closed = True

    def open(
        self,
        framework_id: str,
        framework_version: int,
        population: list[str],
        closes_at: datetime,
        now: datetime,
    ) -> list[IntegrationEvent]:
        if self.opened is not None:
            raise CampaignError(f"campaign {self.campaign_id!r} is already open")
        if not population:
            raise InvalidCampaign("a campaign needs at least one person to assess")
        if closes_at <= now:
            raise InvalidCampaign(f"the close date {closes_at.isoformat()} has passed")
        return [
            CampaignOpened(
                campaign_id=self.campaign_id,
                framework_id=framework_id,
                framework_version=framework_version,
                population=sorted(set(population)),
                closes_at=closes_at,
            )
        ]

    def is_open(self, now: datetime) -> bool:
        return self.opened is not None and not self.closed and now < self.opened.closes_at

    def submit(
        self,
        submission: Submission,
        questionnaire: Questionnaire,
        assignments: list[Assignment],
        now: datetime,
    ) -> list[IntegrationEvent]:
        """Record a submission or its revision; nothing at all when it is sent again as is."""
        if self.opened is None:
            raise SubmissionRefused([f"campaign {self.campaign_id!r} is not open"])
        if submission.subject not in self.opened.population:
            raise SubmissionRefused(
                [f"{submission.subject!r} is not assessed in campaign {self.campaign_id!r}"]
            )
        if not self.is_open(now):
            raise SubmissionRefused([f"campaign {self.campaign_id!r} is closed"])
        previous = self.submissions.get((submission.subject, submission.rater))
        if previous is not None and unchanged(previous.submission, submission):
            return []
        assignment = check(
            submission,
            questionnaire,
            assignments,
            campaign_open=self.is_open(now),
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

    def close(self, expected: list[Assignment]) -> list[IntegrationEvent]:
        if self.opened is None or self.closed:
            raise CampaignError(f"campaign {self.campaign_id!r} is not open")
        return [
            CampaignClosed(
                campaign_id=self.campaign_id,
                submissions=len(self.submissions),
                non_responders=len(self.non_responders(expected)),
            )
        ]

    def non_responders(self, expected: list[Assignment]) -> list[Assignment]:
        """Assignments without a final submission: whom the reminders go to."""
        return [
            a
            for a in expected
            if (done := self.submissions.get((a.subject, a.rater))) is None
            or not done.submission.final
        ]

    def ratings(self) -> list[Rating]:
        """Every rating of the campaign, one per rater and competency, for aggregation and
        calibration. At sub-skill granularity a rater's competency rating is the mean of
        their observed sub-skill ratings, and not observed when they observed none."""
        found: list[Rating] = []
        for recorded in self.submissions.values():
            s = recorded.submission
            by_competency: dict[str, list[tuple[int | None, str | None]]] = {}
            for answer in s.answers:
                competency = answer.item.split("/", 1)[0]
                by_competency.setdefault(competency, []).append((answer.value, answer.comment))
            for competency, answers in by_competency.items():
                observed = [v for v, _ in answers if v is not None]
                comments = [c for _, c in answers if c]
                found.append(
                    Rating(
                        subject=s.subject,
                        rater=s.rater,
                        group=recorded.group,
                        competency=competency,
                        value=sum(observed) / len(observed) if observed else None,
                        comment=" / ".join(comments) or None,
                    )
                )
        return found
