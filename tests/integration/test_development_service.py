"""The development service on PostgreSQL (docs/domain.md §5): gaps and 70/20/10 plans from a
calibration, mentors and courses, coverage, re-assessment, and who may see what.

Events arrive through the service's own handlers, as its consumers deliver them, each in a
transaction of its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.lms import CourseCatalogUpdated, CourseCompleted
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development, session_stream
from tests.support.calibrations import ANN, BEN, CAT, EXPERT, FIRST, calibration
from tests.support.courses import course
from tests.support.development_api import MANAGER, OTHER_MANAGER, development_api
from tests.support.envelopes import envelope
from tests.support.replica_seeding import hire, hired
from tests.support.service_api import ServiceApi, command_line, serving


@dataclass
class Stack:
    api: ServiceApi
    database: Database
    development: Development

    async def deliver(self, event: IntegrationEvent, stream: str) -> None:
        handler = {
            CalibrationCompleted: self.development.on_calibration,
            CourseCatalogUpdated: self.development.on_catalog,
            CourseCompleted: self.development.on_completion,
        }[type(event)]
        async with self.api.store.transaction() as conn:
            await handler(self.database.bind(conn), envelope(event, stream), event)  # type: ignore[operator]

    async def get(self, path: str, status: int = 200, who: str | None = None) -> Any:
        headers = self.api.hr if who is None else self.api.as_(who, "employee")
        return await self.api.ok("GET", path, status, headers=headers)


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    async with development_api(database_url, tmp_path) as (api, database):
        yield Stack(api, database, Development(database))


async def test_a_calibration_becomes_gaps_plans_and_enrolments_once(stack: Stack) -> None:
    """docs/domain.md §5: gap = target - calibrated score; plans 70/20/10 with an internal expert
    who is not the manager and a course matched to competency and level; a duplicated
    CalibrationCompleted produces no second plan."""
    await stack.deliver(CourseCatalogUpdated(courses=[course("testing-101", "testing")]), "lms")
    await stack.deliver(calibration("s1", FIRST), "calibration-s1")

    events = await stack.api.store.read_stream(session_stream("s1"))
    kinds = [e.event_type for e in events]
    assert kinds.count("GapsIdentified") == 4
    assert kinds.count("DevelopmentPlanGenerated") == 3, "the expert has no open gap: no plan"
    enrolments = [e.payload for e in events if e.event_type == "EnrolmentRequested"]
    assert {(e["employee_id"], e["course_id"]) for e in enrolments} == {
        (ANN, "testing-101"),
        (BEN, "testing-101"),
        (CAT, "testing-101"),
    }
    assert {e.actor for e in events} == {"service:development"}

    gaps = await stack.get(f"/gaps/{ANN}", who=ANN)
    assert gaps["role"] == "eng-l3"
    assert {g["competency"]: g["gap"] for g in gaps["gaps"]} == {
        "coding": 0,
        "testing": 2,
        "collaboration": 0,
        "ownership": None,  # not observed: no gap claimed
        "communication": 1,  # core rule: deployed to every role
    }
    plan = await stack.get(f"/plans/{ANN}", who=MANAGER)
    actions = plan["actions"]
    assert [a["kind"] for a in actions].count("on_the_job") == 7
    mentoring = [a for a in actions if a["kind"] == "mentoring"]
    assert len(mentoring) == 2
    assert {a["mentor"] for a in mentoring} <= {EXPERT, None}
    assert EXPERT in {a["mentor"] for a in mentoring}, "the only expert, not the manager"
    [course_action] = [a for a in actions if a["kind"] == "course"]
    assert (course_action["competency"], course_action["course_id"]) == ("testing", "testing-101")
    assert {a["competency"] for a in actions} <= {"testing", "communication"}

    await stack.deliver(calibration("s1", FIRST), "calibration-s1")  # a new event id
    again = await stack.api.store.read_stream(session_stream("s1"))
    assert len(again) == len(events), "the same session is planned once"
    assert (await stack.get(f"/plans/{ANN}"))["actions"] == actions


async def test_views_follow_the_reporting_line_and_coverage_names_missing_programmes(
    stack: Stack,
) -> None:
    """An employee sees their own gaps and plan, a manager their reports', HR everything."""
    await stack.deliver(CourseCatalogUpdated(courses=[course("testing-101", "testing")]), "lms")
    await stack.deliver(calibration("s1", FIRST), "calibration-s1")
    await stack.get(f"/gaps/{ANN}", 403, who=BEN)
    await stack.get(f"/plans/{ANN}", 403, who=OTHER_MANAGER)
    await stack.get(f"/plans/{EXPERT}", 404)  # no open gap: no plan
    team = await stack.get(f"/teams/{MANAGER}/gaps", who=MANAGER)
    assert team["people"] == 3
    testing = next(c for c in team["competencies"] if c["competency"] == "testing")
    assert (testing["open_gaps"], testing["mean_gap"]) == (3, 2)
    await stack.get(f"/teams/{MANAGER}/gaps", 403, who=ANN)
    await stack.get("/departments/Platform/gaps", 403, who=MANAGER)
    assert (await stack.get("/departments/Platform/gaps"))["people"] == 3

    against = await stack.get(f"/gaps/{ANN}/against?family=eng&track=ic&level=L4", who=ANN)
    assert against["role"] == "eng-l4"
    coding = next(g for g in against["gaps"] if g["competency"] == "coding")
    assert coding["target_anchor"] == "Coding as an individual contributor shows it at step 4."
    expert = await stack.get(f"/gaps/{EXPERT}", who=EXPERT)
    assert [(s["competency"], s["above_by"]) for s in expert["strengths"]] == [
        ("collaboration", 2),
        ("communication", 2),
        ("testing", 1.5),
        ("coding", 1),
        ("ownership", 1),
    ]
    assert {g["competency"]: g["gap"] for g in against["gaps"]}["coding"] == 1

    report = await stack.get("/coverage")
    rows = {row["competency"]: row for row in report["rows"]}
    assert rows["testing"]["needs_new_programme"] is False
    assert rows["testing"]["courses"] == ["testing-101"]
    assert rows["communication"]["needs_new_programme"] is True, "no course builds it"
    await stack.get("/coverage", 403, who=MANAGER)


async def test_the_gap_heatmap_csv_summarises_the_departments_gap_rows_formula_safe(
    stack: Stack,
) -> None:
    """The CSV for a department holds one row per competency, tallied from the latest
    calibration's gap rows of the people active there; a department named like a formula
    reaches the spreadsheet as text."""
    formula = '=HYPERLINK("http://evil.example","x")'
    places = ("department", "Platform", "Insights")  # the header's, and the seeded ones
    await hire(stack.api.store, hired("emp-dee", MANAGER, "ic", "L3", department=formula))
    scores = {**FIRST, "emp-dee": {"coding": 1, "testing": 3}}
    await stack.deliver(calibration("s1", scores), "calibration-s1")

    await stack.get("/reports/gaps?department=Platform&format=csv", 403, who=MANAGER)
    response = await stack.api.response("GET", "/reports/gaps?department=Platform&format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))

    # The gap rows it summarises, read straight from the tables.
    async with stack.api.store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT g.competency, g.target, g.current FROM development.gaps g "
            "JOIN development.people p USING (employee_id) "
            "WHERE g.session_id = 's1' AND p.department = 'Platform'"
        )
        gap_rows = await cur.fetchall()
    expected: dict[str, list[str]] = {}
    for competency in sorted({c for c, _, _ in gap_rows}):
        found = [(t, c) for k, t, c in gap_rows if k == competency]
        observed = [t - c for t, c in found if c is not None]
        below = sum(1 for gap in observed if gap > 0)
        expected[competency] = [
            "s1",
            "Platform",
            competency,
            str(len(found)),
            str(len(observed)),
            str(round(sum(observed) / len(observed), 3)),
            str(below),
            str(round(below / len(observed), 3)),
        ]
    assert [list(row.values()) for row in rows] == list(expected.values())
    # By hand: Ann, Ben, Cat scored testing 1 against 3, and coding 3, 3, 2 against 3.
    assert expected["testing"][3:] == ["3", "3", "2.0", "3", "1.0"]
    assert expected["coding"][3:] == ["3", "3", "0.333", "1", "0.333"]

    table = await stack.api.response("GET", "/reports/gaps?format=csv")
    dee = [row for row in csv.reader(io.StringIO(table.text)) if row[1] not in places]
    assert len(dee) == 5, "Dee's five competencies at L3"
    assert {row[1] for row in dee} == {"'" + formula}, "an apostrophe makes it text"
    as_json = await stack.api.ok("GET", "/reports/gaps", params={"department": formula})
    assert {c["department"] for c in as_json["cells"]} == {formula}
    await stack.get("/reports/gaps?department=Nowhere", 404)
    await stack.get("/reports/gaps?format=xlsx", 422)


async def test_plan_and_goal_reports_count_by_department(stack: Stack) -> None:
    await stack.deliver(CourseCatalogUpdated(courses=[course("testing-101", "testing")]), "lms")
    await stack.deliver(calibration("s1", FIRST), "calibration-s1")
    # A day on: on or after the plan's day in any time zone the database may read it in.
    after = date.today() + timedelta(days=1)
    done = CourseCompleted(employee_id=ANN, course_id="testing-101", completed_on=after)
    await stack.deliver(done, "lms-completions")
    plans = await stack.get("/reports/plans")
    courses = next(r for r in plans["rows"] if r["kind"] == "course")
    assert (courses["department"], courses["people"], courses["actions"]) == ("Platform", 3, 3)
    assert (courses["completed"], courses["share_completed"]) == (1, pytest.approx(1 / 3))
    assert {r["completed"] for r in plans["rows"] if r["kind"] != "course"} == {0}, "none marked"

    goal = {
        "title": "Own the test strategy",
        "due": date(2100, 1, 1).isoformat(),
        "framework_id": "eng",
        "framework_version": 1,
        "targets": [{"key": "testing", "level": 3}],
    }
    await stack.api.ok("POST", "/goals", 201, json=goal | {"employee_id": ANN})  # HR sets it
    ben = stack.api.as_(BEN, "employee")
    await stack.api.ok("POST", "/goals", 201, json=goal | {"employee_id": BEN}, headers=ben)
    response = await stack.api.response("GET", "/reports/goals?format=csv")
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["department", "proposed", "open", "rejected", "met", "missed", "dropped", "total"],
        ["Platform", "1", "1", "0", "0", "0", "0", "2"],
    ]
    await stack.get("/reports/goals?department=Insights", 404)
    await stack.get("/reports/plans", 403, who=MANAGER)


async def test_the_cli_asks_the_service_for_a_report_with_a_token(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`talentledger report gaps` against the service on a real socket: the CSV as the
    service wrote it, in the file asked for, and a refusal said with exit code 1."""
    await stack.deliver(calibration("s1", FIRST), "calibration-s1")
    async with serving(stack.api.app) as url:
        expected = await stack.api.response("GET", "/reports/gaps?department=Platform&format=csv")
        cli_args = ["report", "gaps", "--department", "Platform", "--url", url, "--as", "hr"]
        written = tmp_path / "gaps.csv"
        ran = await command_line(monkeypatch, stack.api.hr, *cli_args, "-o", written)
        assert ran.exit_code == 0, ran.output
        assert written.read_bytes() == expected.content
        employee = stack.api.as_(ANN, "employee")
        refused = await command_line(
            monkeypatch, employee, *cli_args[:2], "--url", url, "--as", ANN
        )
        assert refused.exit_code == 1
        assert "GET /reports/gaps" in refused.output


async def test_the_next_cycle_flags_the_course_whose_completers_did_not_move(
    stack: Stack,
) -> None:
    """docs/domain.md §5, Re-assessment: score movement between cycles, not completion."""
    catalog = [course("testing-101", "testing"), course("comms-201", "communication")]
    await stack.deliver(CourseCatalogUpdated(courses=catalog), "lms")
    await stack.deliver(calibration("s1", FIRST), "calibration-s1")
    today = date(2026, 6, 1)
    await stack.deliver(
        CourseCompleted(employee_id=ANN, course_id="testing-101", completed_on=today), "lms-ann"
    )
    await stack.deliver(
        CourseCompleted(employee_id=BEN, course_id="comms-201", completed_on=today), "lms-ben"
    )
    second = {e: dict(s) for e, s in FIRST.items()}
    second[ANN]["testing"] = 3  # moved two points after the course
    await stack.deliver(calibration("s2", second), "calibration-s2")

    listed = await stack.api.items("/courses/effectiveness")
    effects = {(e["course_id"], e["competency"]): e for e in listed}
    assert effects[("testing-101", "testing")]["working"] is True
    assert effects[("comms-201", "communication")]["working"] is False
    assert effects[("comms-201", "communication")]["completers"] == 1
    gaps = await stack.get(f"/gaps/{ANN}")
    assert gaps["session_id"] == "s2"
    assert {g["competency"]: g["gap"] for g in gaps["gaps"]}["testing"] == 0


async def test_managers_edit_plans_by_events_under_the_same_rules(stack: Stack) -> None:
    """docs/domain.md §5 via the plan rules: an edit is an event, not an overwrite; a mentor is
    an expert and not the manager; a course builds the competency; only the manager edits."""
    await stack.deliver(CourseCatalogUpdated(courses=[course("testing-101", "testing")]), "lms")
    await stack.deliver(calibration("s1", FIRST), "calibration-s1")
    as_manager = stack.api.as_(MANAGER, "manager")
    path = f"/plans/{ANN}/actions"
    pairing = {"kind": "mentoring", "competency": "testing", "description": "Pair on test design"}
    refused = await stack.api.ok(
        "POST", path, 422, json=pairing | {"mentor": MANAGER}, headers=as_manager
    )
    assert "their own manager" in refused["detail"]
    refused = await stack.api.ok(
        "POST", path, 422, json=pairing | {"mentor": BEN}, headers=as_manager
    )
    assert "needs 4.0 or more" in refused["detail"]
    wrong_course = {
        "kind": "course",
        "competency": "communication",
        "description": "Course",
        "course_id": "testing-101",
    }
    refused = await stack.api.ok("POST", path, 422, json=wrong_course, headers=as_manager)
    assert "not 'communication'" in refused["detail"]
    await stack.api.ok(
        "POST", path, 403, json=pairing | {"mentor": EXPERT}, headers=stack.api.as_(BEN, "employee")
    )

    before = await stack.get(f"/plans/{ANN}")
    edited = await stack.api.ok(
        "POST", path, 201, json=pairing | {"mentor": EXPERT}, headers=as_manager
    )
    added = edited["actions"][-1]
    assert (added["action_id"], added["mentor"]) == ("a11", EXPERT)
    first = before["actions"][0]["action_id"]
    removal = f"/plans/{ANN}/actions/{first}/removal"
    edited = await stack.api.ok(
        "POST", removal, json={"reason": "Project cancelled"}, headers=as_manager
    )
    assert first not in [a["action_id"] for a in edited["actions"]]
    assert await stack.get(f"/plans/{ANN}", who=ANN) == edited

    history = await stack.api.store.read_stream(f"plan-{before['plan_id']}")
    assert [(e.event_type, e.actor) for e in history] == [
        ("PlanActionAdded", MANAGER),
        ("PlanActionRemoved", MANAGER),
    ]
    generated = await stack.api.store.read_stream(session_stream("s1"))
    assert any(e.payload.get("plan_id") == before["plan_id"] for e in generated), (
        "the generated plan stays on record"
    )
