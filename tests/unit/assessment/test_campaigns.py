"""The 360 campaign (DOMAIN.md §3): one submission per (subject, rater), revisable until
finalised or closed, the same submission twice counted once, non-responders known; no public
event identifies a peer or a report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import AssessmentSubmitted, CampaignClosed
from libs.events.schemas.framework import SubSkill
from services.assessment.domain.aggregation import aggregate
from services.assessment.domain.campaigns import Campaign, CampaignError, SubmissionRecorded
from services.assessment.domain.questionnaires import questionnaire
from services.assessment.domain.raters import Assignment
from services.assessment.domain.submissions import Answer, Submission, SubmissionRefused
from services.framework.domain.profiles import effective_profiles
from tests.support.sample_frameworks import replace_competency, valid_framework

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
CLOSES = NOW + timedelta(days=14)
FRAMEWORK = valid_framework()
FORM = questionnaire("eng", 1, FRAMEWORK, effective_profiles(FRAMEWORK)["eng-l3"])
ASSIGNED = [
    Assignment(subject="ann", rater="ann", group="self"),
    Assignment(subject="ann", rater="mgr", group="manager"),
    Assignment(subject="ann", rater="bob", group="peer"),
]


def opened() -> Campaign:
    campaign = Campaign("c1")
    apply(campaign, campaign.open("eng", 1, ["ann", "cat"], CLOSES, NOW))
    return campaign


def apply(campaign: Campaign, events: list[IntegrationEvent]) -> None:
    for event in events:
        campaign.apply(event, campaign.stream_version + 1)


def sent(rater: str, value: int | None = 3, final: bool = False) -> Submission:
    answers = [Answer(item=item.id, value=value) for item in FORM.items]
    return Submission(campaign="c1", subject="ann", rater=rater, answers=answers, final=final)


def test_a_submission_is_recorded_privately_and_announced_without_the_rater() -> None:
    campaign = opened()
    recorded, announced = campaign.submit(sent("bob"), FORM, ASSIGNED, NOW)
    assert isinstance(recorded, SubmissionRecorded)
    assert recorded.private, "ratings and raters never leave the service"
    assert isinstance(announced, AssessmentSubmitted)
    assert not announced.private
    assert announced.group == "peer"
    assert "bob" not in announced.model_dump_json()


def test_the_same_submission_sent_twice_counts_once_and_a_revision_replaces_it() -> None:
    campaign = opened()
    apply(campaign, campaign.submit(sent("bob"), FORM, ASSIGNED, NOW))
    assert campaign.submit(sent("bob"), FORM, ASSIGNED, NOW) == []
    apply(campaign, campaign.submit(sent("bob", value=4), FORM, ASSIGNED, NOW))
    assert len(campaign.submissions) == 1
    assert {r.value for r in campaign.ratings()} == {4}


def test_finalised_and_late_submissions_are_refused() -> None:
    campaign = opened()
    apply(campaign, campaign.submit(sent("mgr"), FORM, ASSIGNED, NOW))
    with pytest.raises(SubmissionRefused, match="closed"):  # even sent again as it was
        campaign.submit(sent("mgr"), FORM, ASSIGNED, CLOSES)
    apply(campaign, campaign.submit(sent("bob", final=True), FORM, ASSIGNED, NOW))
    with pytest.raises(SubmissionRefused, match="finalised"):
        campaign.submit(sent("bob", value=1), FORM, ASSIGNED, NOW)
    with pytest.raises(SubmissionRefused, match="closed"):
        campaign.submit(sent("mgr"), FORM, ASSIGNED, CLOSES + timedelta(seconds=1))
    with pytest.raises(SubmissionRefused, match="'cat' is not an assigned rater"):
        campaign.submit(sent("mgr").model_copy(update={"rater": "cat"}), FORM, ASSIGNED, NOW)


def test_non_responders_are_those_without_a_final_submission() -> None:
    campaign = opened()
    apply(campaign, campaign.submit(sent("ann", final=True), FORM, ASSIGNED, NOW))
    apply(campaign, campaign.submit(sent("bob"), FORM, ASSIGNED, NOW))
    assert [a.rater for a in campaign.non_responders(ASSIGNED)] == ["mgr", "bob"]
    [closed] = campaign.close(ASSIGNED)
    assert isinstance(closed, CampaignClosed)
    assert (closed.submissions, closed.non_responders) == (2, 2)


def test_a_campaign_opens_once_for_someone_before_its_close_date() -> None:
    campaign = opened()
    with pytest.raises(CampaignError, match="already open"):
        campaign.open("eng", 1, ["ann"], CLOSES, NOW)
    with pytest.raises(CampaignError, match="has passed"):
        Campaign("c2").open("eng", 1, ["ann"], NOW, NOW)
    with pytest.raises(CampaignError, match="at least one person"):
        Campaign("c3").open("eng", 1, [], CLOSES, NOW)


def test_campaign_ratings_feed_aggregation() -> None:
    campaign = opened()
    apply(campaign, campaign.submit(sent("mgr", value=4), FORM, ASSIGNED, NOW))
    apply(campaign, campaign.submit(sent("bob", value=None), FORM, ASSIGNED, NOW))
    results = aggregate(campaign.ratings())
    assert {r.overall for r in results} == {4}, "not observed is excluded, never a zero"


def test_at_sub_skill_granularity_a_raters_competency_rating_is_their_sub_skill_mean() -> None:
    """DOMAIN.md §2, Granularity: richer data per sub-skill, compared per competency."""
    framework = replace_competency(
        valid_framework(),
        "coding",
        sub_skills=[SubSkill(key="reads", name="Reads code"), SubSkill(key="tests", name="Tests")],
    ).model_copy(update={"granularity": "sub_skill"})
    form = questionnaire("eng", 1, framework, effective_profiles(framework)["eng-l3"])
    values = {"coding/reads": 2, "coding/tests": 4}
    answers = [Answer(item=i.id, value=values.get(i.id, 3)) for i in form.items]
    campaign = opened()
    submission = Submission(campaign="c1", subject="ann", rater="mgr", answers=answers)
    apply(campaign, campaign.submit(submission, form, ASSIGNED, NOW))
    [coding] = [r for r in campaign.ratings() if r.competency == "coding"]
    assert coding.value == 3
