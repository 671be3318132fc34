"""A promotion case for the readiness rules (docs/domain.md §6, Criteria): every criterion
met for a move from L3 to L4, unless a test changes one input."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from services.promotion.domain.cases import nominate
from services.promotion.domain.criteria import Criteria, CriteriaSet, Transition
from services.promotion.domain.payloads import Nomination
from services.promotion.domain.readiness import (
    CalibratedScores,
    EvidenceRecord,
    HrisPosition,
    Readiness,
    evaluate,
)

LEAD = "has led a project with 3 or more cross-team stakeholders"
AS_OF = date(2025, 6, 30)

L3_TO_L4 = Transition(family="eng", from_track="ic", from_level="L3", to_track="ic", to_level="L4")
COMPETENCIES = ["communication", "collaboration", "delivery", "design"]


def calibration(**scores: float | None) -> CalibratedScores:
    return CalibratedScores(
        session_id="cal-2025-q2",
        framework_id="fw-eng",
        framework_version=2,
        subject="ann",
        scores=scores,
    )


def strong() -> CalibratedScores:
    return calibration(communication=3.0, collaboration=4.0, delivery=3.5, design=3.5)


def criteria(**overrides: object) -> CriteriaSet:
    fields: dict[str, object] = {"evidence": (LEAD,), **overrides}
    return CriteriaSet(version=3, default=Criteria(**fields))  # type: ignore[arg-type]


def evidence() -> dict[str, EvidenceRecord]:
    return {
        LEAD: EvidenceRecord(
            provided_by="mgr-1",
            at=datetime(2025, 5, 2, 9, 0, tzinfo=UTC),
            note="checkout redesign with payments, support and legal",
        )
    }


def ready_case(**changes: object) -> Readiness:
    """Every criterion met unless a test changes one input; the HRIS has the person at the
    level the move is from unless `hris_position` is given."""
    inputs: dict[str, object] = {
        "criteria": criteria(),
        "transition": L3_TO_L4,
        "calibration": strong(),
        "required_competencies": COMPETENCIES,
        "as_of": AS_OF,
        "level_since": date(2025, 3, 30),
        "evidence": evidence(),
        "endorsed_by": "mgr-1",
        "confirmed_in_session": "cal-2025-q2",
    }
    inputs.update(changes)
    if "hris_position" not in changes:  # the HRIS has them where the move starts
        move = inputs["transition"]
        assert isinstance(move, Transition)
        inputs["hris_position"] = HrisPosition(
            family=move.family, track=move.from_track, level=move.from_level
        )
    return evaluate(**inputs)  # type: ignore[arg-type]


def nomination(note: str = "Led the checkout redesign.", **changes: Any) -> Nomination:
    """The payload of a nomination for L3 to L4 in cycle 2025-h1, no other case open."""
    inputs: dict[str, Any] = {
        "cycle_id": "2025-h1",
        "framework_id": "fw-eng",
        "framework_version": 2,
        "transition": L3_TO_L4,
        "operating_since": date(2025, 3, 30),
        "note": note,
        "open_cases": [],
    }
    inputs.update(changes)
    return nominate(**inputs)
