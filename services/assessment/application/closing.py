"""Closing a campaign (docs/domain.md §3): revisions end and results are released, computed
from the assignments as they stand at close (frozen: a later org-chart change moves no
group); how many submissions were made and how many assignments went without a final one
is announced."""

from __future__ import annotations

from libs.events.envelope import EventMetadata
from libs.events.schemas.assessment import CampaignClosed
from services.assessment.application.campaigns import Campaigns, progress_in, stream_of


async def close(campaigns: Campaigns, campaign_id: str, actor: str) -> CampaignClosed:
    campaign = await campaigns.campaign(campaign_id)
    async with campaigns.unit_of_work.transaction() as work:
        # Waits for subject commands in flight; later ones see the campaign closed.
        await work.hold_campaign(campaign_id, exclusive=True)
        progress = await progress_in(work, campaign)
        # Results come from these assignments from now on, whatever the org chart does.
        await work.records.freeze_assignments(
            campaign_id, [(a.subject, a.rater) for a in progress.expected]
        )
        events = campaign.close(
            submissions=await work.records.submission_count(campaign_id),
            non_responders=len(progress.outstanding),
        )
        await work.events.append(
            stream_of(campaign_id), campaign.stream_version, events, EventMetadata(actor=actor)
        )
    closed = events[0]
    assert isinstance(closed, CampaignClosed)
    return closed
