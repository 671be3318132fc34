"""Calibrated scores keyed by standard term (docs/domain.md §2, Vocabulary; §4, Calibration),
so that two frameworks, or two organisations, are compared on the same terms rather than on
each one's own competency keys.

The merge rule, for one person and one standard term: the score is the mean of the person's
calibrated scores on the framework's competencies mapped to that term, "not observed" (no
score) left out as aggregation leaves it out; `scored` says how many scores the mean is of
and `competencies` names every mapped competency the person was scored on or left unscored,
in the framework's order. A plain mean, unweighted: the framework gives no competency more
weight than another, and a merged term stands for all its competencies alike. With none of
them scored, the term is unscored (null), never zero.

A competency without a standard term cannot be compared across frameworks: it is listed
apart (`unmapped`) with its score, never dropped. Terms are compared as the framework
service compares them (`normalise_term`) and written as the framework first writes them.

The scores come from CalibrationCompleted as it was published, so they carry no more than
it does: anonymous groups under the threshold never counted in them (docs/domain.md §3).
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import fmean

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.assessment import CalibrationCompleted, SubjectScores
from libs.events.schemas.framework import Framework, normalise_term


class UnknownStandardTerm(ValueError):
    """A standard term none of the framework version's competencies maps to."""


class TermScore(BaseModel):
    """One person's score on one standard term: the merge of their mapped competencies."""

    model_config = ConfigDict(frozen=True)

    subject: str
    standard_term: str = Field(description="as the framework first writes it")
    score: float | None = Field(
        description="mean of the mapped competencies' calibrated scores; null: none scored"
    )
    scored: int = Field(ge=0, description="how many scores the mean is of")
    competencies: list[str] = Field(
        description="the framework's competencies mapped to the term that the person has an "
        "entry for, scored or not, in the framework's order"
    )


class UnmappedScore(BaseModel):
    """A calibrated score on a competency the framework maps to no standard term."""

    model_config = ConfigDict(frozen=True)

    subject: str
    competency: str
    score: float | None = Field(description="the calibrated score; null: nobody observed it")


class StandardTermScores(BaseModel):
    """A completed calibration session's scores by standard term."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    campaign_id: str
    framework_id: str
    framework_version: int
    taxonomy: str | None = Field(description="the standard taxonomy the terms belong to")
    terms: list[TermScore] = Field(description="by subject, then in the framework's order")
    unmapped: list[UnmappedScore] = Field(
        description="scores on competencies without a standard term, by subject, then in the "
        "framework's order"
    )


def by_standard_term(
    framework: Framework, completed: CalibrationCompleted, only: str | None = None
) -> StandardTermScores:
    """A completed session's scores by standard term (`term_scores`), naming the session and
    the framework version (`framework`, the one it calibrated against) they come from."""
    terms, unmapped = term_scores(framework, completed.scores, only)
    source = completed.model_dump(
        include={"session_id", "campaign_id", "framework_id", "framework_version"}
    )
    return StandardTermScores(**source, taxonomy=framework.taxonomy, terms=terms, unmapped=unmapped)


def term_scores(
    framework: Framework, scores: Iterable[SubjectScores], only: str | None = None
) -> tuple[list[TermScore], list[UnmappedScore]]:
    """Each subject's calibrated scores merged by standard term (the module's rule), and those
    on competencies without one. `only`: that term's scores alone, and no unmapped ones;
    UnknownStandardTerm when no competency of `framework` maps to it."""
    term_of = {
        c.key: normalise_term(c.standard_term)
        for c in framework.competencies
        if c.standard_term is not None
    }
    written: dict[str, str] = {}
    for competency in framework.competencies:
        if competency.standard_term is not None:
            written.setdefault(normalise_term(competency.standard_term), competency.standard_term)
    wanted = None if only is None else normalise_term(only)
    if wanted is not None and wanted not in written:
        known = ", ".join(repr(t) for t in written.values()) or "none"
        raise UnknownStandardTerm(
            f"no competency of the framework version maps to standard term {only!r}; its "
            f"terms: {known}"
        )
    order = {c.key: i for i, c in enumerate(framework.competencies)}
    terms: list[TermScore] = []
    unmapped: list[UnmappedScore] = []
    for subject in sorted(scores, key=lambda s: s.subject):
        # Competencies the framework no longer lists sort last, by key, rather than vanish.
        keys = sorted(subject.scores, key=lambda k: (order.get(k, len(order)), k))
        merged: dict[str, list[str]] = {}
        for key in keys:
            term = term_of.get(key)
            if term is None:
                if wanted is None:
                    unmapped.append(
                        UnmappedScore(
                            subject=subject.subject, competency=key, score=subject.scores[key]
                        )
                    )
            elif wanted in (None, term):
                merged.setdefault(term, []).append(key)
        for term, competencies in merged.items():
            values = [v for v in (subject.scores[k] for k in competencies) if v is not None]
            terms.append(
                TermScore(
                    subject=subject.subject,
                    standard_term=written[term],
                    score=fmean(values) if values else None,
                    scored=len(values),
                    competencies=competencies,
                )
            )
    return terms, unmapped
