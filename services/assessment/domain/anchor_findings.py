"""What a calibration found about the framework's anchors and its role profiles, for the
framework's next revision (docs/domain.md §2, Upkeep; docs/assessment.md, Calibration).

An anchor is the wording of one competency at one track and level (a family may word it its
own way), so each subject's items are read against the anchor of the position they were
assessed in. Per anchor, three findings:

- **inconsistent use**: items (subject x competency) whose raters are `spread` or more scale
  points apart (the range, self excluded, as `calibration.inconsistent_anchors` measures it);
- **leniency clustering**: at least `top_share` of the observed ratings sit on the top of the
  scale, so the anchor separates nobody: it asks too little, or reads as praise;
- **outliers**: at least `outlier_share` of the anchor's subjects are population outliers on
  the competency (`calibration.outliers`); a normal spread puts about 5% beyond two standard
  deviations, so twice that says the anchor is read in two ways, not that people differ.

And per role profile (family, track, level) and competency, how many raters marked it not
relevant to the role (distinct from not observed, it says the competency does not fit), and
how much gap data it gave: how many of the role's subjects ended unscored, and how many at or
above the role's target. A competency everyone meets, or nobody observes, shows no gap.

Nothing is reported over fewer than `min_items` items (or, for the marks and the use, subjects
of the role): over one or two, a finding would say how far a suppressed peer sat from the
manager the subject can see, or what the raters of one person thought.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from libs.events.schemas.assessment import AnchorFinding, CompetencyUse, NotRelevantMarks
from services.assessment.domain.aggregation import CompetencyResult, by_subject_and_competency
from services.assessment.domain.calibration import DEFAULT_SPREAD, DEFAULT_Z, Overall, outliers
from services.assessment.domain.ratings import Rating

Position = tuple[str, str, str]
"""(job family, track, level) a subject was assessed in."""
FindingKind = Literal["inconsistent_use", "leniency_clustering", "outliers"]

MIN_ITEMS = 5
DEFAULT_TOP_SHARE = 0.5
DEFAULT_OUTLIER_SHARE = 0.1


@dataclass
class _Tally:
    items: int = 0
    inconsistent: int = 0
    ratings: int = 0
    on_top: int = 0
    subjects: int = 0
    outlying: int = 0


def anchor_findings(
    ratings: Iterable[Rating],
    results: Iterable[CompetencyResult],
    positions: Mapping[str, Position],
    scale: tuple[int, int],
    *,
    spread: float = DEFAULT_SPREAD,
    top_share: float = DEFAULT_TOP_SHARE,
    outlier_share: float = DEFAULT_OUTLIER_SHARE,
    z: float = DEFAULT_Z,
    min_items: int = MIN_ITEMS,
) -> list[AnchorFinding]:
    """The anchors' findings, sorted by kind, then share (highest first), then anchor.

    Subjects without a known position are left out: their anchor is unknown.
    """
    tally = AnchorTally(positions, scale, spread)
    tally.add(by_subject_and_competency(ratings))
    return tally.findings(
        results, top_share=top_share, outlier_share=outlier_share, z=z, min_items=min_items
    )


class AnchorTally:
    """`anchor_findings` one group of subjects at a time: the ratings' part tallied per
    anchor as the groups come; the outliers' part once every subject's result is known."""

    def __init__(
        self,
        positions: Mapping[str, Position],
        scale: tuple[int, int],
        spread: float = DEFAULT_SPREAD,
    ) -> None:
        self.positions = positions
        self.scale = scale
        self.spread = spread
        self.tallies: dict[tuple[str, str, str, str], _Tally] = {}

    def add(self, items: Mapping[tuple[str, str], Mapping[str, Rating]]) -> None:
        """Tally these items (aggregation.by_subject_and_competency)."""
        tallies, top = self.tallies, self.scale[1]
        for (subject, competency), raters in items.items():
            position = self.positions.get(subject)
            if position is None:
                continue
            values = [r.value for r in raters.values() if r.value is not None and r.group != "self"]
            if len(values) < 2:
                continue
            tally = tallies.setdefault((competency, *position), _Tally())
            tally.items += 1
            tally.inconsistent += max(values) - min(values) >= self.spread
            tally.ratings += len(values)
            tally.on_top += sum(value >= top for value in values)

    def findings(
        self,
        results: Iterable[Overall],
        *,
        top_share: float = DEFAULT_TOP_SHARE,
        outlier_share: float = DEFAULT_OUTLIER_SHARE,
        z: float = DEFAULT_Z,
        min_items: int = MIN_ITEMS,
    ) -> list[AnchorFinding]:
        """The findings, given every tallied subject's results (per competency)."""
        tallies = {key: replace(tally) for key, tally in self.tallies.items()}
        listed = list(results)
        outlying = {(o.subject, o.competency) for o in outliers(listed, z)}
        for result in listed:
            position = self.positions.get(result.subject)
            tally = tallies.get((result.competency, *position)) if position else None
            if tally is None or result.overall is None:
                continue
            tally.subjects += 1
            tally.outlying += (result.subject, result.competency) in outlying
        found: list[AnchorFinding] = []
        for (competency, family, track, level), tally in tallies.items():
            if tally.items < min_items:
                continue
            shown: list[tuple[FindingKind, int, int]] = []
            if tally.inconsistent:
                shown.append(("inconsistent_use", tally.items, tally.inconsistent))
            if tally.on_top >= top_share * tally.ratings:
                shown.append(("leniency_clustering", tally.ratings, tally.on_top))
            if tally.subjects and tally.outlying >= outlier_share * tally.subjects:
                shown.append(("outliers", tally.subjects, tally.outlying))
            found += [
                AnchorFinding(
                    kind=kind,
                    competency=competency,
                    family=family,
                    track=track,
                    level=level,
                    items=items,
                    flagged=flagged,
                )
                for kind, items, flagged in shown
            ]
        return sorted(
            found,
            key=lambda f: (f.kind, -f.flagged / f.items, f.competency, f.family, f.track, f.level),
        )


def not_relevant_marks(
    ratings: Iterable[Rating], positions: Mapping[str, Position], *, min_items: int = MIN_ITEMS
) -> list[NotRelevantMarks]:
    """Per role and competency marked not relevant at least once, the raters who did, over
    `min_items` subjects or more (self-assessments left out: what a role's people think of
    their own competencies would tell about each of them); sorted by share marked (highest
    first), then role."""
    tally = MarkTally(positions)
    tally.add(ratings)
    return tally.marks(min_items=min_items)


class MarkTally:
    """`not_relevant_marks` one group of subjects at a time."""

    def __init__(self, positions: Mapping[str, Position]) -> None:
        self.positions = positions
        self.marked: dict[tuple[str, str, str, str], int] = {}
        self.answered: dict[tuple[str, str, str, str], int] = {}
        self.subjects: dict[tuple[str, str, str, str], set[str]] = {}

    def add(self, ratings: Iterable[Rating]) -> None:
        marked, answered, subjects = self.marked, self.answered, self.subjects
        for rating in ratings:
            position = self.positions.get(rating.subject)
            if position is None or rating.group == "self":
                continue
            key = (rating.competency, *position)
            answered[key] = answered.get(key, 0) + 1
            marked[key] = marked.get(key, 0) + rating.not_relevant
            subjects.setdefault(key, set()).add(rating.subject)

    def marks(self, *, min_items: int = MIN_ITEMS) -> list[NotRelevantMarks]:
        marked, answered = self.marked, self.answered
        found = [
            NotRelevantMarks(
                competency=competency,
                family=family,
                track=track,
                level=level,
                marked=marked[key],
                answered=answered[key],
            )
            for key in answered
            if marked[key] and len(self.subjects[key]) >= min_items
            for competency, family, track, level in [key]
        ]
        return sorted(
            found,
            key=lambda m: (-m.marked / m.answered, m.family, m.track, m.level, m.competency),
        )


def competency_use(
    scores: Mapping[tuple[str, str], float | None],
    positions: Mapping[str, Position],
    targets: Mapping[Position, Mapping[str, int]],
    *,
    min_items: int = MIN_ITEMS,
) -> list[CompetencyUse]:
    """Per role and competency with a target, over `min_items` subjects or more: how many
    subjects ended unscored and how many at or above target; sorted by role, competency.

    `scores`: each (subject, competency)'s calibrated score; `targets`: each role's target
    per competency. Subjects without a known position, and competencies without a target in
    their role, are left out.
    """
    counts: dict[tuple[str, str, str, str], list[int]] = {}
    for (subject, competency), score in scores.items():
        position = positions.get(subject)
        target = targets.get(position, {}).get(competency) if position else None
        if position is None or target is None:
            continue
        tally = counts.setdefault((competency, *position), [0, 0, 0])
        tally[0] += 1
        tally[1] += score is None
        tally[2] += score is not None and score >= target
    return [
        CompetencyUse(
            competency=competency,
            family=family,
            track=track,
            level=level,
            subjects=subjects,
            unscored=unscored,
            at_target=at_target,
        )
        for (competency, family, track, level), (subjects, unscored, at_target) in sorted(
            counts.items(), key=lambda kv: (kv[0][1:], kv[0][0])
        )
        if subjects >= min_items
    ]
