"""Goals' use cases on in-memory ports (docs/domain.md §5, Goals): who proposes, agrees,
checks in and drops, and two cycles' calibrations closing goals met or missed. The same
flows run on PostgreSQL through HTTP in tests/integration/test_development_goals.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from libs.events.schemas.development import GoalTarget
from services.development.application.development import Development
from services.development.application.goals import (
    ACTOR,
    GoalError,
    GoalNotAllowed,
    GoalNotFound,
    Goals,
    Population,
    goal_stream,
    judge_goals,
)
from services.development.domain.goals import GoalInWrongState, GoalRefused, NewGoal
from tests.support.calibrations import ANN, BEN, CAT, FIRST, calibration
from tests.support.development_memory import (
    DIRECTOR,
    MANAGER,
    OTHER_MANAGER,
    MemoryDevelopmentWork,
    seeded_development,
)
from tests.support.envelopes import envelope

START = datetime(2026, 1, 1, tzinfo=UTC)
World = tuple[Goals, Development, MemoryDevelopmentWork]


@pytest.fixture
def goal_world() -> World:
    """The development service's org chart and framework, with goals on the same ports,
    today being 2026-01-05."""
    development, work = seeded_development()
    return Goals(development.unit_of_work, lambda: START + timedelta(days=4)), development, work


def new_goal(due: date, **targets: int) -> NewGoal:
    return NewGoal(
        title="Grow as a tester",
        due=due,
        framework_id="eng",
        framework_version=1,
        targets=[GoalTarget(key=k, level=v) for k, v in targets.items()],
    )


async def calibrate(
    world: World, session: str, scores: dict[str, dict[str, float | None]], day: int
) -> None:
    _, development, work = world
    event = calibration(session, scores)
    await development.on_calibration(
        work, envelope(event, f"calibration-{session}", at=START + timedelta(days=day)), event
    )


async def test_two_cycles_close_goals_met_or_missed_by_hand(goal_world: World) -> None:
    """Cycle 1 (day 1) scores FIRST; goals set after it, due 2026-06-30, with check-ins;
    cycle 2 (2026-07-20) scores them: Ann testing 3 >= 3 and communication 2 >= 2, met; Ben
    testing 2 >= 2 and ownership 2 >= 2, met; Cat testing 1.5 < 2 and ownership not
    observed, missed. Ann's goal due at the end of the year stays open with the verdict."""
    goals, _, work = goal_world
    await calibrate(goal_world, "s1", FIRST, day=1)
    due = date(2026, 6, 30)
    proposed = await goals.propose_or_set(
        ANN, new_goal(due, testing=3, communication=2), ANN, False
    )
    assert proposed.state == "proposed"
    agreed = await goals.agree(proposed.goal_id, True, "", MANAGER, False)
    assert (agreed.state, agreed.agreed_by) == ("open", MANAGER)
    later = await goals.propose_or_set(ANN, new_goal(date(2026, 12, 31), coding=4), "hr", True)
    population = await goals.set_for_population(
        Population(employee_ids=[BEN, CAT]), new_goal(due, testing=2, ownership=2), "hr"
    )
    ben_goal, cat_goal = (g.goal_id for g in population)
    await goals.check_in(agreed.goal_id, "Wrote the test plan", "PR 42", {"testing": 2.5}, ANN)
    await goals.check_in(cat_goal, "Paired twice", "", {}, MANAGER)

    second = {e: dict(s) for e, s in FIRST.items()}
    second[ANN] |= {"testing": 3, "communication": 2}
    second[BEN] |= {"testing": 2, "ownership": 2}
    second[CAT] |= {"testing": 1.5, "ownership": None}
    await calibrate(goal_world, "s2", second, day=200)

    outcome = {g.goal_id: g for e in (ANN, BEN, CAT) for g in await work.records.goals_of(e)}
    assert outcome[agreed.goal_id].state == "met"
    assert outcome[ben_goal].state == "met"
    assert outcome[cat_goal].state == "missed"
    assert [(r.key, r.score, r.reached) for r in outcome[cat_goal].calibrations[0].results] == [
        ("testing", 1.5, False),
        ("ownership", None, False),
    ]
    still = outcome[later.goal_id]
    assert still.state == "open"
    assert [(c.session_id, [r.reached for r in c.results]) for c in still.calibrations] == [
        ("s2", [False])  # coding 3 < 4
    ]
    stream = work.events.stream(goal_stream(agreed.goal_id))
    assert [e.event_type for e in stream] == [
        "GoalProposed",
        "GoalSet",
        "GoalProgressRecorded",
        "GoalProgressRecorded",
        "GoalClosed",
    ]
    assert [e.actor for e in stream[-2:]] == [ACTOR, ACTOR]

    # The same session again, under another event id: stopped at the session's row; and the
    # goals' own judgement, called again, changes nothing either.
    before = len(work.events.stream(goal_stream(later.goal_id)))
    await calibrate(goal_world, "s2", second, day=201)
    event = calibration("s2", second)
    await judge_goals(work, envelope(event, "again", at=START + timedelta(days=202)), event)
    assert len(work.events.stream(goal_stream(later.goal_id))) == before


async def test_who_may_propose_agree_check_in_drop_and_read(goal_world: World) -> None:
    goals, _, _ = goal_world
    due = date(2026, 6, 30)
    with pytest.raises(GoalNotAllowed):
        await goals.propose_or_set(ANN, new_goal(due, testing=3), MANAGER, False)
    with pytest.raises(GoalNotAllowed):
        await goals.propose_or_set(ANN, new_goal(due, testing=3), BEN, False)
    proposed = await goals.propose_or_set(ANN, new_goal(due, testing=3), ANN, False)
    for stranger in (ANN, BEN, OTHER_MANAGER, DIRECTOR):  # the direct manager agrees
        with pytest.raises(GoalNotAllowed):
            await goals.agree(proposed.goal_id, True, "", stranger, False)
    with pytest.raises(GoalInWrongState):
        await goals.check_in(proposed.goal_id, "note", "", {}, ANN)
    await goals.agree(proposed.goal_id, True, "", MANAGER, False)
    with pytest.raises(GoalInWrongState):
        await goals.agree(proposed.goal_id, True, "", MANAGER, False)
    with pytest.raises(GoalNotAllowed):
        await goals.check_in(proposed.goal_id, "note", "", {}, BEN)
    with pytest.raises(GoalNotAllowed):
        await goals.check_in(proposed.goal_id, "note", "", {}, "hr")  # HR does not check in
    assert (await goals.goal(proposed.goal_id, DIRECTOR, False)).state == "open"
    with pytest.raises(GoalNotAllowed):
        await goals.goal(proposed.goal_id, OTHER_MANAGER, False)
    with pytest.raises(GoalNotAllowed):
        await goals.goals_of(ANN, BEN, False)
    with pytest.raises(GoalNotAllowed):
        await goals.drop(proposed.goal_id, "no", OTHER_MANAGER, False)
    dropped = await goals.drop(proposed.goal_id, "team changed", "hr", True)
    assert (dropped.state, dropped.reason) == ("dropped", "team changed")
    with pytest.raises(GoalInWrongState):
        await goals.drop(proposed.goal_id, "again", ANN, False)
    with pytest.raises(GoalNotFound):
        await goals.goal("nope", "hr", True)


async def test_bad_goals_are_refused_and_nothing_is_written(goal_world: World) -> None:
    goals, _, work = goal_world
    due = date(2026, 6, 30)
    with pytest.raises(GoalError, match="juggling"):
        await goals.propose_or_set(ANN, new_goal(due, juggling=3), ANN, False)
    unheld = new_goal(due, testing=3).model_copy(update={"framework_version": 9})
    with pytest.raises(GoalError, match="version 9 has not reached"):
        await goals.set_for_population(Population(department="Platform"), unheld, "hr")
    with pytest.raises(GoalNotFound, match="Nowhere"):
        await goals.set_for_population(
            Population(department="Nowhere"), new_goal(due, testing=3), "hr"
        )
    with pytest.raises(GoalNotFound, match="emp-ghost"):
        await goals.set_for_population(
            Population(employee_ids=[ANN, "emp-ghost"]), new_goal(due, testing=3), "hr"
        )
    with pytest.raises(GoalError, match="no manager"):
        await goals.propose_or_set(DIRECTOR, new_goal(due, testing=3), DIRECTOR, False)
    goal = await goals.propose_or_set(ANN, new_goal(due, testing=3), "hr", True)
    with pytest.raises(GoalRefused, match="targets the goal does not have"):
        await goals.check_in(goal.goal_id, "note", "", {"coding": 1}, ANN)
    assert work.records.goals.keys() == {goal.goal_id}
    assert len(work.events.stream(goal_stream(goal.goal_id))) == 1
