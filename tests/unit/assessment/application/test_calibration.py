"""Calibration sessions (docs/domain.md §4): opened on a closed campaign for its population or
part of it, each subject in one session only; adjustments with a justification, on the
scale; completing publishes the calibrated scores with each subject's position."""

from __future__ import annotations

import pytest

from services.assessment.application import calibration, closing
from services.assessment.application.calibration import InvalidSession, SessionNotFound
from services.assessment.application.campaigns import Campaigns
from services.assessment.domain.calibration import AdjustmentRefused, CalibratedScore
from services.assessment.domain.calibration_sessions import CalibrationError, StaleAdjustment
from tests.support.assessment_ports import (
    CAMPAIGN,
    HR,
    NOW,
    MemoryAssessment,
    open_spring,
    rate,
)

SESSION = "spring-calibration"


@pytest.fixture
async def rated(campaigns: Campaigns) -> Campaigns:
    """Campaign spring closed: ann rated by herself (3) and her manager (4); cat by herself (2)."""
    await open_spring(campaigns)
    await rate(campaigns, "ann", "ann", 3, final=True)
    await rate(campaigns, "ann", "mgr", 4, final=True)
    await rate(campaigns, "cat", "cat", 2, final=True)
    await closing.close(campaigns, CAMPAIGN, HR)
    return campaigns


async def scores(campaigns: Campaigns, *subjects: str) -> list[CalibratedScore]:
    """The session's scores of these subjects, as its review shows them."""
    found = await calibration.session(campaigns, SESSION)
    reviewed = await calibration.subject_scores(campaigns, found, subjects)
    assert [r.subject for r in reviewed] == list(subjects)
    return [score for r in reviewed for score in r.scores]


async def competency_of(campaigns: Campaigns, subject: str) -> str:
    return (await scores(campaigns, subject))[0].competency


async def test_a_session_opens_on_a_closed_campaign_only(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    await open_spring(campaigns)
    with pytest.raises(CalibrationError, match="still open"):
        await calibration.open_session(campaigns, SESSION, CAMPAIGN, None, HR)
    assert uow.work.records.calibrated == {}


async def test_the_review_shows_the_aggregated_scores_and_the_signals(rated: Campaigns) -> None:
    opened = await calibration.open_session(rated, SESSION, CAMPAIGN, None, HR)
    assert (opened.campaign_id, opened.completed, opened.subjects) == (CAMPAIGN, False, 2)
    assert opened == await calibration.review(rated, SESSION)
    # Self counts for nothing by default: ann's overall is her manager's rating.
    assert {s.calibrated for s in await scores(rated, "ann")} == {4.0}
    assert {s.calibrated for s in await scores(rated, "cat")} == {None}
    assert {s.subject for s in await scores(rated, "ann", "cat")} == {"ann", "cat"}


async def test_each_subject_is_calibrated_in_one_session_only(
    rated: Campaigns, uow: MemoryAssessment
) -> None:
    await calibration.open_session(rated, "platform", CAMPAIGN, ["ann"], HR)
    with pytest.raises(InvalidSession, match=r"'ann' \('platform'\)"):
        await calibration.open_session(rated, "everyone", CAMPAIGN, None, HR)
    # Refused whole: cat was not claimed by the refused session, nor was it opened.
    assert uow.work.records.calibrated == {(CAMPAIGN, "ann"): "platform"}
    with pytest.raises(SessionNotFound):
        await calibration.session(rated, "everyone")
    assert (await calibration.open_session(rated, "data", CAMPAIGN, ["cat"], HR)).subjects == 1


async def test_a_session_covers_only_the_campaigns_population(rated: Campaigns) -> None:
    with pytest.raises(InvalidSession, match=r"\['p1'\]"):
        await calibration.open_session(rated, SESSION, CAMPAIGN, ["ann", "p1"], HR)


async def test_an_adjustment_changes_the_score_from_what_the_adjuster_saw(
    rated: Campaigns,
) -> None:
    await calibration.open_session(rated, SESSION, CAMPAIGN, None, HR)
    competency = await competency_of(rated, "ann")
    adjusted = await calibration.adjust(
        rated, SESSION, "ann", competency, 3.5, "peer evidence", HR, NOW, seen_value=4.0
    )
    assert (adjusted.old_value, adjusted.new_value) == (4.0, 3.5)
    after = await scores(rated, "ann")
    assert {s.calibrated for s in after if s.competency == competency} == {3.5}
    with pytest.raises(StaleAdjustment):
        await calibration.adjust(
            rated, SESSION, "ann", competency, 3.0, "again", HR, NOW, seen_value=4.0
        )
    with pytest.raises(AdjustmentRefused):
        await calibration.adjust(rated, SESSION, "ann", competency, 3.0, None, HR, NOW)


async def test_completing_publishes_the_calibrated_scores_with_positions(
    rated: Campaigns,
) -> None:
    await calibration.open_session(rated, SESSION, CAMPAIGN, None, HR)
    competency = await competency_of(rated, "ann")
    await calibration.adjust(rated, SESSION, "ann", competency, 2.0, "calibrated", HR, NOW)
    completed = await calibration.complete(rated, SESSION, HR)
    scores = {s.subject: s for s in completed.scores}
    assert scores["ann"].scores[competency] == 2.0
    assert scores["ann"].position == ("eng", "ic", "L3")
    assert [a.subject for a in completed.adjustments] == ["ann"]
    assert (await calibration.review(rated, SESSION)).completed
    with pytest.raises(CalibrationError, match="completed"):
        await calibration.complete(rated, SESSION, HR)


async def test_an_unknown_session_is_not_found(rated: Campaigns) -> None:
    with pytest.raises(SessionNotFound):
        await calibration.review(rated, "nope")
