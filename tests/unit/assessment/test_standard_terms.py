"""Calibrated scores keyed by standard term (docs/domain.md §2, Vocabulary): two competencies
mapped to one term merge into their mean, with the count and the source keys; a competency
without a term is listed apart, never dropped."""

from __future__ import annotations

import pytest

from libs.events.schemas.assessment import SubjectScores
from libs.events.schemas.framework import Framework
from services.assessment.domain.standard_terms import (
    UnknownStandardTerm,
    UnmappedScore,
    term_scores,
)
from tests.support.sample_frameworks import valid_framework, with_standard_terms

# coding and testing map to one term (written two ways), collaboration to another;
# ownership and communication to none. In the framework, collaboration comes first.
TERMS = {
    "coding": "Software development",
    "testing": "software  Development ",
    "collaboration": "Teamwork",
}


def mapped() -> Framework:
    return with_standard_terms(valid_framework(), TERMS)


SCORES = [
    # Given out of order: the answer is by subject, then in the framework's order.
    SubjectScores(
        subject="bob",
        scores={"testing": None, "coding": 2.0, "collaboration": None, "ownership": 3.0},
    ),
    SubjectScores(
        subject="ann",
        scores={"coding": 4.0, "testing": 2.5, "collaboration": 3.0, "ownership": None},
    ),
]


def test_two_competencies_on_one_term_merge_into_their_mean_and_the_unmapped_stay_apart() -> None:
    terms, unmapped = term_scores(mapped(), SCORES)
    assert [(t.subject, t.standard_term, t.score, t.scored, t.competencies) for t in terms] == [
        ("ann", "Teamwork", 3.0, 1, ["collaboration"]),
        # (4 + 2.5) / 2 = 3.25, over both.
        ("ann", "Software development", 3.25, 2, ["coding", "testing"]),
        # Nothing observed: unscored, not zero.
        ("bob", "Teamwork", None, 0, ["collaboration"]),
        # testing not observed: 2 over one.
        ("bob", "Software development", 2.0, 1, ["coding", "testing"]),
    ]
    assert unmapped == [
        UnmappedScore(subject="ann", competency="ownership", score=None),
        UnmappedScore(subject="bob", competency="ownership", score=3.0),
    ]


def test_one_term_is_found_ignoring_case_and_spacing_and_an_unknown_one_is_refused() -> None:
    terms, unmapped = term_scores(mapped(), SCORES, "  SOFTWARE development")
    assert [(t.subject, t.score) for t in terms] == [("ann", 3.25), ("bob", 2.0)]
    assert unmapped == [], "one term asked for: the unmapped scores are not part of it"
    with pytest.raises(
        UnknownStandardTerm, match=r"its terms: 'Teamwork', 'Software development'$"
    ):
        term_scores(mapped(), SCORES, "Communication")


def test_a_framework_without_standard_terms_lists_every_score_as_unmapped() -> None:
    terms, unmapped = term_scores(valid_framework(), SCORES[:1])
    assert terms == []
    assert [(u.competency, u.score) for u in unmapped] == [
        ("collaboration", None),
        ("ownership", 3.0),
        ("coding", 2.0),
        ("testing", None),
    ]
