"""Opening a 360 campaign on its population (docs/domain.md §3): these employees, a department,
a job family, or everyone active, each assessed in the position the org chart gives them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from libs.events.envelope import EventMetadata
from libs.events.schemas.assessment import CampaignOpened
from services.assessment.application.campaigns import (
    Campaigns,
    UnknownFrameworkVersion,
    stream_of,
)
from services.assessment.domain.campaigns import Campaign, CampaignError, CampaignSettings
from services.assessment.domain.raters import OrgChartView


class UnknownPopulation(CampaignError):
    """The requested population names nobody active in the org chart, or someone unknown."""


@dataclass(frozen=True)
class Population:
    """Whom a campaign assesses: these employees, or everyone active in a department or a
    job family (or both), or everyone active."""

    employee_ids: list[str] | None = None
    department: str | None = None
    job_family: str | None = None


async def open_campaign(
    campaigns: Campaigns,
    campaign_id: str,
    framework_id: str,
    framework_version: int,
    population: Population,
    closes_at: datetime,
    actor: str,
    now: datetime,
    settings: CampaignSettings | None = None,
) -> CampaignOpened:
    async with campaigns.unit_of_work.reading() as work:
        if await work.frameworks.framework(framework_id, framework_version) is None:
            raise UnknownFrameworkVersion(
                f"framework {framework_id!r} version {framework_version} has not reached "
                "the assessment service: publish it, or wait for it to arrive"
            )
        org = OrgChartView.of(await work.org_chart.everyone())
    log = campaigns.events
    campaign = Campaign(campaign_id)
    for envelope in await log.read_stream(stream_of(campaign_id)):
        campaign.apply(await log.decode(envelope), envelope.stream_version)
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
    await log.append(
        stream_of(campaign_id), campaign.stream_version, events, EventMetadata(actor=actor)
    )
    opened = events[0]
    assert isinstance(opened, CampaignOpened)
    return opened


def _members(population: Population, org: OrgChartView) -> list[str]:
    """Who the population is in the org chart as it stands."""
    if population.employee_ids is not None:
        unknown = sorted(set(population.employee_ids) - set(org.people))
        if unknown:
            raise UnknownPopulation(f"not active in the org chart: {unknown}")
        return population.employee_ids
    found = [
        p.employee_id
        for p in org.people.values()
        if population.department in (None, p.department)
        and population.job_family in (None, p.job_family)
    ]
    if not found:
        where = " and ".join(
            f"{name} {value!r}"
            for name, value in (
                ("department", population.department),
                ("job family", population.job_family),
            )
            if value is not None
        )
        raise UnknownPopulation(f"nobody active in {where or 'the org chart'}")
    return found
