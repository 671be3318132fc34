"""Results of a closed campaign (docs/domain.md §3, Anonymity), computed from the assignments
frozen at close: the subject's view and HR's, both with anonymous groups under the threshold
suppressed (HR is told why) and no rater named; the unsuppressed aggregate is calibration's."""

from __future__ import annotations

from collections.abc import Iterable

from services.assessment.application.campaigns import (
    Campaigns,
    NotAllowed,
    NotInCampaign,
    expected_assignments,
)
from services.assessment.application.ports import Work
from services.assessment.domain.aggregation import (
    CompetencyResult,
    SubjectCompetencyView,
    aggregate,
    aggregate_sub_skills,
    hr_view,
    rolled_up,
    subject_view,
)
from services.assessment.domain.campaigns import Campaign, CampaignError
from services.assessment.domain.ratings import Rating


class ResultsNotReady(CampaignError):
    """Results are released at close only: while open, each new submission would change a
    group mean by exactly that rater's rating, and a subject could tell who moved it."""


async def ratings(
    campaigns: Campaigns, campaign_id: str, subjects: Iterable[str] | None = None
) -> tuple[Campaign, list[Rating]]:
    """A closed campaign and its ratings, of some subjects or all.

    Every recorded submission counts, finalised or not: closing ends revisions. Only the
    raters assigned when the campaign closed count (after a change of manager before the
    close, the former manager's submission would make the manager group a mean of two), and
    they keep counting: were groups recomputed from today's org chart, a report who leaves
    would change the group's mean by exactly their own ratings, and two reads would tell them
    apart. Campaigns closed before assignments were frozen are read against the org chart.
    """
    campaign = await campaigns.campaign(campaign_id)
    if not campaign.closed:
        raise ResultsNotReady(
            f"campaign {campaign_id!r} is still open: results are released when it closes"
        )
    async with campaigns.unit_of_work.reading() as work:
        return campaign, await counted_ratings(work, campaign, subjects)


async def counted_ratings(
    work: Work, campaign: Campaign, subjects: Iterable[str] | None = None
) -> list[Rating]:
    """The ratings of a closed campaign that count (`ratings`), of some subjects or all."""
    campaign_id = campaign.campaign_id
    chosen = None if subjects is None else list(subjects)
    assigned = await work.records.frozen_assignments(campaign_id, chosen)
    if assigned is None:
        expected = await expected_assignments(work, campaign, chosen)
        assigned = {(a.subject, a.rater) for a in expected}
    found = await work.records.ratings(campaign_id, chosen)
    return [r for r in found if (r.subject, r.rater) in assigned]


async def results(
    campaigns: Campaigns, campaign_id: str, subjects: Iterable[str] | None = None
) -> tuple[Campaign, list[CompetencyResult]]:
    """The aggregate of a closed campaign, every group with its mean, for some subjects or
    all, each competency asked per sub-skill rolled up from its sub-skills (`rolled_up`):
    what the views are made of, never shown as it is."""
    campaign, found = await ratings(campaigns, campaign_id, subjects)
    weights, policy = campaign.settings.weights, campaign.settings.anonymity
    return campaign, rolled_up(
        aggregate(found, weights, policy), aggregate_sub_skills(found, weights, policy), policy
    )


async def results_for_hr(
    campaigns: Campaigns, campaign_id: str, subjects: Iterable[str]
) -> list[SubjectCompetencyView]:
    """What HR sees of a closed campaign: what the subjects see, and why a group is
    suppressed; a group below the threshold shows HR no mean, count or comment either."""
    campaign, found = await results(campaigns, campaign_id, subjects)
    settings = campaign.settings
    return hr_view(found, settings.anonymity, settings.weights)


async def results_for_subject(
    campaigns: Campaigns, campaign_id: str, subject: str, viewer: str
) -> list[SubjectCompetencyView]:
    """The subject's results as they may see them: anonymous groups under the threshold
    suppressed, no rater named. For the subject and their manager only."""
    if viewer != subject:
        async with campaigns.unit_of_work.reading() as work:
            person = await work.org_chart.person(subject)
        if person is None or person.manager_id != viewer:
            raise NotAllowed(f"only {subject!r} and their manager see their results")
    campaign = await campaigns.campaign(campaign_id)
    if not campaign.assesses(subject):
        raise NotInCampaign(f"{subject!r} is not assessed in campaign {campaign_id!r}")
    campaign, found = await results(campaigns, campaign_id, [subject])
    settings = campaign.settings
    return subject_view(found, settings.anonymity, settings.weights)
