"""Peer nominations (docs/domain.md §3): the subject or their manager nominates, the manager
approves or rejects; the subject sees only the nominations they made."""

from __future__ import annotations

from datetime import datetime

from libs.events.registry import IntegrationEvent
from services.assessment.application.campaigns import Campaigns, NotAllowed, org_around
from services.assessment.application.ports import Work
from services.assessment.application.subject_commands import on_subject
from services.assessment.domain.campaigns import Campaign, SubjectAssessment
from services.assessment.domain.raters import Nomination


async def nominate(
    campaigns: Campaigns, campaign_id: str, subject: str, peer: str, by: str, now: datetime
) -> Nomination:
    """A peer nominated by the subject or their manager, pending the manager's decision."""

    async def decide(
        campaign: Campaign, assessment: SubjectAssessment, work: Work
    ) -> list[IntegrationEvent]:
        org = await org_around(work, assessment, [peer])
        return assessment.nominate(peer, by, org, campaign, now)

    await on_subject(campaigns, campaign_id, subject, decide, by)
    return Nomination(subject, peer, by)


async def decide_nomination(
    campaigns: Campaigns,
    campaign_id: str,
    subject: str,
    peer: str,
    approve: bool,
    by: str,
    now: datetime,
) -> Nomination:
    """The subject's manager approves or rejects a pending peer."""
    nominated_by: list[str] = []

    async def decide(
        campaign: Campaign, assessment: SubjectAssessment, work: Work
    ) -> list[IntegrationEvent]:
        org = await org_around(work, assessment)
        events = assessment.decide(peer, approve, by, org, campaign, now)
        nominated_by[:] = [n.nominated_by for n in assessment.nominations if n.peer == peer]
        return events

    await on_subject(campaigns, campaign_id, subject, decide, by)
    state = "approved" if approve else "rejected"
    return Nomination(subject, peer, nominated_by[-1], state, by)


async def nominations(
    campaigns: Campaigns, campaign_id: str, subject: str, viewer: str, hr: bool
) -> list[Nomination]:
    """The subject's peer nominations: all of them for their manager and HR; for the
    subject, only those they made, since the others would tell them who may rate them."""
    async with campaigns.unit_of_work.reading() as work:
        _, assessment = await campaigns.campaign_and_subject(campaign_id, subject, work.events)
        org = await org_around(work, assessment)
    if hr or viewer == org.manager_of(subject):
        return assessment.nominations
    if viewer == subject:
        return [n for n in assessment.nominations if n.nominated_by == subject]
    raise NotAllowed(f"only {subject!r}, their manager or HR see their nominations")
