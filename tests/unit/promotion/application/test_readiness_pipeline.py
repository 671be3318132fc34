"""The readiness pipeline (docs/domain.md §6) on in-memory ports: HR only, the latest
calibration (with a department, the latest that scored someone there), everyone the org chart
has active in a department and nobody who left, time at level counted from the org chart's
level start on the report's day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.promotion.application.promotion import NotFound, Promotion
from services.promotion.application.readiness_pipeline import readiness_pipeline
from services.promotion.domain.cases import NotEntitled
from tests.support.calibrations import calibration
from tests.support.memory import person
from tests.support.promotion_memory import Actor, MemoryPromotion, MemoryWork, calibrate
from tests.support.sample_frameworks import valid_framework

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
STRONG = {"coding": 4, "testing": 4, "collaboration": 3.5, "ownership": 3, "communication": 3}
WEAK = {"coding": 2.5, "testing": 3, "collaboration": 3, "ownership": 3, "communication": 3}

hr = Actor("emp-hr", frozenset({"hr_admin"}))


@pytest.fixture
def work() -> MemoryWork:
    work = MemoryWork()
    work.frameworks.publish("eng", 1, valid_framework())
    work.org_chart.hire(
        person("emp-a"),  # level since 2024: five quarters and more
        person("emp-b", level_since=date(2026, 1, 10)),  # no whole quarter by 2 March
        person("emp-c"),
        person("emp-gone", left=True),
        person("emp-i", department="Insights"),
    )
    return work


@pytest.fixture
def promotion(work: MemoryWork) -> Promotion:
    return Promotion(MemoryPromotion(work), "promotion_committee", clock=lambda: NOW)


async def test_the_latest_calibration_of_the_active_people_by_department(
    promotion: Promotion,
) -> None:
    everyone = {"emp-a": STRONG, "emp-b": STRONG, "emp-c": WEAK, "emp-gone": STRONG}
    await calibrate(promotion, calibration("s1", everyone), 100)
    await calibrate(promotion, calibration("s2", {"emp-i": STRONG}), 10)

    found = await readiness_pipeline(promotion, hr)
    assert (found.session_id, found.criteria_version, found.as_of) == ("s2", 1, NOW.date())
    assert [(r.department, r.people, r.awaiting_case) for r in found.rows] == [("Insights", 1, 1)]

    # Platform's latest is s1; who left is not counted anywhere.
    platform = await readiness_pipeline(promotion, hr, "Platform")
    assert platform.session_id == "s1"
    [l3] = platform.rows
    assert (l3.people, l3.ready, l3.awaiting_case, l3.not_ready) == (3, 0, 1, 2)
    assert (l3.most_common_unmet, l3.most_common_unmet_people) == ("average", 1)
    assert platform.left_out == {}
    assert platform.case_only == ("calibration_confirmation", "endorsement", "evidence")


async def test_hr_only_and_nothing_to_report_is_not_found(promotion: Promotion) -> None:
    with pytest.raises(NotFound, match="no calibration has scored anyone active"):
        await readiness_pipeline(promotion, hr)
    await calibrate(promotion, calibration("s1", {"emp-a": STRONG}), 1)
    with pytest.raises(NotFound, match="in department 'Insights'"):
        await readiness_pipeline(promotion, hr, "Insights")
    manager = Actor("emp-lead", frozenset({"manager", "auditor"}))
    with pytest.raises(NotEntitled):
        await readiness_pipeline(promotion, manager)
