"""The simulated people's reading of a calibration's final scores (talentledger/simulation.py)."""

from __future__ import annotations

from typing import Any

import pytest

from talentledger.simulation import competency_average


def scored(competency: str, calibrated: float | None) -> dict[str, Any]:
    return {"competency": competency, "calibrated": calibrated}


def test_a_competency_assessed_per_sub_skill_weighs_as_much_as_one_assessed_whole() -> None:
    """docs/domain.md §4, Roll-up: `delivery`'s three sub-skills make one competency at 2,
    `craft` another at 5, so the subject averages 3.5, not (2 + 2 + 2 + 5) / 4."""
    scores = [
        scored("delivery/planning", 1),
        scored("delivery/estimates", 3),
        scored("delivery/follow-up", 2),
        scored("craft", 5),
        scored("mentoring/pairing", None),
    ]
    assert competency_average(scores) == pytest.approx(3.5)


def test_a_subject_without_a_calibrated_score_has_no_average() -> None:
    assert competency_average([scored("craft", None)]) is None
