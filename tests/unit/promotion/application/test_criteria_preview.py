"""Previewing a criteria draft (docs/domain.md §6) on in-memory ports: HR only, on the newest
calibration session unless another is named, a bad draft refused, and nothing published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.events.schemas.assessment import CalibrationCompleted
from services.promotion.application import criteria, reactions
from services.promotion.application.criteria_preview import preview_criteria
from services.promotion.application.promotion import NotFound, Promotion
from services.promotion.domain.cases import CaseRefused, NotEntitled, WrongState
from tests.support.calibrations import calibration
from tests.support.envelopes import envelope
from tests.support.promotion_memory import Actor, MemoryPromotion, MemoryWork
from tests.support.sample_frameworks import valid_framework

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
STRONG = {"coding": 4, "testing": 4, "collaboration": 3.5, "ownership": 3, "communication": 3}
WEAK = {"coding": 2.5, "testing": 3, "collaboration": 3, "ownership": 3, "communication": 3}
# STRONG averages 3.5 with nothing below 3: it meets the defaults, not a 4.0 average.
STRICTER = {"default": {"minimum_average": 4}}

hr = Actor("emp-hr", frozenset({"hr_admin"}))


@pytest.fixture
def promotion() -> Promotion:
    work = MemoryWork()
    work.frameworks.publish("eng", 1, valid_framework())
    return Promotion(MemoryPromotion(work), "promotion_committee", clock=lambda: NOW)


async def calibrate(promotion: Promotion, event: CalibrationCompleted, days_ago: int) -> None:
    at = NOW - timedelta(days=days_ago)
    async with promotion.uow.transaction() as tx:
        await reactions.on_calibration(tx, envelope(event, "calibration", at=at), event)


async def test_the_newest_session_is_counted_and_nothing_is_published(
    promotion: Promotion,
) -> None:
    await calibrate(promotion, calibration("s1", {"emp-a": STRONG, "emp-b": STRONG}), 200)
    await calibrate(promotion, calibration("s2", {"emp-a": STRONG, "emp-b": WEAK}), 10)
    found = await preview_criteria(promotion, STRICTER, hr)
    assert found.session_id == "s2"
    assert (found.in_force.people, found.in_force.eligible) == (2, 1)
    assert (found.draft.people, found.draft.eligible) == (2, 0)
    older = await preview_criteria(promotion, STRICTER, hr, session_id="s1")
    assert (older.session_id, older.in_force.eligible, older.draft.eligible) == ("s1", 2, 0)
    assert (await criteria.criteria(promotion)).version == 1, "the draft stays a draft"


async def test_only_hr_previews(promotion: Promotion) -> None:
    await calibrate(promotion, calibration("s1", {"emp-a": STRONG}), 1)
    for roles in ({"auditor"}, {"manager"}, {"promotion_committee"}, {"employee"}):
        with pytest.raises(NotEntitled, match="hr_admin"):
            await preview_criteria(promotion, STRICTER, Actor("emp-x", frozenset(roles)))


async def test_a_draft_no_version_could_hold_is_refused_saying_why(promotion: Promotion) -> None:
    await calibrate(promotion, calibration("s1", {"emp-a": STRONG}), 1)
    bad = {"scale": "1..5", "default": {"competency_floor": 0.5}}
    with pytest.raises(CaseRefused, match=r"competency_floor 0.5 is outside the scale 1\.\.5") as e:
        await preview_criteria(promotion, bad, hr)
    assert type(e.value) is CaseRefused, "what was sent: a 422"


async def test_without_a_calibration_or_with_an_unknown_session_there_is_nothing_to_count(
    promotion: Promotion,
) -> None:
    with pytest.raises(WrongState, match="no calibration"):
        await preview_criteria(promotion, STRICTER, hr)
    await calibrate(promotion, calibration("s1", {"emp-a": STRONG}), 1)
    with pytest.raises(NotFound, match="'s9'"):
        await preview_criteria(promotion, STRICTER, hr, session_id="s9")


async def test_scores_outside_the_drafts_scale_are_a_refusal_not_an_error(
    promotion: Promotion,
) -> None:
    zero = {**STRONG, "testing": 0}
    await calibrate(promotion, calibration("s1", {"emp-a": zero}), 1)
    with pytest.raises(CaseRefused, match=r"outside the scale 1\.\.5") as e:
        await preview_criteria(promotion, {"scale": "1..5"}, hr)
    assert type(e.value) is CaseRefused, "what was sent: a 422"
