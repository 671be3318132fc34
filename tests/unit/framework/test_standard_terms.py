"""Competencies by standard term (docs/domain.md §2, Vocabulary): looked up in a framework,
and two frameworks mapped to each other, terms compared without case or extra spaces."""

from __future__ import annotations

from libs.events.schemas.framework import Framework
from services.framework.domain.standard_terms import map_by_standard_term, normalise, with_term
from tests.support.sample_frameworks import replace_competency, valid_framework


def termed(framework: Framework, **terms: str) -> Framework:
    for key, term in terms.items():
        framework = replace_competency(framework, key, standard_term=term)
    return framework


def test_terms_compare_without_case_or_extra_white_space_and_nothing_else() -> None:
    assert normalise("  Stakeholder \t Communication ") == "stakeholder communication"
    assert normalise("STRASSE") == normalise("straße"), "casefold, not lower"
    assert normalise("Stakeholder-Communication") != normalise("Stakeholder Communication")


def test_a_lookup_finds_every_competency_mapped_to_the_term_in_order() -> None:
    framework = termed(
        valid_framework(),
        testing="Quality Assurance",
        coding="Software development",
        design="quality  assurance",
    )
    assert [c.key for c in with_term(framework, "quality assurance")] == ["testing", "design"]
    assert with_term(framework, "Stakeholder communication") == []


def test_two_frameworks_map_by_term_with_the_unmatched_on_each_side() -> None:
    left = termed(
        valid_framework(),
        communication="Stakeholder Communication",
        coding="Software Development",
        testing="Quality Assurance",
    )
    right = termed(
        valid_framework(),
        collaboration="stakeholder communication ",
        coding="Programming",
        design="Software development",
        operations="Software Development",
    )
    mapping = map_by_standard_term(left, right)
    pairs = [
        (m.standard_term, [c.competency for c in m.left], [c.competency for c in m.right])
        for m in mapping.matched
    ]
    assert pairs == [
        ("Stakeholder Communication", ["communication"], ["collaboration"]),
        ("Software Development", ["coding"], ["design", "operations"]),
    ]
    unmatched_left = {c.competency: c.standard_term for c in mapping.unmatched_left}
    assert unmatched_left["testing"] == "Quality Assurance", "a term the other side lacks"
    assert unmatched_left["design"] is None, "no term matches nothing"
    assert {"communication", "coding"}.isdisjoint(unmatched_left)
    unmatched_right = {c.competency: c.standard_term for c in mapping.unmatched_right}
    assert unmatched_right["coding"] == "Programming"
    assert {"collaboration", "design", "operations"}.isdisjoint(unmatched_right)
    assert len(left.competencies) - len(mapping.unmatched_left) == 2
    assert len(right.competencies) - len(mapping.unmatched_right) == 3


def test_a_framework_without_terms_maps_to_nothing() -> None:
    mapping = map_by_standard_term(valid_framework(), valid_framework())
    assert mapping.matched == []
    assert len(mapping.unmatched_left) == len(valid_framework().competencies)
