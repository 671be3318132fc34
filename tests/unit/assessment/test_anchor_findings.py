"""Findings per anchor and not-relevant marks per role, from a calibration's ratings
(services/assessment/domain/anchor_findings.py; docs/assessment.md, Calibration)."""

from __future__ import annotations

import pytest

from libs.events.schemas.assessment import AnchorFinding, CompetencyUse, NotRelevantMarks
from services.assessment.domain.aggregation import aggregate
from services.assessment.domain.anchor_findings import (
    anchor_findings,
    competency_use,
    not_relevant_marks,
)
from services.assessment.domain.ratings import Rating

SCALE = (1, 5)
L3 = ("eng", "ic", "L3")
L4 = ("eng", "ic", "L4")
# (manager, peer) values on "coding" for six subjects at L3; each also rates themselves 5,
# which calibration never compares.
L3_CODING = {"s1": (5, 2), "s2": (4, 4), "s3": (5, 5), "s4": (5, 4), "s5": (5, 5), "s6": (2, 5)}
# Three subjects at L4: below the five items a finding needs, however far apart.
L4_CODING = {"t1": (1, 5), "t2": (5, 1), "t3": (1, 5)}


def ratings_of(values: dict[str, tuple[int, int]]) -> list[Rating]:
    found: list[Rating] = []
    for subject, (manager, peer) in values.items():
        found += [
            Rating(
                subject=subject,
                rater=f"m-{subject}",
                group="manager",
                competency="coding",
                value=manager,
            ),
            Rating(
                subject=subject, rater=f"p-{subject}", group="peer", competency="coding", value=peer
            ),
            Rating(subject=subject, rater=subject, group="self", competency="coding", value=5),
        ]
    return found


RATINGS = ratings_of(L3_CODING) + ratings_of(L4_CODING)
POSITIONS = {**dict.fromkeys(L3_CODING, L3), **dict.fromkeys(L4_CODING, L4)}


def finding(kind: str, items: int, flagged: int, level: str = "L3") -> AnchorFinding:
    return AnchorFinding.model_validate(
        {
            "kind": kind,
            "competency": "coding",
            "family": "eng",
            "track": "ic",
            "level": level,
            "items": items,
            "flagged": flagged,
        }
    )


def test_inconsistent_use_and_leniency_clustering_are_counted_per_anchor() -> None:
    """At L3, s1 (5 against 2) and s6 (2 against 5) are 3 points apart: 2 of 6 items. Of the
    12 manager and peer ratings, 7 are the top of the scale (s1 1, s3 2, s4 1, s5 2, s6 1):
    at least half, so the anchor separates nobody. No subject is an outlier at two standard
    deviations. L4 disagrees everywhere but has 3 items, below the 5 a finding needs."""
    found = anchor_findings(RATINGS, aggregate(RATINGS), POSITIONS, SCALE)
    assert found == [
        finding("inconsistent_use", items=6, flagged=2),
        finding("leniency_clustering", items=12, flagged=7),
    ]


def test_outliers_count_the_anchors_subjects_far_from_the_population() -> None:
    """The overall scores are the managers' (one peer is below the anonymity threshold and
    does not count): 5, 4, 5, 5, 5, 2 at L3 and 1, 5, 1 at L4, mean 3.67, standard
    deviation 1.70. At 0.9 deviations, s6 (2, z -0.98) is an outlier at L3, as are t1 and t3
    (z -1.57) at L4, which has too few items to report: 1 of the 6 L3 subjects."""
    results = aggregate(RATINGS)
    found = anchor_findings(RATINGS, results, POSITIONS, SCALE, z=0.9, outlier_share=0.15)
    assert finding("outliers", items=6, flagged=1) in found
    strict = anchor_findings(RATINGS, results, POSITIONS, SCALE, z=0.9, outlier_share=0.2)
    assert not [f for f in strict if f.kind == "outliers"], "1 of 6 is below a fifth"
    assert not [
        f for f in anchor_findings(RATINGS, results, POSITIONS, SCALE) if f.kind == "outliers"
    ], "nobody at the default two deviations"


def test_subjects_without_a_known_position_and_self_ratings_count_for_nothing() -> None:
    unplaced = {s: p for s, p in POSITIONS.items() if s != "s1"}
    found = anchor_findings(RATINGS, aggregate(RATINGS), unplaced, SCALE)
    assert finding("inconsistent_use", items=5, flagged=1) in found
    no_self = [r for r in RATINGS if r.group != "self"]
    assert anchor_findings(no_self, aggregate(no_self), POSITIONS, SCALE) == anchor_findings(
        RATINGS, aggregate(RATINGS), POSITIONS, SCALE
    )


def test_not_relevant_marks_are_counted_per_role_over_enough_subjects() -> None:
    """At L3, five subjects each rated by three peers, two marking design not relevant: 10 of
    15. Self-assessments count for nothing; L4 has one subject, however many raters."""
    l3 = ["s1", "s2", "s3", "s4", "s5"]
    design = [
        Rating(
            subject=subject,
            rater=f"r{n}",
            group="peer",
            competency="design",
            value=None if n < 2 else 3,
            not_relevant=n < 2,
        )
        for subject in l3
        for n in range(3)
    ]
    design += [
        Rating(subject=s, rater=s, group="self", competency="design", value=None, not_relevant=True)
        for s in l3
    ]
    design += [
        Rating(
            subject="t1",
            rater=f"r{n}",
            group="peer",
            competency="design",
            value=None,
            not_relevant=True,
        )
        for n in range(6)
    ]
    [marks] = not_relevant_marks(design, POSITIONS)
    assert marks == NotRelevantMarks(
        competency="design", family="eng", track="ic", level="L3", marked=10, answered=15
    )
    assert not_relevant_marks(design, POSITIONS, min_items=6) == [], "five subjects only"
    observed_only = [r.model_copy(update={"not_relevant": False}) for r in design]
    assert not_relevant_marks(observed_only, POSITIONS) == [], "not observed is not marked"


@pytest.mark.parametrize("value", [None, 3])
def test_a_rating_is_not_relevant_only_when_every_item_of_it_was_marked(
    value: int | None,
) -> None:
    from services.assessment.domain.campaigns import submission_ratings

    [rating] = submission_ratings(
        "s1",
        "p1",
        "peer",
        [["coding/tests", value, None, False], ["coding/review", None, None, True]],
    )
    assert rating.not_relevant is False
    [marked] = submission_ratings("s1", "p1", "peer", [["coding/tests", None, None, True]])
    assert marked.not_relevant is True
    assert marked.value is None
    [before] = submission_ratings("s1", "p1", "peer", [["coding", 4, "old row"]])
    assert (before.value, before.not_relevant) == (4, False), "rows stored before hold three"


def test_competency_use_counts_unscored_and_at_target_subjects_per_role() -> None:
    """L3 targets coding at 4: s1 3.5 and s6 2 are below, s2 4 and s3 5 at or above, s4 and s5
    unscored. L4 (3 subjects) is below the five a count needs; design has no target."""
    scores: dict[tuple[str, str], float | None] = {
        ("s1", "coding"): 3.5,
        ("s2", "coding"): 4.0,
        ("s3", "coding"): 5.0,
        ("s4", "coding"): None,
        ("s5", "coding"): None,
        ("s6", "coding"): 2.0,
        ("s1", "design"): 3.0,
        ("t1", "coding"): 4.0,
        ("t2", "coding"): 4.0,
        ("t3", "coding"): 4.0,
        ("nobody", "coding"): 4.0,
    }
    targets = {L3: {"coding": 4}, L4: {"coding": 3}}
    [use] = competency_use(scores, POSITIONS, targets)
    assert use == CompetencyUse(
        competency="coding",
        family="eng",
        track="ic",
        level="L3",
        subjects=6,
        unscored=2,
        at_target=2,
    )
    assert competency_use(scores, POSITIONS, targets, min_items=3)[1].at_target == 3
