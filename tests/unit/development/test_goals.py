"""Goals' rules (docs/domain.md §5, Goals): targets checked against the framework version,
the states a goal goes through, and a calibration's verdict, computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from libs.events.registry import IntegrationEvent
from libs.events.schemas.development import (
    GoalClosed,
    GoalProgressRecorded,
    GoalSet,
    GoalTarget,
    PlannedAction,
    TargetResult,
)
from libs.events.schemas.framework import SubSkill
from services.development.domain import goals
from services.development.domain.goals import (
    Goal,
    GoalInWrongState,
    GoalProposed,
    GoalRefused,
    GoalRejected,
    NewGoal,
)
from tests.support.sample_frameworks import valid_framework

TODAY = date(2026, 3, 1)
AT = datetime(2026, 3, 1, tzinfo=UTC)


def new_goal(*targets: tuple[str, int], due: date = date(2026, 9, 30)) -> NewGoal:
    return NewGoal(
        title="Own the test strategy",
        due=due,
        framework_id="eng",
        framework_version=1,
        targets=[GoalTarget(key=k, level=v) for k, v in targets],
    )


def fold(events: list[IntegrationEvent], goal: Goal | None = None, actor: str = "x") -> Goal:
    for event in events:
        goal = goals.apply(goal, event, actor, AT)
    assert goal is not None
    return goal


def open_goal(*targets: tuple[str, int], due: date = date(2026, 9, 30)) -> Goal:
    return fold(goals.set_by_hr("g1", "emp-ann", new_goal(*targets, due=due)), actor="hr")


# -- targets against the framework ---------------------------------------------------------------


def test_targets_on_the_frameworks_competencies_and_scale_pass() -> None:
    goals.check_targets(
        new_goal(("testing", 3), ("coding", 5), ("ownership", 0)), valid_framework(), TODAY
    )


def test_unknown_competencies_off_scale_levels_and_repeats_are_refused_by_name() -> None:
    framework = valid_framework().model_copy(update={"scale": "1..5"})
    with pytest.raises(GoalRefused) as refused:
        goals.check_targets(
            new_goal(("testing", 3), ("juggling", 2), ("coding", 0), ("testing", 4)),
            framework,
            TODAY,
        )
    message = str(refused.value)
    assert "['juggling']" in message
    assert "off the scale 1..5: ['coding=0']" in message
    assert "named twice: ['testing']" in message


def test_a_sub_skill_target_needs_sub_skill_granularity_and_a_sub_skill_of_that_competency() -> (
    None
):
    framework = valid_framework()
    skills = [SubSkill(key="test-design", name="Designs tests before code")]
    competencies = [
        c.model_copy(update={"sub_skills": skills}) if c.key == "testing" else c
        for c in framework.competencies
    ]
    with_skills = framework.model_copy(update={"competencies": competencies})
    with pytest.raises(GoalRefused, match="testing/test-design"):
        goals.check_targets(new_goal(("testing/test-design", 3)), with_skills, TODAY)
    by_sub_skill = with_skills.model_copy(update={"granularity": "sub_skill"})
    goals.check_targets(new_goal(("testing/test-design", 3)), by_sub_skill, TODAY)
    with pytest.raises(GoalRefused, match="testing/mocking"):
        goals.check_targets(new_goal(("testing/mocking", 3)), by_sub_skill, TODAY)


def test_a_goal_due_in_the_past_or_on_a_version_not_held_is_refused() -> None:
    with pytest.raises(GoalRefused, match="has passed"):
        goals.check_targets(
            new_goal(("testing", 3), due=date(2026, 2, 28)), valid_framework(), TODAY
        )
    with pytest.raises(GoalRefused, match="has not reached"):
        goals.check_targets(new_goal(("testing", 3)), None, TODAY)


# -- states ----------------------------------------------------------------------------------


def test_a_proposal_waits_for_agreement_and_is_agreed_once() -> None:
    proposed = fold(goals.propose("g1", "emp-ann", new_goal(("testing", 3))), actor="emp-ann")
    assert (proposed.state, proposed.proposed_by, proposed.agreed_by) == (
        "proposed",
        "emp-ann",
        None,
    )
    with pytest.raises(GoalInWrongState):
        goals.check_in(proposed, "started", "", {})
    [set_event] = goals.agree(proposed)
    assert isinstance(set_event, GoalSet)
    assert set_event.how == "agreed"
    agreed = fold([set_event], proposed, actor="emp-lead")
    assert (agreed.state, agreed.agreed_by) == ("open", "emp-lead")
    with pytest.raises(GoalInWrongState, match="only a proposed goal"):
        goals.agree(agreed)


def test_a_rejection_says_why_and_ends_the_proposal() -> None:
    proposed = fold(goals.propose("g1", "emp-ann", new_goal(("testing", 3))))
    with pytest.raises(GoalRefused, match="say why"):
        goals.reject(proposed, "  ")
    rejected = fold(goals.reject(proposed, "too broad"), proposed)
    assert (rejected.state, rejected.reason) == ("rejected", "too broad")
    assert isinstance(goals.reject(proposed, "x")[0], GoalRejected)
    with pytest.raises(GoalInWrongState):
        goals.drop(rejected, "never mind")


def test_check_ins_record_notes_and_estimates_of_the_goals_own_targets() -> None:
    goal = open_goal(("testing", 3))
    with pytest.raises(GoalRefused, match=r"\['coding'\]"):
        goals.check_in(goal, "note", "", {"coding": 2})
    with pytest.raises(GoalRefused, match="note or evidence"):
        goals.check_in(goal, " ", "", {})
    checked = fold(
        goals.check_in(goal, "Wrote the plan", "doc link", {"testing": 2.5}), goal, "emp-ann"
    )
    [entry] = checked.check_ins
    assert (entry.by, entry.note, entry.evidence, entry.estimates) == (
        "emp-ann",
        "Wrote the plan",
        "doc link",
        {"testing": 2.5},
    )


def test_dropping_closes_an_open_goal_with_its_reason() -> None:
    goal = open_goal(("testing", 3))
    [closed] = goals.drop(goal, "team changed")
    assert isinstance(closed, GoalClosed)
    assert closed.outcome == "dropped"
    dropped = fold([closed], goal)
    assert (dropped.state, dropped.reason) == ("dropped", "team changed")


# -- a calibration's verdict ---------------------------------------------------------------------


def test_reached_means_a_calibrated_score_at_or_above_the_target_and_not_observed_is_not() -> None:
    targets = [
        GoalTarget(key=k, level=v) for k, v in (("testing", 3), ("coding", 4), ("ownership", 2))
    ]
    scores = {"testing": 3.0, "coding": 3.5, "ownership": None}
    assert goals.results(targets, scores) == [
        TargetResult(key="testing", level=3, score=3.0, reached=True),
        TargetResult(key="coding", level=4, score=3.5, reached=False),
        TargetResult(key="ownership", level=2, score=None, reached=False),
    ]


def test_a_sub_skill_target_reads_its_own_score_else_its_competencys() -> None:
    [target] = [GoalTarget(key="testing/test-design", level=3)]
    assert goals.results([target], {"testing": 3.2})[0].score == 3.2
    assert goals.results([target], {"testing": 3.2, "testing/test-design": 2.0})[0].reached is False
    # Scored per sub-skill, but nobody observed this one: not reached, whatever the roll-up.
    unobserved = goals.results([target], {"testing": 4.0, "testing/test-design": None})
    assert unobserved == [TargetResult(key=target.key, level=3, score=None, reached=False)]


def test_a_calibration_before_the_due_date_records_progress_and_leaves_the_goal_open() -> None:
    goal = open_goal(("testing", 3), due=date(2026, 9, 30))
    events = goals.judge(goal, "s1", date(2026, 6, 1), {"testing": 3})
    [progress] = events
    assert isinstance(progress, GoalProgressRecorded)
    assert progress.source == "calibration"
    judged = fold(events, goal)
    assert judged.state == "open"
    assert [c.session_id for c in judged.calibrations] == ["s1"]
    assert goals.judge(judged, "s1", date(2026, 6, 1), {"testing": 3}) == [], "once per session"


def test_a_due_goal_closes_met_when_every_target_is_reached_and_missed_otherwise() -> None:
    # Targets testing 3, coding 4; the due date 2026-09-30 has come by the calibration of
    # 2026-10-15. Scores testing 3.0 (>= 3), coding 4.25 (>= 4): met. Coding 3.75 (< 4):
    # missed, whatever testing did.
    goal = open_goal(("testing", 3), ("coding", 4), due=date(2026, 9, 30))
    on = date(2026, 10, 15)
    met = goals.judge(goal, "s2", on, {"testing": 3.0, "coding": 4.25})
    assert [type(e) for e in met] == [GoalProgressRecorded, GoalClosed]
    assert isinstance(met[1], GoalClosed)
    assert (met[1].outcome, met[1].session_id) == ("met", "s2")
    missed = goals.judge(goal, "s2", on, {"testing": 3.5, "coding": 3.75})
    assert isinstance(missed[1], GoalClosed)
    assert missed[1].outcome == "missed"
    unobserved = goals.judge(goal, "s2", on, {"testing": 4, "coding": None})
    assert isinstance(unobserved[1], GoalClosed)
    assert unobserved[1].outcome == "missed"
    on_the_day = goals.judge(goal, "s2", date(2026, 9, 30), {"testing": 3, "coding": 4})
    assert isinstance(on_the_day[1], GoalClosed)
    assert on_the_day[1].outcome == "met"
    closed = fold(met, goal)
    assert (closed.state, closed.closed_session) == ("met", "s2")
    assert goals.judge(closed, "s3", on, {"testing": 5, "coding": 5}) == [], "closed: no more"


def test_a_proposal_is_not_judged() -> None:
    proposed = fold(goals.propose("g1", "emp-ann", new_goal(("testing", 3))))
    assert goals.judge(proposed, "s1", date(2027, 1, 1), {"testing": 5}) == []


def test_erasure_scrubs_every_text_once() -> None:
    goal = open_goal(("testing", 3))
    goal = fold(goals.check_in(goal, "note", "", {}), goal)
    goal = fold(goals.drop(goal, "why"), goal)
    scrubbed, count = goals.scrub(goal, "[erased]")
    assert count == 3, "title, note, reason (the empty evidence is no text)"
    assert (scrubbed.title, scrubbed.check_ins[0].note, scrubbed.reason) == ("[erased]",) * 3
    assert goals.scrub(scrubbed, "[erased]")[1] == 0


def test_a_proposal_is_a_private_event() -> None:
    [event] = goals.propose("g1", "emp-ann", new_goal(("testing", 3)))
    assert isinstance(event, GoalProposed)
    assert event.private


def test_targets_the_plan_does_not_work_towards_are_listed_beside_it() -> None:
    """The plan acts on testing (role target 3) only. Goal targets: testing 3 (covered),
    testing 4 (beyond the role's 3), coding 3 (no action), testing/test-design 2 (its
    competency is covered). A dropped goal lists nothing."""
    actions = [
        PlannedAction(action_id="a1", kind="on_the_job", competency="testing", description="x")
    ]
    goal = open_goal(("testing", 3), ("coding", 3), ("testing/test-design", 2))
    higher = open_goal(("testing", 4)).model_copy(update={"goal_id": "g2"})
    dropped = fold(goals.drop(goal, "moved"), goal).model_copy(update={"goal_id": "g3"})
    beside = goals.beside_plan([goal, higher, dropped], actions, {"testing": 3})
    assert [(f.goal_id, f.key, f.level) for f in beside] == [
        ("g1", "coding", 3),
        ("g2", "testing", 4),
    ]
