"""What the assessment service gives and erases of a person (docs/privacy.md, Requests): ann
is rated by herself, her manager, three direct reports (shown) and two peers her manager
nominated (suppressed), rates her manager, and is calibrated. Her records name none of her
anonymous raters and give none of their hidden comments; erasing her leaves every value."""

from __future__ import annotations

import json

import pytest

from libs.personal.sealing import ERASED
from libs.privacy.records import PersonalDataSection
from services.assessment.application import calibration, closing, nominations, results
from services.assessment.application.campaigns import Campaigns
from services.assessment.application.personal_data import AssessmentPersonalData
from tests.support.assessment_ports import CAMPAIGN, HR, NOW, MemoryAssessment, open_spring, rate

SESSION = "spring.calibration"
HIDDEN_RATERS = ("r1", "r2", "r3", "p1", "p2")


@pytest.fixture
async def assessed(campaigns: Campaigns) -> Campaigns:
    await open_spring(campaigns, ["ann", "cat", "mgr"])
    for peer in ("p1", "p2"):
        await nominations.nominate(campaigns, CAMPAIGN, "ann", peer, "mgr", NOW)
        await nominations.decide_nomination(campaigns, CAMPAIGN, "ann", peer, True, "mgr", NOW)
    await rate(campaigns, "ann", "ann", 3, comment="ann on ann")
    await rate(campaigns, "ann", "mgr", 4, comment="mgr on ann")
    for report in ("r1", "r2", "r3"):
        await rate(campaigns, "ann", report, 2, comment=f"report {report} on ann")
    for peer in ("p1", "p2"):
        await rate(campaigns, "ann", peer, 5, comment=f"peer {peer} on ann")
    await rate(campaigns, "mgr", "ann", 4, comment="ann on mgr")
    await rate(campaigns, "cat", "mgr", 3, comment="mgr on cat")
    await closing.close(campaigns, CAMPAIGN, HR)
    await calibration.open_session(campaigns, SESSION, CAMPAIGN, None, HR)
    _, [score, *_] = await calibration.scores_of(campaigns, SESSION, "ann")
    competency = score.competency
    await calibration.adjust(
        campaigns, SESSION, "ann", competency, 4.0, "ann led the launch", HR, NOW
    )
    return campaigns


def section(found: list[PersonalDataSection], topic: str) -> PersonalDataSection:
    [chosen] = [s for s in found if s.topic == topic]
    return chosen


async def test_the_records_give_what_ann_sees_and_did_and_name_no_anonymous_rater(
    assessed: Campaigns,
) -> None:
    found = await AssessmentPersonalData(assessed).records_of("ann")
    text = json.dumps([s.model_dump(mode="json") for s in found])
    for rater in HIDDEN_RATERS:
        assert f'"{rater}"' not in text, f"{rater} rated ann anonymously"
    assert "peer p" not in text, "the peers' comments: a suppressed group"

    [position] = section(found, "position in the org chart").items
    assert (position["employee_id"], position["manager_id"]) == ("ann", "mgr")
    [campaign] = section(found, "campaigns assessing them").items
    assert (campaign["campaign_id"], campaign["closed"]) == (CAMPAIGN, True)

    received = section(found, "ratings received")
    mine = await results.results_for_subject(assessed, CAMPAIGN, "ann", "ann")
    assert [{k: v for k, v in i.items() if k != "campaign_id"} for i in received.items] == [
        v.model_dump(mode="json") for v in mine
    ], "exactly her own results view"
    assert "report r1 on ann" in text, "a group large enough is given with its comments"
    assert any("peer group" in why for why in received.withheld)

    gave = {i["subject"]: i for i in section(found, "ratings given").items}
    assert set(gave) == {"ann", "mgr"}
    assert {a["comment"] for a in gave["mgr"]["answers"]} == {"ann on mgr"}
    assert gave["mgr"]["group"] == "direct_report"

    nominated = section(found, "peer nominations")
    assert nominated.items == [], "her manager's nominations would name who may rate her"
    assert nominated.withheld

    adjusted = section(found, "calibration")
    [adjustment] = [a for item in adjusted.items for a in item["adjustments"]]
    assert (adjustment["justification"], adjustment["actor"]) == ("ann led the launch", HR)
    assert any("per rater" in why for why in adjusted.withheld)


async def test_a_peer_sees_the_nominations_of_them_and_a_manager_those_they_made(
    assessed: Campaigns,
) -> None:
    holder = AssessmentPersonalData(assessed)
    [of_peer] = section(await holder.records_of("p1"), "peer nominations").items
    assert of_peer == {
        "campaign_id": CAMPAIGN,
        "subject": "ann",
        "peer": "p1",
        "nominated_by": "mgr",
        "state": "approved",
        "decided_by": "mgr",
    }
    made = section(await holder.records_of("mgr"), "peer nominations").items
    assert {(n["subject"], n["peer"]) for n in made} == {("ann", "p1"), ("ann", "p2")}


async def test_an_open_campaign_gives_no_ratings_yet_and_says_so(campaigns: Campaigns) -> None:
    await open_spring(campaigns)
    await rate(campaigns, "ann", "mgr", 4, comment="a mid-campaign remark")
    found = await AssessmentPersonalData(campaigns).records_of("ann")
    received = section(found, "ratings received")
    assert received.items == []
    assert any("until it closes" in why for why in received.withheld)
    assert "mid-campaign remark" not in json.dumps([s.model_dump(mode="json") for s in found])


async def test_erasure_removes_every_comment_by_and_about_ann_and_her_name_and_keeps_values(
    assessed: Campaigns, uow: MemoryAssessment
) -> None:
    holder = AssessmentPersonalData(assessed)
    before = await results.results(assessed, CAMPAIGN)
    items = len((await uow.work.records.submissions_involving("mgr"))[0].answers)

    erased = await holder.erase("ann", "req-1", "olga-privacy")

    # Comments on every item: hers about herself and mgr, and the six raters' about her.
    assert erased == {"names": 1, "comments written": 2 * items, "comments about them": 6 * items}
    remaining = json.dumps(
        [vars(s) for s in await uow.work.records.submissions_involving("ann")], default=str
    )
    assert " on ann" not in remaining
    assert "ann on " not in remaining
    assert (await uow.work.org_chart.person("ann")).name == ERASED  # type: ignore[union-attr]
    after = await results.results(assessed, CAMPAIGN)
    means = [[(g.group, g.mean) for g in r.groups] for r in before[1]]
    assert means == [[(g.group, g.mean) for g in r.groups] for r in after[1]]
    views = await results.results_for_subject(assessed, CAMPAIGN, "ann", "ann")
    assert {c for v in views for g in v.groups for c in g.comments} == {ERASED}

    assert await holder.erase("ann", "req-1", "olga-privacy") == {
        "names": 0,
        "comments written": 0,
        "comments about them": 0,
    }


async def test_erasing_ann_leaves_what_others_wrote_about_others(
    assessed: Campaigns, uow: MemoryAssessment
) -> None:
    await AssessmentPersonalData(assessed).erase("ann", "req-1", "olga-privacy")
    [on_cat] = await uow.work.records.submissions_involving("cat")
    assert {a[2] for a in on_cat.answers} == {"mgr on cat"}
