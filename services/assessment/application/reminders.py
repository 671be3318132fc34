"""Deadlines and reminders (docs/domain.md §3): who still owes a final submission, and
reminding them while the campaign is open."""

from __future__ import annotations

from datetime import datetime

from libs.events.envelope import EventMetadata
from libs.events.schemas.assessment import RemindersSent
from services.assessment.application.campaigns import Campaigns, Progress, progress_in, stream_of
from services.assessment.domain.campaigns import Campaign
from services.assessment.domain.raters import Assignment


async def progress(campaigns: Campaigns, campaign: Campaign) -> Progress:
    """The campaign's assignments (org chart raters and approved peers) and those still
    without a final submission, from one pass over the org chart."""
    async with campaigns.unit_of_work.reading() as work:
        return await progress_in(work, campaign)


async def non_responders(campaigns: Campaigns, campaign_id: str) -> list[Assignment]:
    """Assignments without a final submission: whom to remind."""
    return (await progress(campaigns, await campaigns.campaign(campaign_id))).outstanding


async def remind(
    campaigns: Campaigns, campaign_id: str, actor: str, now: datetime
) -> RemindersSent | None:
    """Announce who still owes submissions, for notification; None when nobody does."""
    campaign = await campaigns.campaign(campaign_id)
    events = campaign.remind(await non_responders(campaigns, campaign_id), now)
    if not events:
        return None
    await campaigns.events.append(
        stream_of(campaign_id), campaign.stream_version, events, EventMetadata(actor=actor)
    )
    sent = events[0]
    assert isinstance(sent, RemindersSent)
    return sent


async def reminded_since(campaigns: Campaigns, campaign_id: str, since: datetime) -> bool:
    """Whether reminders went out at or after `since` (as the appending worker's clock saw it)."""
    stream = await campaigns.events.read_stream(stream_of(campaign_id))
    return any(e.event_type == RemindersSent.event_type and e.occurred_at >= since for e in stream)
