"""What a calibration session reviews and what it decides (docs/domain.md §4).

The session looks at three signals before adjusting anything:

- rater leniency/severity: a rater who sits consistently above or below the other raters of the
  same subjects (`rater_offsets`);
- inconsistent anchors: raters far apart on the same subject and competency, a sign the anchor
  wording reads differently to different people, counted per competency so the next minor
  framework revision knows which anchors to reword (`inconsistent_anchors`);
- outliers: subjects far from the population on an item the session scores, a competency or
  at sub-skill granularity a sub-skill, so that an outlier names a score one can adjust
  (`outliers`).

Then it records adjustments, each with who, old and new value and a mandatory justification,
and `calibrated_scores` yields the final score per subject and competency that
CalibrationCompleted carries.

Self-ratings take no part in the rater signals: calibration compares raters who observe someone
else, and self-assessments tend to run high, which would make everybody else look severe and
every item look inconsistent. These outputs name raters and are for HR and the calibration
session only, never for the subject (docs/domain.md §3, Anonymity).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import fmean, pstdev
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, model_validator

from libs.events.schemas.assessment import competency_of
from libs.personal.sealing import PersonalOf
from services.assessment.domain.aggregation import CompetencyResult, by_subject_and_competency
from services.assessment.domain.ratings import Rating

# A rater whose mean offset reaches half a scale point is worth discussing: on a 0..5 or 1..5
# scale, half a point can move a competency across the 3.5 promotion bar (docs/domain.md §6).
DEFAULT_OFFSET_THRESHOLD = 0.5
# Fewer compared items than this and one unusual subject decides the rater's tendency.
DEFAULT_MIN_SHARED = 3
# On an integer scale, 1.5 flags raters two or more points apart on the same behaviour.
DEFAULT_SPREAD = 1.5
DEFAULT_Z = 2.0
# The Dreyfus scale, the framework default (docs/domain.md §2); a 1..5 framework passes (1, 5).
DREYFUS_SCALE = (0, 5)

Tendency = Literal["lenient", "severe", "neutral", "undetermined"]


class RaterOffset(BaseModel):
    """How far one rater sits from the other raters of the same subjects and competencies.

    `offset` is the mean, over compared items, of the rater's value minus the mean of the other
    raters' values on that item. `tendency` is "undetermined" below `min_shared` compared items.
    """

    model_config = ConfigDict(frozen=True)

    rater: str
    compared_items: int
    offset: float
    tendency: Tendency


class InconsistentAnchor(BaseModel):
    """A competency whose anchors raters read differently: candidates for rewording.

    `share` is flagged_items / compared_items, so HR can pick the worst 10 to 20 percent of
    anchors for the next minor revision (docs/domain.md §2, Versions).
    """

    model_config = ConfigDict(frozen=True)

    competency: str
    flagged_items: int
    compared_items: int
    share: float


class Outlier(BaseModel):
    """A subject whose overall score on an item is far from the population's: `competency`
    names the item, as an adjustment does (`competency/sub-skill` for a sub-skill)."""

    model_config = ConfigDict(frozen=True)

    subject: str
    competency: str
    overall: float
    population_mean: float
    z_score: float


class AdjustmentRefused(Exception):
    """An adjustment that breaks a calibration rule (docs/domain.md §4).

    Not a ValueError on purpose: pydantic would wrap a ValueError into a ValidationError, and
    callers should be able to catch this refusal by its own type.
    """


class Adjustment(BaseModel):
    """One change of a score in a calibration session: who, old and new value, and why."""

    model_config = ConfigDict(frozen=True)

    subject: str
    competency: str
    # None when nobody had observed the competency: calibration may still set a score.
    old_value: float | None
    new_value: float
    justification: Annotated[str, PersonalOf("subject")]  # stored sealed (docs/privacy.md)
    actor: str
    scale: tuple[int, int] = DREYFUS_SCALE

    @model_validator(mode="before")
    @classmethod
    def justified_and_attributed(cls, data: Any) -> Any:
        """docs/domain.md §4: every adjustment records who made it and a mandatory justification."""
        if isinstance(data, Mapping):
            item = f"{data.get('subject')!r} on {data.get('competency')!r}"
            if not _filled(data.get("justification")):
                raise AdjustmentRefused(
                    f"adjustment of {item} refused: a justification is mandatory for every "
                    "calibration adjustment"
                )
            if not _filled(data.get("actor")):
                raise AdjustmentRefused(
                    f"adjustment of {item} refused: the actor who adjusts the score is mandatory"
                )
        return data

    @model_validator(mode="after")
    def on_the_scale(self) -> Adjustment:
        """The new value must be a proficiency the framework's scale can express."""
        low, high = self.scale
        if low >= high:
            raise ValueError(f"scale {self.scale} is empty: its low end must be below its high end")
        if not low <= self.new_value <= high:
            raise AdjustmentRefused(
                f"adjustment of {self.subject!r} on {self.competency!r} refused: new value "
                f"{self.new_value} is outside the scale {low}..{high}"
            )
        return self


class CalibratedScore(BaseModel):
    """The final score of one subject on one competency, and every adjustment behind it."""

    model_config = ConfigDict(frozen=True)

    subject: str
    competency: str
    aggregated: float | None
    calibrated: float | None
    adjustments: tuple[Adjustment, ...]


class Overall(Protocol):
    """What outliers compare of a result: a subject's overall score on an item (a competency,
    or `competency/sub-skill`) of a competency."""

    @property
    def subject(self) -> str: ...

    @property
    def competency(self) -> str: ...

    @property
    def item(self) -> str: ...

    @property
    def overall(self) -> float | None: ...


def _filled(text: object) -> bool:
    return isinstance(text, str) and bool(text.strip())


def _compared_values(raters: Mapping[str, Rating]) -> list[tuple[str, int]]:
    """The observed (rater, value) pairs of one item that calibration compares: no self."""
    return [
        (rater, rating.value)
        for rater, rating in raters.items()
        if rating.value is not None and rating.group != "self"
    ]


def rater_offsets(
    ratings: Iterable[Rating],
    min_shared: int = DEFAULT_MIN_SHARED,
    threshold: float = DEFAULT_OFFSET_THRESHOLD,
) -> list[RaterOffset]:
    """Each rater's mean offset against the others on the same subject and competency.

    An item counts for a rater when at least one other (non-self) rater gave it an observed
    value. Comparing item by item, rather than a rater's mean against the population mean,
    keeps a rater of strong subjects from looking lenient. A rater is lenient when the offset
    is at least +threshold, severe when at most -threshold, with `min_shared` compared items
    or more. Raters never compared with anyone are left out. Sorted by rater.
    """
    tally = OffsetTally()
    tally.add(by_subject_and_competency(ratings))
    return tally.offsets(min_shared, threshold)


@dataclass
class OffsetTally:
    """`rater_offsets` one group of subjects at a time: per rater, the sum of their offsets
    and how many items they were compared on, all a rater's figure needs."""

    totals: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, items: Mapping[tuple[str, str], Mapping[str, Rating]]) -> None:
        """Tally these items (by_subject_and_competency): a subject's items all at once."""
        totals, counts = self.totals, self.counts
        for raters in items.values():
            values = _compared_values(raters)
            if len(values) < 2:
                continue
            item_total = sum(value for _, value in values)
            others = len(values) - 1
            for rater, value in values:
                totals[rater] = totals.get(rater, 0.0) + value - (item_total - value) / others
                counts[rater] = counts.get(rater, 0) + 1

    def offsets(
        self, min_shared: int = DEFAULT_MIN_SHARED, threshold: float = DEFAULT_OFFSET_THRESHOLD
    ) -> list[RaterOffset]:
        totals, counts = self.totals, self.counts
        return [
            RaterOffset(
                rater=rater,
                compared_items=counts[rater],
                offset=totals[rater] / counts[rater],
                tendency=_tendency(
                    totals[rater] / counts[rater], counts[rater], min_shared, threshold
                ),
            )
            for rater in sorted(totals)
        ]


def _tendency(offset: float, compared: int, min_shared: int, threshold: float) -> Tendency:
    if compared < min_shared:
        return "undetermined"
    if offset >= threshold:
        return "lenient"
    if offset <= -threshold:
        return "severe"
    return "neutral"


def inconsistent_anchors(
    ratings: Iterable[Rating], spread: float = DEFAULT_SPREAD
) -> list[InconsistentAnchor]:
    """Competencies with items (subject x competency) whose raters are `spread` or more apart.

    Spread is the range (highest minus lowest observed value, self excluded), not the standard
    deviation: anchors are inconsistent when two people read the same behaviour at levels far
    apart, which the range says directly in scale points, and it does not shrink as more
    raters agree around the two who disagree. Only items with two or more observed ratings are
    compared. Competencies without a flagged item are left out; the rest are sorted by share,
    highest first, then by competency.
    """
    tally = SpreadTally(spread)
    tally.add(by_subject_and_competency(ratings))
    return tally.anchors()


@dataclass
class SpreadTally:
    """`inconsistent_anchors` one group of subjects at a time: per competency, the items
    compared and those flagged."""

    spread: float = DEFAULT_SPREAD
    compared: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)

    def add(self, items: Mapping[tuple[str, str], Mapping[str, Rating]]) -> None:
        compared, flagged = self.compared, self.flagged
        for (_, competency), raters in items.items():
            values = [value for _, value in _compared_values(raters)]
            if len(values) < 2:
                continue
            compared[competency] = compared.get(competency, 0) + 1
            if max(values) - min(values) >= self.spread:
                flagged[competency] = flagged.get(competency, 0) + 1

    def anchors(self) -> list[InconsistentAnchor]:
        anchors = [
            InconsistentAnchor(
                competency=competency,
                flagged_items=count,
                compared_items=self.compared[competency],
                share=count / self.compared[competency],
            )
            for competency, count in self.flagged.items()
        ]
        return sorted(anchors, key=lambda anchor: (-anchor.share, anchor.competency))


def outliers(results: Iterable[Overall], z: float = DEFAULT_Z) -> list[Outlier]:
    """Subjects whose overall score is more than `z` standard deviations from the item's mean.

    Per item (`CompetencyResult.item`): at sub-skill granularity, per sub-skill, which is what
    the session adjusts; a mean of each rater's sub-skill ratings would flag a competency score
    the session neither shows nor adjusts (docs/domain.md §4, Roll-up). The population is every
    subject in `results` with an overall score for that item; the standard deviation is the
    population one, since the session sees the whole population, not a sample of it. An item
    where everyone scores the same has no outlier. Sorted by item, then subject.
    """
    scores: dict[str, list[tuple[str, float]]] = {}
    for result in results:
        if result.overall is not None:
            scores.setdefault(result.item, []).append((result.subject, result.overall))
    found: list[Outlier] = []
    for competency, subjects in scores.items():
        values = [overall for _, overall in subjects]
        mean = fmean(values)
        deviation = pstdev(values, mean)
        if deviation == 0:
            continue
        found.extend(
            Outlier(
                subject=subject,
                competency=competency,
                overall=overall,
                population_mean=mean,
                z_score=(overall - mean) / deviation,
            )
            for subject, overall in subjects
            if abs(overall - mean) > z * deviation
        )
    return sorted(found, key=lambda outlier: (outlier.competency, outlier.subject))


def calibrated_scores(
    results: Iterable[CompetencyResult], adjustments: Iterable[Adjustment]
) -> dict[tuple[str, str], CalibratedScore]:
    """The final score per (subject, item): the latest adjustment, else the aggregate. An
    item is a competency, or `competency/sub-skill` for a result per sub-skill (`items`).

    `adjustments` come in the order they were made; every one applied to an item is kept on
    its score, so CalibrationCompleted can say who changed what and why. An adjustment of an
    item absent from `results` is refused rather than dropped, except one on the key of a
    competency scored per sub-skill: only a session opened before sub-skills were scored
    could have made it, and it set the competency's score, so it still sets the rolled-up
    one (`_adjusted_roll_up`); new ones are refused when made (calibration_sessions).
    """
    applied: dict[tuple[str, str], list[Adjustment]] = {}
    made: dict[tuple[str, str], int] = {}
    for n, adjustment in enumerate(adjustments):
        key = (adjustment.subject, adjustment.competency)
        applied.setdefault(key, []).append(adjustment)
        made[key] = n
    scores: dict[tuple[str, str], CalibratedScore] = {}
    per_sub_skill: dict[tuple[str, str], list[CalibratedScore]] = {}
    for result in results:
        key = (result.subject, result.item)
        item_adjustments = tuple(applied.pop(key, ()))
        scores[key] = score = CalibratedScore(
            subject=result.subject,
            competency=result.item,
            aggregated=result.overall,
            calibrated=item_adjustments[-1].new_value if item_adjustments else result.overall,
            adjustments=item_adjustments,
        )
        if result.sub_skill is not None:
            per_sub_skill.setdefault((result.subject, result.competency), []).append(score)
    stored = [key for key in applied if key in per_sub_skill]
    for key in stored:
        scores[key] = _adjusted_roll_up(key, applied.pop(key), per_sub_skill[key], made)
    if applied:
        unknown = ", ".join(f"{subject!r} on {competency!r}" for subject, competency in applied)
        raise AdjustmentRefused(f"adjustments refused: no aggregated score for {unknown}")
    # Such a competency's row beside its subject's, just before its sub-skills.
    return dict(sorted(scores.items())) if stored else scores


def _adjusted_roll_up(
    key: tuple[str, str],
    adjustments: list[Adjustment],
    sub_skills: list[CalibratedScore],
    made: Mapping[tuple[str, str], int],
) -> CalibratedScore:
    """A competency scored per sub-skill that was adjusted on its own key (docs/domain.md
    §4, Roll-up): its adjustment sets the rolled-up score, until a later adjustment of one
    of its sub-skills, from which on the roll-up follows the sub-skills again."""
    subject, competency = key
    later = any(made.get((subject, s.competency), -1) > made[key] for s in sub_skills)
    return CalibratedScore(
        subject=subject,
        competency=competency,
        aggregated=_mean_scored(s.aggregated for s in sub_skills),
        calibrated=_mean_scored(s.calibrated for s in sub_skills)
        if later
        else adjustments[-1].new_value,
        adjustments=tuple(adjustments),
    )


def _mean_scored(scores: Iterable[float | None]) -> float | None:
    """The mean of the scores that have one; None when none has (docs/domain.md §4, Roll-up)."""
    scored = [score for score in scores if score is not None]
    return sum(scored) / len(scored) if scored else None


def items(
    results: Iterable[CompetencyResult], sub_skill_results: Iterable[CompetencyResult]
) -> list[CompetencyResult]:
    """What a session scores and adjusts (docs/domain.md §4): each competency asked per
    sub-skill through its sub-skills' results, every other competency through its own.
    At competency granularity (no sub-skill results), `results` as they are."""
    per_sub_skill = list(sub_skill_results)
    if not per_sub_skill:
        return list(results)
    asked = {(r.subject, r.competency) for r in per_sub_skill}
    kept = [r for r in results if (r.subject, r.competency) not in asked]
    return sorted(kept + per_sub_skill, key=lambda r: (r.subject, r.competency, r.sub_skill or ""))


# A subject's calibrated scores: per competency, and per sub-skill (`roll_up`).
RolledUp = tuple[dict[str, float | None], dict[str, float | None]]


def roll_up(scores: Iterable[tuple[str, str, float | None]]) -> dict[str, RolledUp]:
    """Per subject, from their (subject, item, calibrated score): the score per competency
    and the score per sub-skill (docs/domain.md §4, Roll-up). A competency asked per
    sub-skill scores the mean of its sub-skills' calibrated scores that have one (not
    observed left out, never a zero), and is unscored when none has; the mean is taken after
    every adjustment, so an adjusted sub-skill moves its competency. A score given for such
    a competency's own key (`calibrated_scores`, an adjustment from before sub-skills were
    scored) is its score instead."""
    found: dict[str, RolledUp] = {}
    sums: dict[tuple[str, str], list[float]] = {}
    for subject, item, score in scores:
        competencies, sub_skills = found.setdefault(subject, ({}, {}))
        competency = competency_of(item)
        if competency == item:
            competencies[item] = score
            continue
        sub_skills[item] = score
        scored = sums.setdefault((subject, competency), [0.0, 0.0])
        if score is not None:
            scored[0] += score
            scored[1] += 1
    for (subject, competency), (total, count) in sums.items():
        found[subject][0].setdefault(competency, total / count if count else None)
    return found
