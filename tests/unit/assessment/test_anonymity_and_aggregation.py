"""Aggregation of 360 ratings and what the subject may see of it (docs/domain.md §3, Aggregation and
Anonymity): means per rater group, a weighted overall, not-observed left out, and anonymous
groups suppressed below the threshold with no rater identifier anywhere in the subject's view."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from pydantic import TypeAdapter, ValidationError

from services.assessment.domain.aggregation import (
    CompetencyResult,
    DuplicateRating,
    GroupView,
    GroupWeights,
    SubjectCompetencyView,
    aggregate,
    subject_view,
)
from services.assessment.domain.anonymity import AnonymityPolicy, group_visible
from services.assessment.domain.ratings import RaterGroup, Rating

SUBJECT = "emp-sam"
MANAGER = "rater-manager-mia"
PEERS = ("rater-peer-ann", "rater-peer-bob", "rater-peer-cid", "rater-peer-dee")
REPORTS = ("rater-report-eve", "rater-report-fay", "rater-report-gus")


def rating(
    rater: str,
    group: RaterGroup,
    value: int | None,
    competency: str = "collaboration",
    comment: str | None = None,
    subject: str = SUBJECT,
) -> Rating:
    return Rating(
        subject=subject,
        rater=rater,
        group=group,
        competency=competency,
        value=value,
        comment=comment,
    )


def only(results: list[CompetencyResult]) -> CompetencyResult:
    assert len(results) == 1
    return results[0]


def serialised(views: list[SubjectCompetencyView]) -> str:
    return TypeAdapter(list[SubjectCompetencyView]).dump_json(views).decode()


# -- the anonymity policy --------------------------------------------------------------------


def test_policy_defaults_to_three_responses() -> None:
    """docs/domain.md §3, Anonymity: at least 3 responses by default."""
    assert AnonymityPolicy().minimum_responses == 3


def test_policy_refuses_a_minimum_below_two() -> None:
    """docs/domain.md §3, Anonymity: configurable, never below 2."""
    with pytest.raises(ValidationError, match="at least 2 responses"):
        AnonymityPolicy(minimum_responses=1)
    assert AnonymityPolicy(minimum_responses=2).minimum_responses == 2


def test_attributed_groups_are_always_visible_anonymous_ones_from_the_minimum() -> None:
    """docs/domain.md §3, Anonymity: self and manager attributed, peers and reports only from 3."""
    policy = AnonymityPolicy()
    assert group_visible("self", 1, policy)
    assert group_visible("manager", 1, policy)
    assert not group_visible("peer", 2, policy)
    assert group_visible("peer", 3, policy)
    assert not group_visible("direct_report", 2, policy)
    assert group_visible("direct_report", 3, AnonymityPolicy(minimum_responses=3))


# -- aggregation ------------------------------------------------------------------------------


def test_not_observed_is_excluded_not_counted_as_zero() -> None:
    """docs/domain.md §3, Aggregation: peers rating [4, not observed, 2] average 3 over 2
    responses."""
    result = only(
        aggregate(
            [
                rating(PEERS[0], "peer", 4),
                rating(PEERS[1], "peer", None),
                rating(PEERS[2], "peer", 2),
            ]
        )
    )
    peers = result.group("peer")
    assert peers is not None
    assert peers.mean == 3
    assert peers.responses == 2


def test_a_group_that_only_marked_not_observed_has_no_mean_and_does_not_count() -> None:
    """docs/domain.md §3, Aggregation: a manager who did not observe contributes nothing."""
    result = only(
        aggregate(
            [rating(MANAGER, "manager", None), *(rating(peer, "peer", 2) for peer in PEERS[:3])]
        )
    )
    manager = result.group("manager")
    assert manager is not None
    assert (manager.mean, manager.responses) == (None, 0)
    assert result.overall == 2


def test_overall_weights_groups_with_the_documented_default() -> None:
    """docs/domain.md §3, Aggregation: manager 0.4, peers 0.3, reports 0.3, self shown, not
    counted."""
    result = only(
        aggregate(
            [
                rating(SUBJECT, "self", 5),
                rating(MANAGER, "manager", 4),
                *(rating(peer, "peer", 3) for peer in PEERS[:3]),
                *(rating(report, "direct_report", 2) for report in REPORTS),
            ]
        )
    )
    assert [score.group for score in result.groups] == ["self", "manager", "peer", "direct_report"]
    self_score = result.group("self")
    assert self_score is not None
    assert self_score.mean == 5
    assert result.overall == pytest.approx(0.4 * 4 + 0.3 * 3 + 0.3 * 2)


def test_weights_are_renormalised_when_a_group_is_absent() -> None:
    """docs/domain.md §3, Aggregation: no direct reports, so manager and peers share the weight."""
    result = only(
        aggregate([rating(MANAGER, "manager", 4), *(rating(peer, "peer", 2) for peer in PEERS[:3])])
    )
    assert result.overall == pytest.approx((0.4 * 4 + 0.3 * 2) / 0.7)


def test_configured_weights_apply() -> None:
    """docs/domain.md §3, Aggregation: group weights are configurable."""
    weights = GroupWeights(self=0.0, manager=1.0, peer=1.0, direct_report=0.0)
    result = only(
        aggregate(
            [rating(MANAGER, "manager", 4), *(rating(peer, "peer", 2) for peer in PEERS[:3])],
            weights,
        )
    )
    assert result.overall == pytest.approx(3)


def test_only_unweighted_groups_leave_no_overall() -> None:
    """docs/domain.md §3, Aggregation: a self-rating alone is shown but is no score."""
    assert only(aggregate([rating(SUBJECT, "self", 4)])).overall is None


def test_weights_refuse_negative_and_all_zero() -> None:
    """docs/domain.md §3, Aggregation: weights must describe a weighted mean."""
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        GroupWeights(peer=-0.1)
    with pytest.raises(ValidationError, match="all zero"):
        GroupWeights(self=0, manager=0, peer=0, direct_report=0)


def test_results_are_per_subject_and_competency_in_order() -> None:
    """docs/domain.md §3, Aggregation: per subject and competency."""
    results = aggregate(
        [
            rating(MANAGER, "manager", 3, competency="testing", subject="emp-b"),
            rating(MANAGER, "manager", 4, competency="coding", subject="emp-b"),
            rating(MANAGER, "manager", 2, competency="coding", subject="emp-a"),
        ]
    )
    assert [(r.subject, r.competency) for r in results] == [
        ("emp-a", "coding"),
        ("emp-b", "coding"),
        ("emp-b", "testing"),
    ]
    assert [r.overall for r in results] == pytest.approx([2, 4, 3])


def test_a_rater_twice_on_the_same_item_is_refused_without_naming_the_rater() -> None:
    """docs/domain.md §3, Submissions: one per (cycle, subject, rater); a second would
    double-count."""
    with pytest.raises(DuplicateRating) as refused:
        aggregate([rating(PEERS[0], "peer", 3), rating(PEERS[0], "peer", 4)])
    assert PEERS[0] not in str(refused.value)


# -- the subject's view -------------------------------------------------------------------------


def cycle_with_peers(peer_count: int) -> list[Rating]:
    """A self-rating, a manager rating and `peer_count` commenting peers on one competency."""
    return [
        rating(SUBJECT, "self", 4, comment="I pair with everyone"),
        rating(MANAGER, "manager", 4, comment="Strong partner to other teams"),
        *(
            rating(peer, "peer", value, comment=comment)
            for peer, value, comment in zip(
                PEERS[:peer_count],
                (1, 2, 3),
                ("zeal but no follow-up", "always helps", "misses reviews"),
                strict=False,
            )
        ),
    ]


def test_two_peers_under_a_threshold_of_three_show_nothing_of_the_peers() -> None:
    """docs/domain.md §3, Anonymity: below the threshold the group is suppressed for the subject."""
    results = aggregate(cycle_with_peers(2))
    views = subject_view(results, AnonymityPolicy(minimum_responses=3))

    view = only_view(views)
    peers = group_view(view, "peer")
    assert peers.suppressed
    assert (peers.mean, peers.responses, peers.comments) == (None, None, ())
    # An overall with the suppressed peers in it would reveal them: the manager's score alone,
    # in the view and in the result that travels on to calibration, gaps and plans.
    assert only(results).overall == view.overall == 4
    text = serialised(views)
    assert "zeal but no follow-up" not in text
    assert "always helps" not in text
    assert not [rater for rater in (MANAGER, *PEERS) if rater in text]


def test_three_peers_show_only_the_peer_aggregate() -> None:
    """docs/domain.md §3, Anonymity: peers shown aggregated per group, never attributed."""
    views = subject_view(aggregate(cycle_with_peers(3)), AnonymityPolicy())

    view = only_view(views)
    peers = group_view(view, "peer")
    assert not peers.suppressed
    assert (peers.mean, peers.responses) == (2, 3)
    # Sorted by text, not by rater or submission order.
    assert peers.comments == ("always helps", "misses reviews", "zeal but no follow-up")
    assert view.overall == pytest.approx((0.4 * 4 + 0.3 * 2) / 0.7)
    assert not [rater for rater in (MANAGER, *PEERS) if rater in serialised(views)]


def test_self_and_manager_are_attributed_by_group_with_their_comments() -> None:
    """docs/domain.md §3, Anonymity: self and manager ratings are attributed."""
    view = only_view(subject_view(aggregate(cycle_with_peers(0)), AnonymityPolicy()))
    assert group_view(view, "self").comments == ("I pair with everyone",)
    manager = group_view(view, "manager")
    assert (manager.mean, manager.responses) == (4, 1)
    assert manager.comments == ("Strong partner to other teams",)


def test_absent_anonymous_groups_look_the_same_as_suppressed_ones() -> None:
    """docs/domain.md §3, Anonymity: the subject cannot tell "no report answered" from "one did"."""
    view = only_view(subject_view(aggregate(cycle_with_peers(1)), AnonymityPolicy()))
    assert group_view(view, "peer") == group_view(view, "direct_report").model_copy(
        update={"group": "peer"}
    )


def test_the_threshold_counts_responses_per_competency() -> None:
    """docs/domain.md §3, Anonymity: three peers responded, but only one rated coaching; a coaching
    peer mean would be that one peer's rating, so it is suppressed there and shown elsewhere."""
    ratings = [
        *(rating(peer, "peer", 3, competency="collaboration") for peer in PEERS[:3]),
        rating(PEERS[0], "peer", 1, competency="coaching"),
        *(rating(peer, "peer", None, competency="coaching") for peer in PEERS[1:3]),
    ]
    views = {view.competency: view for view in subject_view(aggregate(ratings), AnonymityPolicy())}
    assert group_view(views["coaching"], "peer").suppressed
    assert views["coaching"].overall is None
    assert not group_view(views["collaboration"], "peer").suppressed


def test_a_lower_configured_threshold_shows_two_reports() -> None:
    """docs/domain.md §3, Anonymity: the threshold is configurable down to 2."""
    ratings = [rating(report, "direct_report", 3) for report in REPORTS[:2]]
    view = only_view(subject_view(aggregate(ratings), AnonymityPolicy(minimum_responses=2)))
    reports = group_view(view, "direct_report")
    assert (reports.suppressed, reports.mean, reports.responses) == (False, 3, 2)


def only_view(views: list[SubjectCompetencyView]) -> SubjectCompetencyView:
    assert len(views) == 1
    return views[0]


def group_view(view: SubjectCompetencyView, group: RaterGroup) -> GroupView:
    return next(g for g in view.groups if g.group == group)


# -- scale ----------------------------------------------------------------------------------------


class LightRating(NamedTuple):
    """Rating-like input: building 600,000 validated Ratings would time pydantic, not us."""

    subject: str
    rater: str
    group: RaterGroup
    competency: str
    value: int | None
    comment: str | None


def test_a_cycle_of_ten_thousand_people_aggregates_whole() -> None:
    """docs/domain.md §3, Aggregation at scale: 10,000 people x 6 raters x 10 competencies
    (how fast: `./tl bench --only assessment`)."""
    groups: tuple[RaterGroup, ...] = ("self", "manager", "peer", "peer", "peer", "direct_report")
    ratings = [
        LightRating(f"e{s}", f"r{s}-{i}", group, f"c{c}", (s + i + c) % 6 or None, None)
        for s in range(10_000)
        for i, group in enumerate(groups)
        for c in range(10)
    ]
    results = aggregate(ratings)  # type: ignore[arg-type]
    assert len(results) == 100_000
