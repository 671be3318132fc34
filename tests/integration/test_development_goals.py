"""Goals in the development service on PostgreSQL, through HTTP (docs/domain.md §5, Goals):
set in one cycle, checked in on, closed met or missed by the next cycle's calibrated scores
(hand-computed), and every refusal a 4xx saying what to fix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from libs.events.schemas.assessment import CalibrationCompleted
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development
from services.development.application.goals import goal_stream
from tests.support.calibrations import ANN, BEN, CAT, FIRST, calibration
from tests.support.development_api import MANAGER, OTHER_MANAGER, development_api
from tests.support.envelopes import envelope
from tests.support.service_api import ServiceApi

TODAY = datetime.now(UTC).date()
DUE = TODAY + timedelta(days=30)


@dataclass
class Stack:
    api: ServiceApi
    database: Database

    async def calibrate(self, event: CalibrationCompleted, at: datetime) -> None:
        """As the consumer delivers it: in a transaction of its own."""
        async with self.api.store.transaction() as conn:
            await Development(self.database).on_calibration(
                self.database.bind(conn), envelope(event, f"cal-{event.session_id}", at=at), event
            )

    def as_(self, who: str) -> dict[str, str]:
        return self.api.as_(who, "manager" if who in (MANAGER, OTHER_MANAGER) else "employee")

    async def post(
        self, path: str, body: Any, status: int, who: str | None = None
    ) -> dict[str, Any]:
        headers = self.api.hr if who is None else self.as_(who)
        return await self.api.ok("POST", path, status, json=body, headers=headers)


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    async with development_api(database_url, tmp_path) as (api, database):
        yield Stack(api, database)


def goal(employee_id: str | None = None, due: date = DUE, **targets: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Grow as a tester",
        "due": due.isoformat(),
        "framework_id": "eng",
        "framework_version": 1,
        "targets": [{"key": k, "level": v} for k, v in targets.items()],
    }
    return body if employee_id is None else body | {"employee_id": employee_id}


async def test_goals_set_in_one_cycle_close_met_or_missed_on_the_next(stack: Stack) -> None:
    """Cycle 1 scores FIRST. Ann proposes testing 3 and communication 2, her manager agrees;
    HR sets testing 2 and ownership 2 for Ben and Cat; both check in. Cycle 2, after the due
    date: Ann testing 3 >= 3, communication 2 >= 2: met. Ben testing 2 >= 2, ownership
    2.5 >= 2: met. Cat testing 1.5 < 2, ownership not observed: missed."""
    now = datetime.now(UTC)
    await stack.calibrate(calibration("s1", FIRST), now)
    proposed = await stack.post("/goals", goal(ANN, testing=3, communication=2), 201, who=ANN)
    assert proposed["state"] == "proposed"
    ann_goal = proposed["goal_id"]
    agreed = await stack.post(f"/goals/{ann_goal}/agreement", {"agreed": True}, 200, who=MANAGER)
    assert (agreed["state"], agreed["agreed_by"]) == ("open", MANAGER)
    population = {"employee_ids": [BEN, CAT]} | goal(testing=2, ownership=2)
    set_goals = (await stack.post("/goals/population", population, 201))["goals"]
    assert [(g["employee_id"], g["state"]) for g in set_goals] == [(BEN, "open"), (CAT, "open")]
    ben_goal, cat_goal = (g["goal_id"] for g in set_goals)
    # Beside the plan: Ben's plan works on testing towards the role's 3 (>= the goal's 2);
    # ownership has no open gap (2 against 2), so no action: its target is listed.
    plan = await stack.api.ok("GET", f"/plans/{BEN}", headers=stack.as_(MANAGER))
    assert "testing" in {a["competency"] for a in plan["actions"]}
    assert plan["goal_targets"] == [
        {"goal_id": ben_goal, "key": "ownership", "level": 2, "due": DUE.isoformat()}
    ]
    assert (await stack.api.ok("GET", f"/plans/{ANN}"))["goal_targets"] == [], "covered"
    check_in = {"note": "Wrote the test plan", "evidence": "PR 42", "estimates": {"testing": 2.5}}
    checked = await stack.post(f"/goals/{ann_goal}/check-ins", check_in, 201, who=ANN)
    assert checked["check_ins"][0]["by"] == ANN
    await stack.post(f"/goals/{cat_goal}/check-ins", {"note": "Paired"}, 201, who=MANAGER)

    second = {e: dict(s) for e, s in FIRST.items()}
    second[ANN] |= {"testing": 3, "communication": 2}
    second[BEN] |= {"testing": 2, "ownership": 2.5}
    second[CAT] |= {"testing": 1.5, "ownership": None}
    after_due = datetime.combine(DUE + timedelta(days=1), datetime.min.time(), UTC)
    await stack.calibrate(calibration("s2", second), after_due)

    states = {
        g["goal_id"]: g
        for e in (ANN, BEN, CAT)
        for g in await stack.api.items(f"/people/{e}/goals")
    }
    assert {k: g["state"] for k, g in states.items()} == {
        ann_goal: "met",
        ben_goal: "met",
        cat_goal: "missed",
    }
    [verdict] = states[cat_goal]["calibrations"]
    assert verdict["session_id"] == "s2"
    assert [(r["key"], r["score"], r["reached"]) for r in verdict["results"]] == [
        ("testing", 1.5, False),
        ("ownership", None, False),
    ]
    assert states[ann_goal]["closed_session"] == "s2"
    history = await stack.api.store.read_stream(goal_stream(ann_goal))
    assert [(e.event_type, e.actor) for e in history] == [
        ("GoalProposed", ANN),
        ("GoalSet", MANAGER),
        ("GoalProgressRecorded", ANN),
        ("GoalProgressRecorded", "service:development"),
        ("GoalClosed", "service:development"),
    ]
    closed = history[-1].payload
    assert (closed["outcome"], closed["session_id"]) == ("met", "s2")

    # The same calibration again under another event id: nothing more on any goal.
    await stack.calibrate(calibration("s2", second), after_due)
    assert len(await stack.api.store.read_stream(goal_stream(ann_goal))) == len(history)
    await stack.post(f"/goals/{cat_goal}/drop", {"reason": "late"}, 409, who=CAT)


async def test_each_route_refuses_whom_it_does_not_serve(stack: Stack) -> None:
    proposed = await stack.post("/goals", goal(ANN, testing=3), 201, who=ANN)
    steps = f"/goals/{proposed['goal_id']}"
    await stack.post("/goals", goal(ANN, testing=3), 403, who=BEN)
    await stack.post("/goals", goal(ANN, testing=3), 403, who=MANAGER)  # the employee proposes
    await stack.post("/goals/population", {"department": "Platform"} | goal(testing=3), 403, ANN)
    await stack.post(f"{steps}/agreement", {"agreed": True}, 403, who=ANN)
    await stack.post(f"{steps}/agreement", {"agreed": True}, 403, who=OTHER_MANAGER)
    await stack.post(f"{steps}/check-ins", {"note": "early"}, 409, who=ANN)
    refused = await stack.post(f"{steps}/agreement", {"agreed": False, "reason": ""}, 422, MANAGER)
    assert "say why" in refused["detail"]
    rejected = await stack.post(
        f"{steps}/agreement", {"agreed": False, "reason": "too broad"}, 200, who=MANAGER
    )
    assert (rejected["state"], rejected["reason"]) == ("rejected", "too broad")
    await stack.post(f"{steps}/agreement", {"agreed": True}, 409, who=MANAGER)

    set_goal = await stack.post("/goals", goal(BEN, coding=4), 201)
    steps = f"/goals/{set_goal['goal_id']}"
    await stack.post(f"{steps}/check-ins", {"note": "mine?"}, 403, who=ANN)
    await stack.post(f"{steps}/check-ins", {"note": "yours"}, 403, who=OTHER_MANAGER)
    await stack.post(f"{steps}/drop", {"reason": "no"}, 403, who=OTHER_MANAGER)
    await stack.api.ok("GET", steps, 403, headers=stack.as_(ANN))
    await stack.api.ok("GET", steps, 403, headers=stack.as_(OTHER_MANAGER))
    await stack.api.ok("GET", f"/people/{BEN}/goals", 403, headers=stack.as_(CAT))
    assert (await stack.api.ok("GET", steps, headers=stack.as_(MANAGER)))["state"] == "open"
    dropped = await stack.post(f"{steps}/drop", {"reason": "moved team"}, 200, who=BEN)
    assert (dropped["state"], dropped["reason"]) == ("dropped", "moved team")
    await stack.api.ok("GET", "/goals/no-such-goal", 404)
    await stack.post("/goals/no-such-goal/drop", {"reason": "x"}, 404)


async def test_bad_goals_get_a_4xx_naming_what_to_fix(stack: Stack) -> None:
    unknown = await stack.post("/goals", goal(ANN, juggling=3, testing=2), 422, who=ANN)
    assert "['juggling']" in unknown["detail"]
    sub_skill = await stack.post("/goals", goal(ANN, **{"testing/design": 3}), 422, who=ANN)
    assert "testing/design" in sub_skill["detail"]
    past = await stack.post("/goals", goal(ANN, TODAY - timedelta(days=1), testing=3), 422, ANN)
    assert "has passed" in past["detail"]
    unheld = goal(ANN, testing=3) | {"framework_version": 7}
    assert "version 7" in (await stack.post("/goals", unheld, 422, who=ANN))["detail"]
    await stack.post("/goals", goal(ANN, testing=9), 422, who=ANN)  # beyond any scale
    await stack.post("/goals", goal(ANN), 422, who=ANN)  # no target
    await stack.post("/goals", goal(ANN, testing=3) | {"title": "x" * 10_000}, 422, who=ANN)
    await stack.post("/goals", goal(ANN, testing=3) | {"title": "a\x00b"}, 422, who=ANN)
    await stack.post("/goals", goal(ANN, testing=3) | {"due": "someday"}, 422, who=ANN)
    await stack.post("/goals", goal(ANN, testing=3) | {"extra": 1}, 422, who=ANN)
    await stack.post("/goals", goal("emp-ghost", testing=3), 404)
    nobody = {"department": "Nowhere"} | goal(testing=3)
    assert "Nowhere" in (await stack.post("/goals/population", nobody, 404))["detail"]
    both = {"department": "Platform", "employee_ids": [ANN]} | goal(testing=3)
    assert "either" in (await stack.post("/goals/population", both, 422))["detail"]
    ghost = {"employee_ids": [ANN, "emp-ghost"]} | goal(testing=3)
    assert "emp-ghost" in (await stack.post("/goals/population", ghost, 404))["detail"]

    set_goal = await stack.post("/goals", goal(ANN, testing=3), 201)
    steps = f"/goals/{set_goal['goal_id']}"
    await stack.post(f"{steps}/check-ins", {"note": "n", "estimates": {"coding": 2}}, 422, ANN)
    await stack.post(f"{steps}/check-ins", {"note": "n\x00"}, 422, who=ANN)
    await stack.post(f"{steps}/check-ins", {"evidence": "e" * 5000}, 422, who=ANN)
    await stack.post(f"{steps}/check-ins", {}, 422, who=ANN)
    await stack.post(f"{steps}/drop", {"reason": ""}, 422, who=ANN)
    await stack.api.ok("GET", f"/goals/{'g' * 5000}", 404)
    assert await stack.api.items(f"/people/{ANN}/goals") == [await stack.api.ok("GET", steps)], (
        "nothing refused was written"
    )
