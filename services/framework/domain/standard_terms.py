"""Competencies by standard term (docs/domain.md §2, Vocabulary): looked up across
frameworks, and two frameworks' competencies mapped to each other (a merger, a benchmark).

Terms are compared as people mean them, not as they were typed: case is ignored (casefold,
as the publication rules compare names) and runs of white space count as one space, leading
and trailing ones as none ("Stakeholder  communication " is "stakeholder communication").
Nothing else is: punctuation, spelling and synonyms are the taxonomy's business, and a
competency without a standard term matches nothing.

The frameworks' taxonomies are not compared: each answer names them, for the reader to
judge a match across two taxonomies.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import Competency, Framework
from libs.events.schemas.framework import normalise_term as normalise


class CompetencyTerm(BaseModel):
    """One organisation competency and the standard term it maps to."""

    model_config = ConfigDict(frozen=True)

    competency: str = Field(description="the competency's key in its framework")
    name: str = Field(description="the organisation's own term")
    standard_term: str | None = Field(description="as the framework writes it")

    @classmethod
    def of(cls, competency: Competency) -> CompetencyTerm:
        return cls(
            competency=competency.key, name=competency.name, standard_term=competency.standard_term
        )


class TermMatch(BaseModel):
    """The competencies of each framework that map to one standard term."""

    model_config = ConfigDict(frozen=True)

    standard_term: str = Field(description="as the first framework writes it")
    left: list[CompetencyTerm] = Field(description="the first framework's, one or more")
    right: list[CompetencyTerm] = Field(description="the second framework's, one or more")


class TermMapping(BaseModel):
    model_config = ConfigDict(frozen=True)

    matched: list[TermMatch] = Field(description="in the first framework's order")
    unmatched_left: list[CompetencyTerm] = Field(
        description="the first framework's competencies no competency of the second shares a "
        "standard term with (those without one included)"
    )
    unmatched_right: list[CompetencyTerm] = Field(description="the same, the other way")


def with_term(framework: Framework, term: str) -> list[Competency]:
    """The framework's competencies mapped to `term`, in the framework's order."""
    return _by_term(framework).get(normalise(term), [])


def map_by_standard_term(left: Framework, right: Framework) -> TermMapping:
    """Match two frameworks' competencies by standard term. Several competencies of one side
    may map to one term: they match together, all of them to all of the other side's."""
    left_by_term, right_by_term = _by_term(left), _by_term(right)
    matched = [
        TermMatch(
            standard_term=competencies[0].standard_term or term,
            left=[CompetencyTerm.of(c) for c in competencies],
            right=[CompetencyTerm.of(c) for c in right_by_term[term]],
        )
        for term, competencies in left_by_term.items()
        if term in right_by_term
    ]
    return TermMapping(
        matched=matched,
        unmatched_left=_unmatched(left, right_by_term),
        unmatched_right=_unmatched(right, left_by_term),
    )


def _by_term(framework: Framework) -> dict[str, list[Competency]]:
    found: dict[str, list[Competency]] = {}
    for competency in framework.competencies:
        if competency.standard_term is not None:
            found.setdefault(normalise(competency.standard_term), []).append(competency)
    return found


def _unmatched(framework: Framework, other: dict[str, list[Competency]]) -> list[CompetencyTerm]:
    return [
        CompetencyTerm.of(c)
        for c in framework.competencies
        if c.standard_term is None or normalise(c.standard_term) not in other
    ]
