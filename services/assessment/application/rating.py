"""Rating (docs/domain.md §3): whom a rater rates, the subject's questionnaire for their raters
only, and submissions, revisable until finalised or the campaign closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from libs.events.registry import IntegrationEvent
from services.assessment.application.campaigns import Campaigns, org_around
from services.assessment.application.ports import Work
from services.assessment.application.subject_commands import on_subject
from services.assessment.domain.campaigns import Campaign, CampaignError, SubjectAssessment
from services.assessment.domain.questionnaires import Questionnaire
from services.assessment.domain.raters import Nomination, OrgChartView, assignments
from services.assessment.domain.ratings import RaterGroup
from services.assessment.domain.submissions import Answer, Submission


class NotARater(CampaignError):
    """The caller is not among the subject's raters in this campaign."""


@dataclass(frozen=True)
class AssignmentStatus:
    subject: str
    group: RaterGroup
    submitted: bool
    final: bool


async def questionnaire_for(
    campaigns: Campaigns, campaign_id: str, subject: str, rater: str
) -> Questionnaire:
    """The subject's questionnaire, for one of their raters only."""
    async with campaigns.unit_of_work.reading() as work:
        campaign, assessment = await campaigns.campaign_and_subject(
            campaign_id, subject, work.events
        )
        org = await org_around(work, assessment)
        if not any(a.rater == rater for a in assessment.assignments(org)):
            raise NotARater(f"{rater!r} is not an assigned rater of {subject!r}")
        return await campaigns.questionnaire(work, campaign, subject)


async def my_assignments(
    campaigns: Campaigns, campaign_id: str, rater: str
) -> list[AssignmentStatus]:
    """Whom `rater` rates: themself, their manager, their reports and the subjects whose
    manager approved them as a peer, where assessed."""
    # Read by the rater's key (the records of their approvals and submissions, the org
    # chart around each subject), not from each subject's stream: decoding those, sealed
    # comments and all, made this the dearest request of a campaign.
    found: list[AssignmentStatus] = []
    async with campaigns.unit_of_work.reading() as work:
        campaign = await campaigns.campaign(campaign_id, work.events)
        around = OrgChartView.of(await work.org_chart.around(rater))
        as_peer = await work.records.rated_as_peer(campaign_id, rater)
        submitted = await work.records.submitted_by(campaign_id, rater)
        candidates = {rater, around.manager_of(rater), *around.reports.get(rater, []), *as_peer}
        for subject in sorted(c for c in candidates if c is not None and campaign.assesses(c)):
            org = OrgChartView.of(await work.org_chart.around(subject, [rater]))
            approved = [Nomination(subject, rater, "", "approved")] if subject in as_peer else []
            found += [
                AssignmentStatus(
                    subject=subject,
                    group=a.group,
                    submitted=subject in submitted,
                    final=submitted.get(subject, False),
                )
                for a in assignments(subject, org, approved)
                if a.rater == rater
            ]
    return found


async def submit(
    campaigns: Campaigns,
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
        campaign: Campaign, assessment: SubjectAssessment, work: Work
    ) -> list[IntegrationEvent]:
        org = await org_around(work, assessment)
        asked = await campaigns.questionnaire(work, campaign, subject)
        return assessment.submit(submission, asked, org, campaign, now)

    return bool(await on_subject(campaigns, campaign_id, subject, decide, rater))
