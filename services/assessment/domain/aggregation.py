"""Aggregated 360 results per subject and competency (docs/domain.md §3, Aggregation and Anonymity).

`aggregate` is the HR-side result: a mean per rater group, its number of responses and a
weighted overall score. `subject_view` is what the subject may see of it: anonymous groups
below the anonymity threshold suppressed, the overall recomputed without them, and no rater
identifiers at all.

"Not observed" (a rating whose value is None) is left out of every mean and count: a rater who
did not see the behaviour says nothing about it, and counting a zero would punish the subject
for the rater's lack of contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.events.schemas.assessment import score_key
from services.assessment.domain.anonymity import AnonymityPolicy, group_visible
from services.assessment.domain.ratings import ANONYMOUS_GROUPS, RaterGroup, Rating

# Display order of rater groups, attributed groups first.
GROUP_ORDER: tuple[RaterGroup, ...] = ("self", "manager", "peer", "direct_report")


class DuplicateRating(ValueError):
    """One rater rated one subject on one competency twice: the input mixes submissions.

    docs/domain.md §3 allows one submission per (cycle, subject, rater), so aggregating one cycle's
    submissions never meets this; averaging both ratings would silently give that rater a double
    vote. The message names no rater, since errors end up in logs.
    """

    def __init__(self, subject: str, competency: str) -> None:
        super().__init__(
            f"a rater rated {subject!r} on {competency!r} more than once: aggregate one cycle's "
            "submissions, one per subject and rater"
        )


class GroupWeights(BaseModel):
    """How much each rater group counts in the overall score (docs/domain.md §3: configurable).

    Default: manager 0.4, peer 0.3, direct_report 0.3, self 0.0. The manager holds the largest
    single share because the manager sees the whole of the role against its profile; peers and
    direct reports together outweigh the manager, as several independent observers. Self-ratings
    are shown to the subject and to calibration but not counted: self-assessments tend to run
    high, and counting them would inflate scores and shrink gaps (docs/domain.md §5).
    Weights are renormalised over the groups that responded, so they need not sum to 1.
    """

    model_config = ConfigDict(frozen=True)

    self: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    manager: float = Field(default=0.4, ge=0, allow_inf_nan=False)
    peer: float = Field(default=0.3, ge=0, allow_inf_nan=False)
    direct_report: float = Field(default=0.3, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def some_group_counts(self) -> GroupWeights:
        """All weights zero would leave every overall score undefined."""
        if not any(self.of(group) for group in GROUP_ORDER):
            raise ValueError("group weights are all zero: at least one rater group must count")
        return self

    def of(self, group: RaterGroup) -> float:
        """The weight of `group`."""
        return float(getattr(self, group))


DEFAULT_WEIGHTS = GroupWeights()


@dataclass(frozen=True, slots=True)
class GroupScore:
    """One rater group's ratings of one subject on one competency.

    A dataclass, as is CompetencyResult: a cycle yields hundreds of thousands of them, and
    validating values this module computed itself would cost more than the aggregation.
    """

    group: RaterGroup
    # None when every rater in the group marked the competency not observed.
    mean: float | None
    # Distinct raters in the group with an observed rating.
    responses: int
    # Sorted by text, so their order reveals no author.
    comments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompetencyResult:
    """The aggregated result for one subject and competency, as HR and calibration see it.

    It names no rater: per-rater analysis (leniency, spread) works on the ratings themselves.
    """

    subject: str
    competency: str
    # The groups that rated, in GROUP_ORDER.
    groups: tuple[GroupScore, ...]
    # None when no weighted group has an observed rating.
    overall: float | None
    # The sub-skill, when this is a result per sub-skill (`aggregate_sub_skills`).
    sub_skill: str | None = None

    @property
    def item(self) -> str:
        """What is scored: the competency, or `competency/sub-skill`."""
        return score_key(self.competency, self.sub_skill)

    def group(self, group: RaterGroup) -> GroupScore | None:
        """The score of `group`, or None when nobody in it rated this competency."""
        return next((score for score in self.groups if score.group == group), None)


class GroupView(BaseModel):
    """One rater group as the subject sees it: suppressed groups show neither mean nor count."""

    model_config = ConfigDict(frozen=True)

    group: RaterGroup
    suppressed: bool
    mean: float | None
    responses: int | None
    comments: tuple[str, ...]
    suppressed_because: str | None = Field(
        None, description="HR's view only: why the group is suppressed (its values never show)"
    )


class SubjectCompetencyView(BaseModel):
    """What the subject may see of one competency's result. It holds no rater identifier."""

    model_config = ConfigDict(frozen=True)

    subject: str
    competency: str
    groups: tuple[GroupView, ...]
    overall: float | None = Field(description="weighted over the visible groups only")


def by_subject_and_competency(
    ratings: Iterable[Rating],
) -> dict[tuple[str, str], dict[str, Rating]]:
    """Ratings grouped per (subject, competency), then keyed by rater: one pass, dicts only.

    Raises DuplicateRating when a rater appears twice for the same subject and competency.
    """
    items: dict[tuple[str, str], dict[str, Rating]] = {}
    for rating in ratings:
        key = (rating.subject, rating.competency)
        raters = items.get(key)
        if raters is None:
            items[key] = {rating.rater: rating}
        elif rating.rater in raters:
            raise DuplicateRating(rating.subject, rating.competency)
        else:
            raters[rating.rater] = rating
    return items


def weighted_overall(
    means: Iterable[tuple[RaterGroup, float | None]], weights: GroupWeights
) -> float | None:
    """Weighted mean of group means, renormalised over the groups with a mean and weight > 0.

    Renormalising keeps the score on the framework's scale when a group is absent (someone
    without direct reports), instead of pulling it towards zero.
    """
    total = 0.0
    weight_sum = 0.0
    for group, mean in means:
        weight = weights.of(group)
        if mean is not None and weight > 0:
            total += weight * mean
            weight_sum += weight
    return total / weight_sum if weight_sum else None


DEFAULT_POLICY = AnonymityPolicy()


def aggregate(
    ratings: Iterable[Rating],
    weights: GroupWeights = DEFAULT_WEIGHTS,
    policy: AnonymityPolicy = DEFAULT_POLICY,
) -> list[CompetencyResult]:
    """Per subject and competency: each group's mean and responses, and the weighted overall.

    `ratings` are one cycle's submissions, one per subject and rater. Results are sorted
    by subject, then competency. Responses count distinct raters with an observed value;
    not-observed ratings only contribute their comments. Group means are for HR and
    calibration; the overall counts only groups the subject may see, because it travels on
    (calibrated scores, gaps, plans) to where the subject reads it: a suppressed group
    inside it could be worked out from the attributed ones.
    """
    return [
        _result(
            subject,
            competency,
            ((r.group, r.value, r.comment) for r in raters.values()),
            weights,
            policy,
        )
        for (subject, competency), raters in sorted(by_subject_and_competency(ratings).items())
    ]


def aggregate_sub_skills(
    ratings: Iterable[Rating],
    weights: GroupWeights = DEFAULT_WEIGHTS,
    policy: AnonymityPolicy = DEFAULT_POLICY,
) -> list[CompetencyResult]:
    """Per subject, competency and sub-skill, of the competencies asked per sub-skill: the
    same means, responses and overall as `aggregate`, counted per sub-skill (a group is
    visible on a sub-skill when enough of its raters rated that sub-skill). Without
    comments: those are read per competency. Empty at competency granularity. Sorted by
    subject, competency, sub-skill.
    """
    asked = [rating for rating in ratings if rating.sub_skills]
    values: dict[tuple[str, str, str], list[tuple[RaterGroup, float | None, None]]] = {}
    for raters in by_subject_and_competency(asked).values():
        for rating in raters.values():
            for sub_skill, value in (rating.sub_skills or {}).items():
                key = (rating.subject, rating.competency, sub_skill)
                values.setdefault(key, []).append((rating.group, value, None))
    return [
        _result(subject, competency, given, weights, policy, sub_skill)
        for (subject, competency, sub_skill), given in sorted(values.items())
    ]


def rolled_up(
    results: Iterable[CompetencyResult],
    per_sub_skill: Iterable[CompetencyResult],
    policy: AnonymityPolicy = DEFAULT_POLICY,
) -> list[CompetencyResult]:
    """`results` (from `aggregate`) with each competency asked per sub-skill replaced by
    the roll-up of its sub-skills' results (`aggregate_sub_skills`), for the views.

    Per group, the mean is the mean of the group's means on the sub-skills where the group
    is visible, and its responses the fewest raters behind any of those means (none when it
    is visible on no sub-skill, so the view suppresses it); the overall is the mean of the
    sub-skills' overalls, as calibration rolls the competency's score up (docs/domain.md §4,
    Roll-up). Every figure is then built from means of enough raters: a competency group
    mean taken over each rater's own average of the sub-skills they rated sits on another
    set of raters per sub-skill, and set beside the sub-skill scores a subject reads, it
    gave away the rating of a rater who rated one sub-skill only. Comments stay the
    competency's, shown with the rolled group.
    """
    subs: dict[tuple[str, str], list[CompetencyResult]] = {}
    for result in per_sub_skill:
        subs.setdefault((result.subject, result.competency), []).append(result)
    return [
        _rolled(result, found, policy)
        if (found := subs.get((result.subject, result.competency)))
        else result
        for result in results
    ]


def _rolled(
    result: CompetencyResult, subs: list[CompetencyResult], policy: AnonymityPolicy
) -> CompetencyResult:
    groups = []
    for group in GROUP_ORDER:
        scores = [score for sub in subs if (score := sub.group(group)) is not None]
        if not scores:
            continue
        shown = [
            score
            for score in scores
            if score.mean is not None and group_visible(group, score.responses, policy)
        ]
        own = result.group(group)
        groups.append(
            GroupScore(
                group=group,
                mean=sum(s.mean for s in shown if s.mean is not None) / len(shown)
                if shown
                else None,
                responses=min(s.responses for s in shown) if shown else 0,
                comments=own.comments if own is not None else (),
            )
        )
    overalls = [sub.overall for sub in subs if sub.overall is not None]
    return CompetencyResult(
        subject=result.subject,
        competency=result.competency,
        groups=tuple(groups),
        overall=sum(overalls) / len(overalls) if overalls else None,
    )


def _result(
    subject: str,
    competency: str,
    ratings: Iterable[tuple[RaterGroup, float | None, str | None]],
    weights: GroupWeights,
    policy: AnonymityPolicy,
    sub_skill: str | None = None,
) -> CompetencyResult:
    """The result of one item from its raters' (group, value, comment)."""
    totals: dict[RaterGroup, float] = {}
    counts: dict[RaterGroup, int] = {}
    comments: dict[RaterGroup, list[str]] = {}
    for group, value, comment in ratings:
        if group not in counts:
            counts[group] = 0
            totals[group] = 0.0
        if value is not None:
            totals[group] += value
            counts[group] += 1
        if comment and not comment.isspace():
            comments.setdefault(group, []).append(comment)
    groups = tuple(
        GroupScore(
            group=group,
            mean=totals[group] / counts[group] if counts[group] else None,
            responses=counts[group],
            comments=tuple(sorted(comments.get(group, ()))),
        )
        for group in GROUP_ORDER
        if group in counts
    )
    return CompetencyResult(
        subject=subject,
        competency=competency,
        groups=groups,
        overall=weighted_overall(
            (
                (score.group, score.mean)
                for score in groups
                if group_visible(score.group, score.responses, policy)
            ),
            weights,
        ),
        sub_skill=sub_skill,
    )


def subject_view(
    results: Iterable[CompetencyResult],
    policy: AnonymityPolicy,
    weights: GroupWeights = DEFAULT_WEIGHTS,
) -> list[SubjectCompetencyView]:
    """The results as their subject may see them (docs/domain.md §3, Anonymity).

    - Self and manager are attributed by group, with their comments.
    - Peer and direct-report groups are listed for every competency, visible only when their
      responses reach `policy.minimum_responses`, otherwise flagged suppressed with no mean, no
      count and no comment. A group with no response at all is listed as suppressed too, so the
      subject cannot tell "nobody answered" from "one or two answered".
    - The overall is recomputed from the visible groups with the same `weights` as `aggregate`
      used: the HR overall would let the subject solve for a suppressed group's mean.
    """
    return [_view(result, policy, weights) for result in results]


def hr_view(
    results: Iterable[CompetencyResult],
    policy: AnonymityPolicy,
    weights: GroupWeights = DEFAULT_WEIGHTS,
) -> list[SubjectCompetencyView]:
    """The results as HR may see them: the subject's view, each suppressed group saying why.
    A group below the threshold shows HR no mean, count or comment: with one or two
    responses, its mean is those raters' own ratings (docs/domain.md §3, Anonymity)."""
    reason = f"fewer than {policy.minimum_responses} raters of the group rated it"
    return [_view(result, policy, weights, reason) for result in results]


def _view(
    result: CompetencyResult,
    policy: AnonymityPolicy,
    weights: GroupWeights,
    suppressed_because: str | None = None,
) -> SubjectCompetencyView:
    views: list[GroupView] = []
    for group in GROUP_ORDER:
        score = result.group(group)
        if score is not None and group_visible(group, score.responses, policy):
            views.append(
                GroupView(
                    group=group,
                    suppressed=False,
                    mean=score.mean,
                    responses=score.responses,
                    comments=score.comments,
                )
            )
        elif group in ANONYMOUS_GROUPS:
            views.append(
                GroupView(
                    group=group,
                    suppressed=True,
                    mean=None,
                    responses=None,
                    comments=(),
                    suppressed_because=suppressed_because,
                )
            )
    return SubjectCompetencyView(
        subject=result.subject,
        competency=result.competency,
        groups=tuple(views),
        overall=weighted_overall(
            ((view.group, view.mean) for view in views if not view.suppressed), weights
        ),
    )
