"""Results of a closed campaign (docs/domain.md §3, Anonymity): released at close only; the
subject, their manager and HR see anonymous groups only at the threshold (HR is told why);
only the raters assigned at close count, and they keep counting whatever the org chart does
next."""

from __future__ import annotations

import pytest

from services.assessment.application import closing, results
from services.assessment.application.campaigns import Campaigns, NotAllowed, NotInCampaign
from services.assessment.application.results import ResultsNotReady
from services.assessment.domain.anonymity import AnonymityPolicy
from services.assessment.domain.campaigns import CampaignSettings
from services.assessment.domain.ratings import RaterGroup
from tests.support.assessment_ports import (
    CAMPAIGN,
    HR,
    NOW,
    MemoryAssessment,
    approve_peers,
    open_spring,
    rate,
)
from tests.support.memory import person


def groups(views: list, group: RaterGroup) -> set[tuple[bool, float | None, int | None]]:
    """(suppressed, mean, responses) of `group` across the competencies."""
    return {
        (g.suppressed, g.mean, g.responses) for v in views for g in v.groups if g.group == group
    }


async def test_results_are_released_only_once_the_campaign_closes(campaigns: Campaigns) -> None:
    await open_spring(campaigns)
    await rate(campaigns, "ann", "ann", 3)
    with pytest.raises(ResultsNotReady):
        await results.results(campaigns, CAMPAIGN)
    with pytest.raises(ResultsNotReady):
        await results.results_for_subject(campaigns, CAMPAIGN, "ann", "ann")


async def test_an_anonymous_group_under_the_threshold_is_suppressed_for_the_subject_only(
    campaigns: Campaigns,
) -> None:
    await open_spring(campaigns)
    await rate(campaigns, "ann", "ann", 2)
    await rate(campaigns, "ann", "mgr", 4)
    await rate(campaigns, "ann", "r1", 3, comment="clear")
    await rate(campaigns, "ann", "r2", 5)  # not final: counted all the same once closed
    await closing.close(campaigns, CAMPAIGN, HR)

    views = await results.results_for_subject(campaigns, CAMPAIGN, "ann", "ann")
    assert groups(views, "direct_report") == {(True, None, None)}
    assert all(not g.comments for v in views for g in v.groups if g.group == "direct_report")
    assert groups(views, "manager") == {(False, 4.0, 1)}
    assert groups(views, "self") == {(False, 2.0, 1)}

    _, found = await results.results(campaigns, CAMPAIGN, ["ann"])
    reports = {r.group("direct_report") for r in found}
    assert {(g.mean, g.responses) for g in reports if g is not None} == {(4.0, 2)}


async def test_an_anonymous_group_at_the_threshold_is_shown(campaigns: Campaigns) -> None:
    await open_spring(campaigns)
    for rater, value in (("r1", 3), ("r2", 4), ("r3", 5)):
        await rate(campaigns, "ann", rater, value, final=True)
    await closing.close(campaigns, CAMPAIGN, HR)
    views = await results.results_for_subject(campaigns, CAMPAIGN, "ann", "mgr")
    assert groups(views, "direct_report") == {(False, 4.0, 3)}


async def test_the_campaign_sets_its_own_threshold(campaigns: Campaigns) -> None:
    lower = CampaignSettings(anonymity=AnonymityPolicy(minimum_responses=2))
    await open_spring(campaigns, settings=lower)
    await approve_peers(campaigns, "ann", "mgr", "p1", "p2")
    await rate(campaigns, "ann", "p1", 2)
    await rate(campaigns, "ann", "p2", 4)
    await rate(campaigns, "ann", "r1", 3)
    await closing.close(campaigns, CAMPAIGN, HR)
    views = await results.results_for_subject(campaigns, CAMPAIGN, "ann", "ann")
    assert groups(views, "peer") == {(False, 3.0, 2)}
    assert groups(views, "direct_report") == {(True, None, None)}


async def test_only_the_subject_and_their_manager_see_the_subjects_results(
    campaigns: Campaigns,
) -> None:
    await open_spring(campaigns)
    await rate(campaigns, "ann", "ann", 3)
    await closing.close(campaigns, CAMPAIGN, HR)
    assert await results.results_for_subject(campaigns, CAMPAIGN, "ann", "mgr")
    for viewer in ("boss", "r1", "cat"):
        with pytest.raises(NotAllowed):
            await results.results_for_subject(campaigns, CAMPAIGN, "ann", viewer)
    with pytest.raises(NotInCampaign):
        await results.results_for_subject(campaigns, CAMPAIGN, "r1", "r1")


async def test_a_former_managers_submission_no_longer_counts(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    await open_spring(campaigns)
    await rate(campaigns, "ann", "mgr", 1, final=True)
    uow.work.org_chart.hire(person("ann", "boss"))  # the HRIS moved ann under boss
    await closing.close(campaigns, CAMPAIGN, HR)
    _, ratings = await results.ratings(campaigns, CAMPAIGN)
    assert ratings == []
    _, found = await results.results(campaigns, CAMPAIGN)
    assert found == []


async def test_a_report_who_leaves_after_the_close_changes_no_view(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    """The leaver attack: were groups recomputed from today's org chart, ann's manager would
    read her direct reports' mean with and without r1, and the difference would be r1's own
    ratings. Groups are as they stood at close, for everyone who may look."""
    await open_spring(campaigns)
    await rate(campaigns, "ann", "mgr", 4, final=True)
    for rater, value in (("r1", 1), ("r2", 4), ("r3", 5)):
        await rate(campaigns, "ann", rater, value, final=True, comment=f"from {rater}")
    await closing.close(campaigns, CAMPAIGN, HR)

    async def every_view() -> list[object]:
        return [
            await results.results_for_subject(campaigns, CAMPAIGN, "ann", "ann"),
            await results.results_for_subject(campaigns, CAMPAIGN, "ann", "mgr"),
            await results.results_for_hr(campaigns, CAMPAIGN, ["ann"]),
        ]

    before = await every_view()
    assert groups(before[0], "direct_report") == {(False, 10 / 3, 3)}
    uow.work.org_chart.leave("r1", NOW.date())
    uow.work.org_chart.hire(person("r2", "cat"))  # and another moves to another team
    assert await every_view() == before


async def test_hr_sees_that_a_group_is_suppressed_and_why_never_its_values(
    campaigns: Campaigns,
) -> None:
    await open_spring(campaigns)
    await rate(campaigns, "ann", "r1", 1, comment="only one of us answered")
    await rate(campaigns, "ann", "r2", 2)
    await closing.close(campaigns, CAMPAIGN, HR)
    [view, *_] = await results.results_for_hr(campaigns, CAMPAIGN, ["ann"])
    [reports] = [g for g in view.groups if g.group == "direct_report"]
    assert (reports.suppressed, reports.mean, reports.responses, reports.comments) == (
        True,
        None,
        None,
        (),
    )
    assert reports.suppressed_because == "fewer than 3 raters of the group rated it"
    for_subject = await results.results_for_subject(campaigns, CAMPAIGN, "ann", "ann")
    assert all(g.suppressed_because is None for v in for_subject for g in v.groups)
