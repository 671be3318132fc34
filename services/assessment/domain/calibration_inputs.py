"""A calibration session's inputs, computed one group of subjects at a time (docs/domain.md §4,
Calibration at scale).

A session calibrates a closed campaign, whose ratings no longer change, so what it looks at
is computed once: the items it scores (each subject's aggregate, per sub-skill where asked)
and the signals over its whole population. `PopulationTally` takes the ratings a group of
subjects at a time and keeps only what the signals need across groups (per rater, a sum of
offsets and a count; per competency and anchor, counts; per subject and competency, and per
sub-skill where asked, the overall score): memory grows with the population, not with its
ratings. Its results are those of `aggregate`, `aggregate_sub_skills`, `items`,
`rater_offsets`, `inconsistent_anchors`, `outliers` (of the items), `anchor_findings` and
`not_relevant_marks` over every rating at once (a rater's offset up to the order its float
sum is taken in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from sys import intern
from typing import Literal, NamedTuple

from libs.events.schemas.assessment import AnchorFinding, NotRelevantMarks, competency_of
from services.assessment.domain.aggregation import (
    CompetencyResult,
    GroupWeights,
    aggregate,
    aggregate_sub_skills,
    by_subject_and_competency,
)
from services.assessment.domain.anchor_findings import AnchorTally, MarkTally, Position
from services.assessment.domain.anonymity import AnonymityPolicy
from services.assessment.domain.calibration import (
    InconsistentAnchor,
    OffsetTally,
    Outlier,
    RaterOffset,
    SpreadTally,
    items,
    outliers,
)
from services.assessment.domain.ratings import Rating


class _Overall(NamedTuple):
    """A tuple: one per subject and item, and the garbage collector stops tracking a tuple
    of strings and numbers, so a large population does not lengthen its pauses."""

    subject: str
    item: str
    overall: float | None

    @property
    def competency(self) -> str:
        return competency_of(self.item)


SignalKind = Literal[
    "rater_offsets", "inconsistent_anchors", "outliers", "anchor_findings", "not_relevant"
]


@dataclass(frozen=True)
class Signals:
    """What a session's review shows beside the scores, and what its completion reports on
    the framework's anchors (domain.anchor_findings), over the session's population. Read
    back, only the kinds a caller asks for may be filled: the rater offsets alone are a
    megabyte at 10,000 people."""

    rater_offsets: list[RaterOffset] = field(default_factory=list)
    inconsistent_anchors: list[InconsistentAnchor] = field(default_factory=list)
    outliers: list[Outlier] = field(default_factory=list)
    anchor_findings: list[AnchorFinding] = field(default_factory=list)
    not_relevant: list[NotRelevantMarks] = field(default_factory=list)


class PopulationTally:
    """The session's items, group by group, and its signals once every group is in."""

    def __init__(
        self,
        weights: GroupWeights,
        policy: AnonymityPolicy,
        positions: Mapping[str, Position],
        scale: tuple[int, int],
    ) -> None:
        self.weights = weights
        self.policy = policy
        self._offsets = OffsetTally()
        self._spreads = SpreadTally()
        self._anchors = AnchorTally(positions, scale)
        self._marks = MarkTally(positions)
        # Per subject and competency, the overall score only: what the anchor findings
        # compare; and per item, what outliers compare (the same tuples where every
        # competency is its own item).
        self._overalls: list[_Overall] = []
        self._items: list[_Overall] = []

    def add(self, ratings: list[Rating]) -> list[CompetencyResult]:
        """Tally a group of subjects, every rating of each (a subject split across two
        groups would be two items to the signals); their items (calibration.items)."""
        per_item = by_subject_and_competency(ratings)
        self._offsets.add(per_item)
        self._spreads.add(per_item)
        self._anchors.add(per_item)
        self._marks.add(ratings)
        results = aggregate(ratings, self.weights, self.policy)
        per_competency = [_Overall(r.subject, r.competency, r.overall) for r in results]
        self._overalls += per_competency
        per_sub_skill = aggregate_sub_skills(ratings, self.weights, self.policy)
        scored = items(results, per_sub_skill)
        self._items += (
            [_Overall(r.subject, intern(r.item), r.overall) for r in scored]
            if per_sub_skill
            else per_competency
        )
        return scored

    def signals(self) -> Signals:
        return Signals(
            rater_offsets=self._offsets.offsets(),
            inconsistent_anchors=self._spreads.anchors(),
            outliers=outliers(self._items),
            anchor_findings=self._anchors.findings(self._overalls),
            not_relevant=self._marks.marks(),
        )
