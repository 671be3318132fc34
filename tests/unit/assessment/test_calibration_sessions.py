"""The calibration session (docs/domain.md §4): opened on a closed campaign, adjustments with who,
old and new value and a justification, completion with the final score per subject and
competency, and what it found about the framework's anchors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events.registry import Event
from libs.events.schemas.assessment import (
    AnchorFinding,
    AnchorFindingsRecorded,
    CalibrationCompleted,
    NotRelevantMarks,
)
from services.assessment.domain.aggregation import aggregate
from services.assessment.domain.calibration import AdjustmentRefused
from services.assessment.domain.calibration_sessions import (
    CalibrationError,
    CalibrationSession,
    ScoreAdjusted,
    StaleAdjustment,
)
from services.assessment.domain.ratings import Rating

NOW = datetime(2026, 4, 1, tzinfo=UTC)
RATINGS = [
    Rating(subject="ann", rater="mgr", group="manager", competency="coding", value=3),
    Rating(subject="ann", rater="p1", group="peer", competency="coding", value=1),
    Rating(subject="ann", rater="mgr", group="manager", competency="design", value=2),
    Rating(subject="bob", rater="mgr", group="manager", competency="coding", value=4),
]
RESULTS = aggregate(RATINGS)
POSITIONS = {"ann": ("eng", "ic", "L3"), "bob": ("eng", "ic", "L4")}
FINDING = AnchorFinding(
    kind="inconsistent_use",
    competency="coding",
    family="eng",
    track="ic",
    level="L3",
    items=5,
    flagged=2,
)
MARKS = NotRelevantMarks(
    competency="design", family="eng", track="ic", level="L3", marked=2, answered=6
)


def apply(session: CalibrationSession, events: list[Event]) -> None:
    for event in events:
        session.apply(event, session.stream_version + 1)


def opened() -> CalibrationSession:
    session = CalibrationSession("s1")
    apply(session, session.open("c1", True, "eng", 2, ["bob", "ann"], (1, 5)))
    return session


def test_a_session_opens_once_on_a_closed_campaign_with_someone_in_it() -> None:
    with pytest.raises(CalibrationError, match="still open"):
        CalibrationSession("s1").open("c1", False, "eng", 2, ["ann"], (1, 5))
    with pytest.raises(CalibrationError, match="at least one subject"):
        CalibrationSession("s1").open("c1", True, "eng", 2, [], (1, 5))
    session = opened()
    assert session.opened is not None
    assert session.opened.subjects == ["ann", "bob"]
    assert session.opened.private, "the session's workings stay in the service"
    with pytest.raises(CalibrationError, match="already exists"):
        session.open("c1", True, "eng", 2, ["ann"], (1, 5))


def test_adjustments_chain_old_values_and_refuse_what_the_rules_forbid() -> None:
    session = opened()
    [first] = session.adjust("ann", "coding", 3, "Agreed in session", "hr-1", RESULTS, NOW)
    assert isinstance(first, ScoreAdjusted)
    assert first.adjustment.old_value == pytest.approx(3.0)
    assert first.adjustment.new_value == 3
    apply(session, [first])
    [second] = session.adjust("ann", "coding", 2.5, "Second look", "hr-2", RESULTS, NOW, 3)
    assert second.adjustment.old_value == 3, "the old value is the score as adjusted so far"
    with pytest.raises(StaleAdjustment, match="review the current score"):
        session.adjust("ann", "coding", 4, "Seen stale", "hr-3", RESULTS, NOW, seen_value=3.5)
    with pytest.raises(AdjustmentRefused, match="justification is mandatory"):
        session.adjust("ann", "coding", 4, "  ", "hr-3", RESULTS, NOW)
    with pytest.raises(AdjustmentRefused, match=r"outside the scale 1\.\.5"):
        session.adjust("ann", "coding", 0, "A 1..5 framework", "hr-3", RESULTS, NOW)
    with pytest.raises(AdjustmentRefused, match="no such score"):
        session.adjust("ann", "juggling", 3, "Unknown", "hr-3", RESULTS, NOW)
    with pytest.raises(AdjustmentRefused, match="not in calibration session"):
        session.adjust("cat", "coding", 3, "Not here", "hr-3", RESULTS, NOW)


def test_an_adjustment_needs_only_the_subjects_results() -> None:
    """The service passes one subject's aggregate, not the population's: other subjects'
    adjustments must not make it fail, and the result is the same."""
    session = opened()
    apply(session, session.adjust("bob", "coding", 3.5, "Scope was smaller", "hr-1", RESULTS, NOW))
    anns = [r for r in RESULTS if r.subject == "ann"]
    [alone] = session.adjust("ann", "coding", 3, "Agreed in session", "hr-1", anns, NOW)
    [among_all] = session.adjust("ann", "coding", 3, "Agreed in session", "hr-1", RESULTS, NOW)
    assert alone == among_all
    bobs = [r for r in RESULTS if r.subject == "bob"]
    [again] = session.adjust("bob", "coding", 3, "Second look", "hr-2", bobs, NOW, seen_value=3.5)
    assert again.adjustment.old_value == 3.5, "the subject's own adjustments still count"


def test_completion_carries_final_scores_adjustments_and_the_anchor_findings() -> None:
    session = opened()
    apply(session, session.adjust("bob", "coding", 3.5, "Scope was smaller", "hr-1", RESULTS, NOW))
    [alone] = session.complete(session.rolled_up(RESULTS), POSITIONS)
    assert isinstance(alone, CalibrationCompleted), "no finding: no findings event"
    completed, findings = session.complete(
        session.rolled_up(RESULTS), POSITIONS, [FINDING], [MARKS]
    )
    assert isinstance(completed, CalibrationCompleted)
    assert {s.subject: s.scores for s in completed.scores} == {
        "ann": {"coding": pytest.approx(3.0), "design": pytest.approx(2.0)},
        "bob": {"coding": 3.5},
    }
    assert {s.subject: s.position for s in completed.scores} == POSITIONS
    [adjustment] = completed.adjustments
    assert adjustment.old_value == pytest.approx(4.0)
    assert (adjustment.new_value, adjustment.actor) == (3.5, "hr-1")
    assert adjustment.justification == "Scope was smaller"
    assert isinstance(findings, AnchorFindingsRecorded)
    assert (findings.framework_id, findings.framework_version) == ("eng", 2)
    assert (findings.anchors, findings.not_relevant) == ([FINDING], [MARKS])
    apply(session, [completed, findings])
    with pytest.raises(CalibrationError, match="completed"):
        session.adjust("bob", "coding", 3, "Too late", "hr-1", RESULTS, NOW)
    with pytest.raises(CalibrationError, match="completed"):
        session.complete(session.rolled_up(RESULTS), POSITIONS)
