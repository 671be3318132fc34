"""Previewing a criteria draft (docs/domain.md §6) on in-memory ports: HR only, on the newest
calibration session unless another is named, on the people the org chart still holds in the
position they were calibrated in, a bad draft refused, nothing published, and each preview
recorded (who, which draft, which session and attribute) and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.promotion.application import criteria
from services.promotion.application.criteria_preview import preview_criteria
from services.promotion.application.promotion import NotFound, Promotion
from services.promotion.domain.cases import CaseRefused, NotEntitled, WrongState
from services.promotion.domain.criteria import CriteriaSet
from services.promotion.domain.criteria_preview import (
    LEFT,
    MOVED,
    NOT_IN_ORG_CHART,
    CriteriaPreviewed,
    draft_hash,
)
from tests.support.calibrations import calibration
from tests.support.memory import person
from tests.support.promotion_memory import Actor, MemoryPromotion, MemoryWork, calibrate
from tests.support.sample_frameworks import valid_framework

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
STRONG = {"coding": 4, "testing": 4, "collaboration": 3.5, "ownership": 3, "communication": 3}
WEAK = {"coding": 2.5, "testing": 3, "collaboration": 3, "ownership": 3, "communication": 3}
# STRONG averages 3.5 with nothing below 3: it meets the defaults, not a 4.0 average.
STRICTER = {"default": {"minimum_average": 4}}
# Five people, the fewest whose move shows counts; everyone is calibrated at eng IC L3.
FIVE = [f"emp-{n}" for n in range(5)]

hr = Actor("emp-hr", frozenset({"hr_admin"}))


@pytest.fixture
def work() -> MemoryWork:
    work = MemoryWork()
    work.frameworks.publish("eng", 1, valid_framework())
    work.org_chart.hire(*(person(p) for p in [*FIVE, "emp-weak"]))
    return work


@pytest.fixture
def promotion(work: MemoryWork) -> Promotion:
    return Promotion(MemoryPromotion(work), "promotion_committee", clock=lambda: NOW)


async def test_the_newest_session_is_counted_and_nothing_is_published(
    promotion: Promotion,
) -> None:
    await calibrate(promotion, calibration("s1", dict.fromkeys(FIVE, STRONG)), 200)
    newest = {**dict.fromkeys(FIVE, STRONG), "emp-weak": WEAK}
    await calibrate(promotion, calibration("s2", newest), 10)
    found = await preview_criteria(promotion, STRICTER, hr)
    assert found.session_id == "s2"
    assert (found.in_force.people, found.in_force.eligible) == (6, 5)
    assert (found.draft.people, found.draft.eligible) == (6, 0)
    older = await preview_criteria(promotion, STRICTER, hr, session_id="s1")
    assert (older.session_id, older.in_force.eligible, older.draft.eligible) == ("s1", 5, 0)
    assert (await criteria.criteria(promotion)).version == 1, "the draft stays a draft"


async def test_each_preview_is_recorded_with_who_which_draft_session_and_attribute(
    promotion: Promotion, work: MemoryWork
) -> None:
    await calibrate(promotion, calibration("s1", dict.fromkeys(FIVE, STRONG)), 1)
    await preview_criteria(promotion, STRICTER, hr, attribute="sex")
    await preview_criteria(promotion, STRICTER, hr, session_id="s1")
    assert [e.actor for e in work.events.envelopes] == ["emp-hr", "emp-hr"]
    assert len({e.stream_id for e in work.events.envelopes}) == 2, "a stream each"
    stricter = draft_hash(CriteriaSet.model_validate({**STRICTER, "version": 2}))
    recorded = CriteriaPreviewed(
        previewed_by="emp-hr",
        draft_hash=stricter,
        in_force_version=1,
        session_id="s1",
        attribute="sex",
    )
    assert work.events.everything() == [recorded, recorded.model_copy(update={"attribute": None})]
    assert work.log.entries == [], "nothing else is written"
    assert len(work.records.criteria_versions) == 1, "only the defaults, as version 1"


async def test_leavers_people_moved_and_people_unknown_to_the_org_chart_are_left_out(
    promotion: Promotion, work: MemoryWork
) -> None:
    """Seven people calibrated at L3, all STRONG: one has left since, one is at L4 now, one
    never reached the org chart. The four others are judged: fewer than five, no counts."""
    work.org_chart.hire(person("emp-gone", left=True), person("emp-up", level="L4"))
    scores = dict.fromkeys([*FIVE[:4], "emp-gone", "emp-up", "emp-new"], STRONG)
    await calibrate(promotion, calibration("s1", scores), 1)
    found = await preview_criteria(promotion, STRICTER, hr)
    assert found.left_out == {LEFT: 1, MOVED: 1, NOT_IN_ORG_CHART: 1}
    (move,) = found.in_force.targets
    assert (move.people, move.eligible, found.in_force.moves_withheld) == (None, None, 1)
    work.org_chart.hire(person(FIVE[4]))
    await calibrate(promotion, calibration("s2", {**scores, FIVE[4]: STRONG}), 0)
    (move,) = (await preview_criteria(promotion, STRICTER, hr)).in_force.targets
    assert (move.people, move.eligible) == (5, 5)


async def test_only_hr_previews(promotion: Promotion, work: MemoryWork) -> None:
    await calibrate(promotion, calibration("s1", {"emp-a": STRONG}), 1)
    for roles in ({"auditor"}, {"manager"}, {"promotion_committee"}, {"employee"}):
        with pytest.raises(NotEntitled, match="hr_admin"):
            await preview_criteria(promotion, STRICTER, Actor("emp-x", frozenset(roles)))
    assert work.events.envelopes == []


async def test_a_draft_no_version_could_hold_is_refused_saying_why(
    promotion: Promotion, work: MemoryWork
) -> None:
    await calibrate(promotion, calibration("s1", {"emp-a": STRONG}), 1)
    bad = {"scale": "1..5", "default": {"competency_floor": 0.5}}
    with pytest.raises(CaseRefused, match=r"competency_floor 0.5 is outside the scale 1\.\.5") as e:
        await preview_criteria(promotion, bad, hr)
    assert type(e.value) is CaseRefused, "what was sent: a 422"
    assert work.events.envelopes == []


async def test_without_a_calibration_or_with_an_unknown_session_there_is_nothing_to_count(
    promotion: Promotion,
) -> None:
    with pytest.raises(WrongState, match="no calibration"):
        await preview_criteria(promotion, STRICTER, hr)
    await calibrate(promotion, calibration("s1", {"emp-a": STRONG}), 1)
    with pytest.raises(NotFound, match="'s9'"):
        await preview_criteria(promotion, STRICTER, hr, session_id="s9")


async def test_scores_outside_the_drafts_scale_are_a_refusal_that_records_nothing(
    promotion: Promotion, work: MemoryWork
) -> None:
    zero = {**STRONG, "testing": 0}
    await calibrate(promotion, calibration("s1", dict.fromkeys(FIVE, zero)), 1)
    with pytest.raises(CaseRefused, match=r"outside the scale 1\.\.5") as e:
        await preview_criteria(promotion, {"scale": "1..5"}, hr)
    assert type(e.value) is CaseRefused, "what was sent: a 422"
    assert work.events.envelopes == []
