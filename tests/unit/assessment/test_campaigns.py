"""The 360 campaign (docs/domain.md §3): one submission per (subject, rater), revisable until
finalised or closed, the same submission twice counted once, non-responders known and
reminded, peers nominated and approved by the manager; no public event identifies a peer or
a report."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from libs.events.registry import Event
from libs.events.schemas.assessment import (
    AssessmentSubmitted,
    CampaignClosed,
    RatersNominated,
    RemindersSent,
)
from libs.events.schemas.framework import SubSkill
from services.assessment.domain.aggregation import GroupWeights, aggregate
from services.assessment.domain.anonymity import AnonymityPolicy
from services.assessment.domain.campaigns import (
    Campaign,
    CampaignError,
    CampaignSettings,
    PeerNominated,
    SubjectAssessment,
    SubmissionRecorded,
    submission_ratings,
)
from services.assessment.domain.questionnaires import questionnaire
from services.assessment.domain.raters import NominationRefused, NotEntitled, OrgChartView
from services.assessment.domain.ratings import Rating
from services.assessment.domain.submissions import Answer, Submission, SubmissionRefused
from services.framework.domain.profiles import effective_profiles
from tests.support.memory import person
from tests.support.sample_frameworks import replace_competency, valid_framework

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
CLOSES = NOW + timedelta(days=14)
FRAMEWORK = valid_framework()
FORM = questionnaire("eng", 1, FRAMEWORK, effective_profiles(FRAMEWORK)["eng-l3"])


# ann and cat report to mgr; bob and dan are ann's colleagues elsewhere.
ORG = OrgChartView.of(
    [
        person("mgr", None),
        person("ann", "mgr"),
        person("cat", "mgr"),
        person("bob", "lead"),
        person("dan", "lead"),
        person("lead", None),
    ]
)


def apply(aggregate: Campaign | SubjectAssessment, events: list[Event]) -> None:
    for event in events:
        aggregate.apply(event, aggregate.stream_version + 1)


def opened(settings: CampaignSettings | None = None) -> Campaign:
    campaign = Campaign("c1")
    apply(campaign, campaign.open("eng", 1, ["ann", "cat"], CLOSES, NOW, settings))
    return campaign


def with_peer(campaign: Campaign, peer: str = "bob") -> SubjectAssessment:
    ann = SubjectAssessment("c1", "ann")
    apply(ann, ann.nominate(peer, "ann", ORG, campaign, NOW))
    apply(ann, ann.decide(peer, True, "mgr", ORG, campaign, NOW))
    return ann


def ratings_of(recorded: Iterable[SubmissionRecorded]) -> list[Rating]:
    return [
        rating
        for r in recorded
        for rating in submission_ratings(
            r.submission.subject,
            r.submission.rater,
            r.group,
            ((a.item, a.value, a.comment, a.not_relevant) for a in r.submission.answers),
        )
    ]


def sent(rater: str, value: int | None = 3, final: bool = False) -> Submission:
    answers = [Answer(item=item.id, value=value) for item in FORM.items]
    return Submission(campaign="c1", subject="ann", rater=rater, answers=answers, final=final)


def test_a_submission_is_recorded_privately_and_announced_without_the_rater() -> None:
    campaign = opened()
    ann = with_peer(campaign)
    recorded, announced = ann.submit(sent("bob"), FORM, ORG, campaign, NOW)
    assert isinstance(recorded, SubmissionRecorded)
    assert recorded.private, "ratings and raters never leave the service"
    assert isinstance(announced, AssessmentSubmitted)
    assert not announced.private
    assert announced.group == "peer"
    assert "bob" not in announced.model_dump_json()


def test_the_same_submission_sent_twice_counts_once_and_a_revision_replaces_it() -> None:
    campaign = opened()
    ann = with_peer(campaign)
    apply(ann, ann.submit(sent("bob"), FORM, ORG, campaign, NOW))
    assert ann.submit(sent("bob"), FORM, ORG, campaign, NOW) == []
    apply(ann, ann.submit(sent("bob", value=4), FORM, ORG, campaign, NOW))
    assert len(ann.submissions) == 1
    assert {r.value for r in ratings_of(ann.submissions.values())} == {4}


def test_finalised_and_late_submissions_are_refused() -> None:
    campaign = opened()
    ann = with_peer(campaign)
    apply(ann, ann.submit(sent("mgr"), FORM, ORG, campaign, NOW))
    with pytest.raises(SubmissionRefused, match="closed"):  # even sent again as it was
        ann.submit(sent("mgr"), FORM, ORG, campaign, CLOSES)
    apply(ann, ann.submit(sent("bob", final=True), FORM, ORG, campaign, NOW))
    with pytest.raises(SubmissionRefused, match="finalised"):
        ann.submit(sent("bob", value=1), FORM, ORG, campaign, NOW)
    apply(campaign, campaign.close(submissions=2, non_responders=1))
    with pytest.raises(SubmissionRefused, match="closed"):
        ann.submit(sent("mgr", value=5), FORM, ORG, campaign, NOW)
    with pytest.raises(SubmissionRefused, match="'cat' is not an assigned rater"):
        ann.submit(sent("cat"), FORM, ORG, opened(), NOW)


def test_non_responders_are_those_without_a_final_submission_and_are_reminded() -> None:
    campaign = opened()
    ann = with_peer(campaign)
    apply(ann, ann.submit(sent("ann", final=True), FORM, ORG, campaign, NOW))
    apply(ann, ann.submit(sent("bob"), FORM, ORG, campaign, NOW))
    waiting = [
        a
        for a in ann.assignments(ORG)
        if a.rater not in ann.submissions or not ann.submissions[a.rater].submission.final
    ]
    assert [a.rater for a in waiting] == ["mgr", "bob"]
    [sent_reminders] = campaign.remind(waiting + waiting[:1], NOW)
    assert isinstance(sent_reminders, RemindersSent)
    assert [(r.rater, r.pending) for r in sent_reminders.raters] == [("bob", 1), ("mgr", 2)]
    assert "ann" not in sent_reminders.model_dump_json(), "reminders never name whom one rates"
    assert campaign.remind([], NOW) == [], "nobody to remind: nothing sent"
    [closed] = campaign.close(submissions=2, non_responders=2)
    assert isinstance(closed, CampaignClosed)
    apply(campaign, [closed])
    with pytest.raises(CampaignError, match="not open"):
        campaign.remind(waiting, NOW)


def test_peers_are_nominated_by_the_subject_or_manager_and_decided_by_the_manager() -> None:
    """docs/domain.md §3, Rater groups: peers are nominated by the employee or manager and
    approved by the manager. The public event counts peers and names none."""
    settings = CampaignSettings(
        anonymity={"minimum_responses": 2}, peers={"minimum": 2, "maximum": 2}
    )
    campaign = opened(settings)
    ann = SubjectAssessment("c1", "ann")
    nominated, counted = ann.nominate("bob", "ann", ORG, campaign, NOW)
    assert isinstance(counted, RatersNominated)
    assert (counted.approved_peers, counted.pending_peers) == (0, 1)
    assert isinstance(nominated, PeerNominated)
    assert nominated.private
    apply(ann, [nominated, counted])
    apply(ann, ann.nominate("dan", "mgr", ORG, campaign, NOW))
    assert ann.nominate("dan", "ann", ORG, campaign, NOW) == [], (
        "a repeat is accepted silently: refusing it would tell ann whom her manager nominated"
    )
    with pytest.raises(NominationRefused, match="at most 2"):
        ann.nominate("lead", "ann", ORG, campaign, NOW)
    with pytest.raises(NotEntitled, match="only 'ann' or their manager"):
        ann.nominate("lead", "cat", ORG, campaign, NOW)
    assert [a.group for a in ann.assignments(ORG)] == ["self", "manager"], "pending: no rater"
    with pytest.raises(NotEntitled, match="only the manager"):
        ann.decide("bob", True, "ann", ORG, campaign, NOW)
    with pytest.raises(NotEntitled, match="only the manager"):  # before revealing anything
        ann.decide("nobody-nominated", True, "cat", ORG, campaign, NOW)
    decided, counted = ann.decide("bob", True, "mgr", ORG, campaign, NOW)
    assert isinstance(counted, RatersNominated)
    assert not counted.private
    assert (counted.approved_peers, counted.pending_peers, counted.peers_needed) == (1, 1, 1)
    assert "bob" not in counted.model_dump_json()
    assert "dan" not in counted.model_dump_json()
    apply(ann, [decided, counted])
    apply(ann, ann.decide("dan", False, "mgr", ORG, campaign, NOW))
    assert [(a.rater, a.group) for a in ann.assignments(ORG) if a.group == "peer"] == [
        ("bob", "peer")
    ]
    with pytest.raises(NominationRefused, match="no pending nomination"):
        ann.decide("dan", True, "mgr", ORG, campaign, NOW)
    apply(campaign, campaign.close(0, 0))
    with pytest.raises(NominationRefused, match="closed"):
        ann.nominate("lead", "ann", ORG, campaign, NOW)


def test_a_campaign_opens_once_for_someone_before_its_close_date() -> None:
    campaign = opened()
    with pytest.raises(CampaignError, match="already open"):
        campaign.open("eng", 1, ["ann"], CLOSES, NOW)
    with pytest.raises(CampaignError, match="has passed"):
        Campaign("c2").open("eng", 1, ["ann"], NOW, NOW)
    with pytest.raises(CampaignError, match="at least one person"):
        Campaign("c3").open("eng", 1, [], CLOSES, NOW)


def test_a_peer_group_capped_below_the_anonymity_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="could never be shown"):
        CampaignSettings(anonymity={"minimum_responses": 5}, peers={"minimum": 1, "maximum": 2})


def test_a_campaign_keeps_its_settings_in_its_opening_event() -> None:
    chosen = CampaignSettings(
        anonymity=AnonymityPolicy(minimum_responses=4),
        weights=GroupWeights(manager=0.5, peer=0.5, direct_report=0.0),
        peers={"minimum": 1, "maximum": 4},
    )
    campaign = opened(chosen)
    assert campaign.settings == chosen
    assert opened().settings == CampaignSettings(), "the documented defaults"


def test_campaign_ratings_feed_aggregation() -> None:
    campaign = opened()
    ann = with_peer(campaign)
    apply(ann, ann.submit(sent("mgr", value=4), FORM, ORG, campaign, NOW))
    apply(ann, ann.submit(sent("bob", value=None), FORM, ORG, campaign, NOW))
    results = aggregate(ratings_of(ann.submissions.values()))
    assert {r.overall for r in results} == {4}, "not observed is excluded, never a zero"


def test_at_sub_skill_granularity_a_raters_competency_rating_is_their_sub_skill_mean() -> None:
    """docs/domain.md §2, Granularity: richer data per sub-skill, compared per competency."""
    framework = replace_competency(
        valid_framework(),
        "coding",
        sub_skills=[SubSkill(key="reads", name="Reads code"), SubSkill(key="tests", name="Tests")],
    ).model_copy(update={"granularity": "sub_skill"})
    form = questionnaire("eng", 1, framework, effective_profiles(framework)["eng-l3"])
    values = {"coding/reads": 2, "coding/tests": 4}
    answers = [Answer(item=i.id, value=values.get(i.id, 3)) for i in form.items]
    campaign = opened()
    ann = SubjectAssessment("c1", "ann")
    submission = Submission(campaign="c1", subject="ann", rater="mgr", answers=answers)
    apply(ann, ann.submit(submission, form, ORG, campaign, NOW))
    [coding] = [r for r in ratings_of(ann.submissions.values()) if r.competency == "coding"]
    assert coding.value == 3
