"""Opening a campaign on its population (docs/domain.md §3), through the ports in memory."""

from __future__ import annotations

import pytest

from libs.events.schemas.assessment import CampaignOpened
from services.assessment.application import closing, launching
from services.assessment.application.campaigns import (
    CampaignNotFound,
    Campaigns,
    UnknownFrameworkVersion,
    stream_of,
)
from services.assessment.application.launching import Population, UnknownPopulation
from services.assessment.domain.campaigns import CampaignError, InvalidCampaign
from tests.support.assessment_ports import (
    CAMPAIGN,
    CLOSES,
    HR,
    NOW,
    MemoryAssessment,
    open_spring,
)
from tests.support.memory import person


async def opening(campaigns: Campaigns, population: Population, version: int = 1) -> CampaignOpened:
    return await launching.open_campaign(
        campaigns, CAMPAIGN, "eng", version, population, CLOSES, HR, NOW
    )


async def test_everyone_active_is_assessed_in_their_position(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    uow.work.org_chart.hire(person("gone", "boss", left=True), person("nojob", "boss", level=None))
    opened = await opening(campaigns, Population())
    assert "gone" not in opened.population
    assert opened.population == sorted(opened.population)
    assert {"ann", "boss", "nojob", "r1"} <= set(opened.population)
    assert opened.positions["ann"] == ("eng", "ic", "L3")
    assert opened.positions["mgr"] == ("eng", "ic", "L4")
    assert "nojob" not in opened.positions  # no questionnaire without a level
    [envelope] = await uow.work.events.read_stream(stream_of(CAMPAIGN))
    assert (envelope.event_type, envelope.actor) == ("CampaignOpened", HR)
    assert (await campaigns.campaign(CAMPAIGN)).opened == opened


async def test_a_department_or_a_job_family_is_everyone_active_in_it(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    uow.work.org_chart.hire(person("dee", "boss", department="Data", job_family="data"))
    assert (await opening(campaigns, Population(department="Data"))).population == ["cat", "dee"]
    both = Population(department="Data", job_family="eng")
    assert (
        await launching.open_campaign(campaigns, "other", "eng", 1, both, CLOSES, HR, NOW)
    ).population == ["cat"]


async def test_unknown_people_and_empty_populations_are_refused_by_name(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    with pytest.raises(UnknownPopulation, match=r"\['zed'\]"):
        await opening(campaigns, Population(employee_ids=["ann", "zed"]))
    with pytest.raises(UnknownPopulation, match="department 'Sales' and job family 'eng'"):
        await opening(campaigns, Population(department="Sales", job_family="eng"))
    assert await uow.work.events.read_stream(stream_of(CAMPAIGN)) == []


async def test_a_framework_version_not_yet_received_is_refused(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    with pytest.raises(UnknownFrameworkVersion, match="version 2 has not reached"):
        await opening(campaigns, Population(), version=2)
    with pytest.raises(CampaignNotFound):
        await campaigns.campaign(CAMPAIGN)


async def test_a_campaign_opens_once_and_closes_in_the_future(campaigns: Campaigns) -> None:
    await open_spring(campaigns)
    with pytest.raises(CampaignError, match="already open"):
        await open_spring(campaigns)
    with pytest.raises(InvalidCampaign, match="has passed"):
        await launching.open_campaign(campaigns, "late", "eng", 1, Population(), NOW, HR, NOW)


async def test_the_campaign_read_again_sees_what_was_appended_since(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    """The cached campaign is only a starting point: later events are read on top of it."""
    await open_spring(campaigns)
    assert not (await campaigns.campaign(CAMPAIGN)).closed
    await closing.close(
        Campaigns(uow.work.events, uow), CAMPAIGN, HR
    )  # by another process of the service
    assert (await campaigns.campaign(CAMPAIGN)).closed
