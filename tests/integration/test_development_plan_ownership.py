"""Plans the employee owns, in the development service on PostgreSQL through HTTP
(docs/domain.md §5, Development plans): the employee proposes, their manager approves or
declines and comments, the employee marks actions started or done with evidence, the LMS's
completion closes a course action once, and progress (done / total of the actions in force)
and HR's plan report are hand-computed; a plan aimed at another family's role follows the
lateral path into it. Events arrive as the service's consumer applies them: claimed in its
inbox, in the transaction of the reaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from libs.events.consumer import Inbox
from libs.events.envelope import Envelope
from libs.events.schemas.lms import CourseCatalogUpdated, CourseCompleted
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development, plan_stream
from services.development.domain import plan_ownership
from tests.support.backbone import eventually
from tests.support.calibrations import ANN, BEN, CAT, EXPERT, FIRST, calibration
from tests.support.courses import course
from tests.support.development_api import MANAGER, OTHER_MANAGER, SCHEMA, development_api
from tests.support.envelopes import envelope
from tests.support.replica_seeding import publish
from tests.support.sample_frameworks import valid_framework, with_data_family, with_lateral_path
from tests.support.service_api import ServiceApi

COMPLETIONS = "development-course-completions"


@dataclass
class Stack:
    api: ServiceApi
    database: Database

    async def deliver(self, delivered: Envelope, event: Any, consumer: str = COMPLETIONS) -> bool:
        """As the consumer applies an event: claimed in the inbox, then the reaction, in one
        transaction; False when the inbox had it already."""
        development = Development(self.database)
        react = {
            CourseCompleted: development.on_completion,
            CourseCatalogUpdated: development.on_catalog,
        }.get(type(event), development.on_calibration)
        async with self.api.store.transaction() as conn:
            if not await Inbox(SCHEMA).claim_all(conn, consumer, [delivered]):
                return False
            await react(self.database.bind(conn), delivered, event)  # type: ignore[operator]
        return True

    def as_(self, who: str) -> dict[str, str]:
        return self.api.as_(who, "manager" if who in (MANAGER, OTHER_MANAGER) else "employee")

    async def post(self, path: str, body: Any, status: int, who: str | None) -> dict[str, Any]:
        headers = self.api.hr if who is None else self.as_(who)
        return await self.api.ok("POST", path, status, json=body, headers=headers)

    async def get(self, path: str, status: int = 200, who: str | None = None) -> Any:
        headers = self.api.hr if who is None else self.as_(who)
        return await self.api.ok("GET", path, status, headers=headers)


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    async with development_api(database_url, tmp_path) as (api, database):
        stack = Stack(api, database)
        catalog = CourseCatalogUpdated(
            courses=[course("testing-101", "testing"), course("testing-201", "testing")]
        )
        await stack.deliver(envelope(catalog, "lms"), catalog, "development-course-catalog")
        first = calibration("s1", FIRST)
        await stack.deliver(envelope(first, "calibration-s1"), first, "development-calibrations")
        yield stack


def states(plan: dict[str, Any]) -> dict[str, str]:
    return {t["action_id"]: t["state"] for t in plan["statuses"]}


async def test_the_employee_owns_the_plan_and_the_lms_closes_a_course_once(stack: Stack) -> None:
    """Ann's generated plan: a1..a10, a10 the course testing-101 (the best match, first by
    id). She proposes a11 (course testing-201), her manager approves: 0 of 11 done. She
    proposes a12, declined. She marks a1 started, then done with evidence: 1/11. The LMS
    reports testing-201 completed: a11 done, 2/11; delivered again, and again under another
    event id: still 2/11. Team: Ann 2/11, Ben 0/10, Cat 0/10, 2 of 31 in all."""
    actions = f"/plans/{ANN}/actions"
    plan = await stack.get(f"/plans/{ANN}", who=ANN)
    assert [a["action_id"] for a in plan["actions"]] == [f"a{n}" for n in range(1, 11)]
    assert (plan["actions"][-1]["kind"], plan["actions"][-1]["course_id"]) == (
        "course",
        "testing-101",
    )
    assert plan["completion"] == {"done": 0, "total": 10, "share": 0.0}
    assert set(states(plan).values()) == {"approved"}

    course_201 = {
        "kind": "course",
        "competency": "testing",
        "description": "Advanced test design",
        "course_id": "testing-201",
    }
    proposed = await stack.post(actions, course_201, 201, who=ANN)
    assert states(proposed)["a11"] == "proposed"
    assert [a["action_id"] for a in proposed["actions"]][-1] == "a10", "not in force yet"
    assert proposed["completion"]["total"] == 10
    decision = f"{actions}/a11/decision"
    for stranger in (ANN, OTHER_MANAGER, BEN, None):  # None: HR, who does not approve
        await stack.post(decision, {"approved": True}, 403, who=stranger)
    approved = await stack.post(decision, {"approved": True, "comment": "Go for it"}, 200, MANAGER)
    [track] = [t for t in approved["statuses"] if t["action_id"] == "a11"]
    assert (track["state"], track["decided_by"], track["decision_comment"]) == (
        "approved",
        MANAGER,
        "Go for it",
    )
    assert approved["actions"][-1]["course_id"] == "testing-201"
    assert approved["completion"] == {"done": 0, "total": 11, "share": 0.0}
    twice = await stack.post(decision, {"approved": True}, 409, who=MANAGER)
    assert "only a proposed action" in twice["detail"]

    pairing = {"kind": "on_the_job", "competency": "testing", "description": "Pair weekly"}
    # An HR admin's own plan: HR puts nothing in force there; they propose, as any employee,
    # and their manager approves.
    hr_ann = stack.api.as_(ANN, "hr_admin")
    own = await stack.api.ok("POST", actions, 201, json=pairing, headers=hr_ann)
    assert states(own)["a12"] == "proposed"
    silent = await stack.post(f"{actions}/a12/decision", {"approved": False}, 422, MANAGER)
    assert "say why" in silent["detail"]
    declined = await stack.post(
        f"{actions}/a12/decision", {"approved": False, "comment": "Not now"}, 200, MANAGER
    )
    assert states(declined)["a12"] == "declined"
    assert declined["completion"]["total"] == 11, "declined counts nowhere"
    marked = await stack.post(f"{actions}/a12/progress", {"status": "started"}, 409, who=ANN)
    assert "declined" in marked["detail"]

    progress = f"{actions}/a1/progress"
    for stranger in (MANAGER, BEN, OTHER_MANAGER, None):
        await stack.post(progress, {"status": "started"}, 403, who=stranger)
    started = await stack.post(progress, {"status": "started"}, 200, who=ANN)
    assert (states(started)["a1"], started["completion"]["done"]) == ("started", 0)
    no_evidence = await stack.post(progress, {"status": "done"}, 422, who=ANN)
    assert "needs evidence" in no_evidence["detail"]
    await stack.post(progress, {"status": "done", "evidence": "e" * 4001}, 422, who=ANN)
    await stack.post(progress, {"status": "finished", "evidence": "x"}, 422, who=ANN)
    done = await stack.post(progress, {"status": "done", "evidence": "PR 42 merged"}, 200, ANN)
    assert done["completion"] == {"done": 1, "total": 11, "share": 1 / 11}
    await stack.post(progress, {"status": "done", "evidence": "again"}, 409, who=ANN)

    comments = f"{actions}/a1/comments"
    for stranger in (ANN, OTHER_MANAGER, None):
        await stack.post(comments, {"comment": "Nice"}, 403, who=stranger)
    commented = await stack.post(comments, {"comment": "Well done"}, 201, who=MANAGER)
    [a1] = [t for t in commented["statuses"] if t["action_id"] == "a1"]
    assert [(c["by"], c["comment"]) for c in a1["comments"]] == [(MANAGER, "Well done")]
    assert [(s["status"], s["by"], s["evidence"]) for s in a1["steps"]] == [
        ("started", ANN, ""),
        ("done", ANN, "PR 42 merged"),
    ]
    for unknown in ("decision", "progress", "comments"):
        body = {"approved": True, "status": "started", "comment": "x"}
        key = {"decision": "approved", "progress": "status", "comments": "comment"}[unknown]
        who = ANN if unknown == "progress" else MANAGER
        missing = await stack.post(f"{actions}/a99/{unknown}", {key: body[key]}, 404, who=who)
        assert "no action 'a99'" in missing["detail"]

    # Completed before the plan's day: earlier work, not this plan's.
    earlier = CourseCompleted(
        employee_id=ANN, course_id="testing-201", completed_on=date.today() - timedelta(days=30)
    )
    assert await stack.deliver(envelope(earlier, "lms"), earlier)
    assert (await stack.get(f"/plans/{ANN}", who=ANN))["completion"]["done"] == 1
    # A day on: on or after the plan's day in any time zone.
    completed = CourseCompleted(
        employee_id=ANN, course_id="testing-201", completed_on=date.today() + timedelta(days=1)
    )
    delivered = envelope(completed, "lms")
    assert await stack.deliver(delivered, completed)
    assert not await stack.deliver(delivered, completed), "redelivered: stopped at the inbox"
    assert await stack.deliver(envelope(completed, "lms"), completed), "another event id"
    ben_done = CourseCompleted(employee_id=BEN, course_id="testing-201", completed_on=date.today())
    assert await stack.deliver(envelope(ben_done, "lms"), ben_done), "no action names it"

    seen_by_ann = await stack.get(f"/plans/{ANN}", who=ANN)
    assert seen_by_ann == await stack.get(f"/plans/{ANN}", who=MANAGER)
    assert seen_by_ann["completion"] == {"done": 2, "total": 11, "share": 2 / 11}
    [a11] = [t for t in seen_by_ann["statuses"] if t["action_id"] == "a11"]
    assert [(s["status"], s["by"], s["course_id"]) for s in a11["steps"]] == [
        ("done", "service:development", "testing-201")
    ]
    await stack.get(f"/plans/{ANN}", 403, who=OTHER_MANAGER)
    await stack.get(f"/plans/{ANN}", 403, who=BEN)

    team = await stack.get(f"/teams/{MANAGER}/plans")
    assert [(p["employee_id"], p["done"], p["total"]) for p in team["people"]] == [
        (ANN, 2, 11),
        (BEN, 0, 10),
        (CAT, 0, 10),
    ]
    assert (team["done"], team["total"], team["share"]) == (2, 31, 2 / 31)
    assert (await stack.get(f"/teams/{MANAGER}/plans", who=MANAGER)) == team
    await stack.get(f"/teams/{MANAGER}/plans", 403, who=ANN)
    await stack.get(f"/teams/{MANAGER}/plans", 403, who=OTHER_MANAGER)

    # The plan's stream holds every change and who made it; folded again, it gives the
    # tracks the read model holds.
    history = await stack.api.store.read_stream(plan_stream(seen_by_ann["plan_id"]))
    assert [(e.event_type, e.actor) for e in history] == [
        ("PlanActionProposed", ANN),
        ("PlanActionApproved", MANAGER),
        ("EnrolmentRequested", MANAGER),
        ("PlanActionProposed", ANN),
        ("PlanActionDeclined", MANAGER),
        ("PlanActionProgressed", ANN),
        ("PlanActionProgressed", ANN),
        ("PlanActionCommented", MANAGER),
        ("PlanActionCompleted", "service:development"),
    ]
    assert "PR 42 merged" not in json.dumps([e.payload for e in history]), "sealed"
    rebuilt: dict[str, plan_ownership.ActionTrack] = {}
    for stored in history:
        event = await stack.api.store.decode(stored)
        rebuilt = plan_ownership.apply(rebuilt, event, stored.actor, stored.occurred_at)  # type: ignore[arg-type]
    async with stack.database.reading() as work:
        assert rebuilt == await work.records.plan_tracking(seen_by_ann["plan_id"])


async def test_a_plan_aimed_at_the_next_level_from_the_gaps_against_it(stack: Stack) -> None:
    """Ann at L4 (coding 4, testing 3, core 2): testing 3 - 1 = 2, communication 2 - 1 = 1,
    coding 4 - 3 = 1, as `/gaps/against` says. On-the-job round-robin in priority order
    (testing, then communication: behavioural first at equal size, then coding): 3, 2, 2.
    The expert mentors Ben and Cat already (cap 3): one mentee left for Ann, on testing; the
    second mentoring action waits for an expert. The course: testing-101 (first by id)."""
    against = await stack.get(f"/gaps/{ANN}/against?family=eng&track=ic&level=L4", who=ANN)
    assert {g["competency"]: g["gap"] for g in against["gaps"] if (g["gap"] or 0) > 0} == {
        "testing": 2,
        "communication": 1,
        "coding": 1,
    }
    before = await stack.get(f"/plans/{ANN}", who=ANN)
    target = f"/plans/{ANN}/target"
    l4 = {"family": "eng", "track": "ic", "level": "L4"}
    for stranger in (BEN, OTHER_MANAGER):
        await stack.post(target, l4, 403, who=stranger)
    # Aimed, the plan is in force at once: not Ann's to aim, nor HR's when it is their own.
    own = await stack.post(target, l4, 403, who=ANN)
    assert own["detail"] == (
        f"{ANN!r} may not make this change to {ANN!r}'s plan: "
        f"HR (on another person's plan) or their manager {MANAGER!r} only"
    )
    hr_ann = stack.api.as_(ANN, "hr_admin")
    await stack.api.ok("POST", target, 403, json=l4, headers=hr_ann)
    assert (await stack.get(f"/plans/{ANN}", who=ANN)) == before, "unchanged"
    aimed = await stack.post(target, l4, 201, who=MANAGER)
    assert aimed["target_role"] == "eng-l4"
    assert aimed["plan_id"] != before["plan_id"]
    assert aimed["plan_id"].endswith(f":{ANN}")
    on_the_job = [a["competency"] for a in aimed["actions"] if a["kind"] == "on_the_job"]
    assert on_the_job == ["testing", "communication", "coding"] * 2 + ["testing"]
    mentoring = [
        (a["competency"], a["mentor"]) for a in aimed["actions"] if a["kind"] == "mentoring"
    ]
    assert mentoring == [("testing", "emp-expert"), ("communication", None)]
    [course_action] = [a for a in aimed["actions"] if a["kind"] == "course"]
    assert course_action["course_id"] == "testing-101"
    assert aimed["completion"] == {"done": 0, "total": 10, "share": 0.0}
    assert await stack.get(f"/plans/{ANN}", who=MANAGER) == aimed, "her plan from now on"
    history = await stack.api.store.read_stream(plan_stream(aimed["plan_id"]))
    assert [(e.event_type, e.actor) for e in history] == [
        ("TargetPlanGenerated", MANAGER),
        ("EnrolmentRequested", MANAGER),
    ]
    assert history[0].payload["target_role"] == "eng-l4"

    started = await stack.post(
        f"/plans/{ANN}/actions/a1/progress", {"status": "started"}, 200, who=ANN
    )
    assert states(started)["a1"] == "started", "owned as any plan"
    manager_track = await stack.post(
        target, {"family": "eng", "track": "manager", "level": "M1"}, 201, who=MANAGER
    )
    assert manager_track["target_role"] == "eng-m1"
    nowhere = await stack.post(target, {"family": "eng", "track": "ic", "level": "L9"}, 404, None)
    assert "no role at eng/ic/L9" in nowhere["detail"]
    await stack.post(target, {"family": "eng", "track": "sideways", "level": "L4"}, 422, None)
    await stack.post(target, l4 | {"extra": 1}, 422, who=ANN)
    await stack.post(f"/plans/{EXPERT}/target", l4, 422, None)  # no open gap: nothing to plan


async def test_gaps_and_a_plan_against_another_familys_role_follow_the_lateral_path(
    stack: Stack,
) -> None:
    """eng v2 adds the data family and a lateral path eng -> data: the core competencies
    carry over, analysis and statistics are to be acquired (data-d3 targets 3 each, the core
    ones 2). Calibrated on v2, Ann (eng L3) scores analysis 1, statistics 2.5, communication
    1: against data-d3 her gaps are analysis 3 - 1 = 2 and statistics 3 - 2.5 = 0.5 only;
    communication (2 - 1 in the whole profile) carries over. Cat, now data D3, has no path
    back into eng (a path runs one way): refused, for her gaps and her plan alike."""
    lateral = with_lateral_path(with_data_family(valid_framework()))
    await publish(stack.api.store, "eng", 2, lateral)
    ann = {**FIRST[ANN], "analysis": 1, "statistics": 2.5}
    cat = {"analysis": 2, "statistics": 2, "collaboration": 2, "ownership": 2, "communication": 1}
    second = calibration("s2", {ANN: ann, CAT: cat}, version=2)
    at_d3 = [
        s.model_copy(update={"position": ("data", "ic", "D3")}) if s.subject == CAT else s
        for s in second.scores
    ]
    second = second.model_copy(update={"scores": at_d3})
    await stack.deliver(envelope(second, "calibration-s2"), second, "development-calibrations")

    d3 = {"family": "data", "track": "ic", "level": "D3"}
    against = await stack.get(f"/gaps/{ANN}/against?family=data&track=ic&level=D3", who=MANAGER)
    assert (against["role"], against["basis"]) == ("data-d3", "lateral_path")
    assert [(g["competency"], g["target"], g["current"], g["gap"]) for g in against["gaps"]] == [
        ("analysis", 3, 1, 2),
        ("statistics", 3, 2.5, 0.5),
    ]
    assert against["strengths"] == []
    assert against["lateral_path"] == {
        "from_family": "eng",
        "to_family": "data",
        "to_acquire": ["analysis", "statistics"],
        "carried_over": ["collaboration", "ownership", "communication"],
        "without_target": [],
    }
    own = await stack.get(f"/gaps/{ANN}/against?family=eng&track=ic&level=L4", who=ANN)
    assert (own["basis"], own["lateral_path"]) == ("role_profile", None)
    assert "communication" in {g["competency"] for g in own["gaps"]}, "the whole profile"
    # data-d4 is grade 4: not a lateral move from L3 (grade 3), so the whole profile:
    # analysis 4 - 1, statistics 4 - 2.5, communication 2 - 1, the rest as her eng scores.
    up = await stack.get(f"/gaps/{ANN}/against?family=data&track=ic&level=D4", who=ANN)
    assert (up["basis"], up["lateral_path"]) == ("role_profile", None)
    assert "is not a lateral move from 'eng-l3' (ic, grade 3)" in up["not_lateral"]
    assert {g["competency"]: g["gap"] for g in up["gaps"]}["analysis"] == 3
    assert {g["competency"]: g["gap"] for g in up["gaps"]}["communication"] == 1
    assert against["not_lateral"] is None

    aimed = await stack.post(f"/plans/{ANN}/target", d3, 201, who=MANAGER)
    assert aimed["target_role"] == "data-d3"
    assert {a["competency"] for a in aimed["actions"]} == {"analysis", "statistics"}
    on_the_job = [a["competency"] for a in aimed["actions"] if a["kind"] == "on_the_job"]
    assert on_the_job == ["analysis", "statistics"] * 3 + ["analysis"], "largest gap first"

    eng_l3 = "/gaps/{}/against?family=eng&track=ic&level=L3"
    refused = await stack.get(eng_l3.format(CAT), 422, who=CAT)
    assert "no lateral path from family 'data' to 'eng'" in refused["detail"]
    assert "lateral paths to: none" in refused["detail"]
    eng = {"family": "eng", "track": "ic", "level": "L3"}
    refused_plan = await stack.post(f"/plans/{CAT}/target", eng, 422, who=MANAGER)
    assert refused_plan["detail"] == refused["detail"]
    assert (await stack.get(eng_l3.format(ANN), who=ANN))["basis"] == "role_profile"


async def test_the_plan_report_counts_the_actions_employees_marked_done_per_kind(
    stack: Stack,
) -> None:
    """Ann, Ben and Cat each have 7 on-the-job actions, 2 mentoring and the course
    testing-101 in force (10 actions). Ann marks an on-the-job and a mentoring action done,
    and her course too (the LMS's completion of it, after, adds nothing); Ben marks an
    on-the-job action done and another only started; the LMS completes Cat's course. Ann's
    proposal is not in force. By hand: on-the-job 2 of 21, mentoring 1 of 6, course 2 of 3."""
    plans = {e: await stack.get(f"/plans/{e}", who=e) for e in (ANN, BEN, CAT)}

    def first(employee: str, kind: str, nth: int = 0) -> str:
        ids = [a["action_id"] for a in plans[employee]["actions"] if a["kind"] == kind]
        return ids[nth]

    async def mark(employee: str, action_id: str, status: str = "done") -> None:
        progress = {"status": status, "evidence": "shown in the retro"}
        await stack.post(f"/plans/{employee}/actions/{action_id}/progress", progress, 200, employee)

    await mark(ANN, first(ANN, "on_the_job"))
    await mark(ANN, first(ANN, "mentoring"))
    await mark(ANN, first(ANN, "course"))
    await mark(BEN, first(BEN, "on_the_job"))
    await mark(BEN, first(BEN, "on_the_job", 1), "started")
    proposal = {"kind": "on_the_job", "competency": "testing", "description": "Own the CI"}
    await stack.post(f"/plans/{ANN}/actions", proposal, 201, who=ANN)
    # A day on: on or after the plan's day in any time zone the database may read it in.
    after = date.today() + timedelta(days=1)
    for employee in (ANN, CAT):
        completed = CourseCompleted(
            employee_id=employee, course_id="testing-101", completed_on=after
        )
        assert await stack.deliver(envelope(completed, "lms"), completed)

    report = await stack.get("/reports/plans")
    rows = {r["kind"]: r for r in report["rows"]}
    assert {
        kind: (r["department"], r["people"], r["actions"], r["completed"])
        for kind, r in rows.items()
    } == {
        "course": ("Platform", 3, 3, 2),
        "mentoring": ("Platform", 3, 6, 1),
        "on_the_job": ("Platform", 3, 21, 2),
    }
    assert rows["on_the_job"]["share_completed"] == pytest.approx(2 / 21)
    assert rows["mentoring"]["share_completed"] == pytest.approx(1 / 6)
    assert rows["course"]["share_completed"] == pytest.approx(2 / 3)
    team = await stack.get(f"/teams/{MANAGER}/plans")
    assert team["done"] == sum(r["completed"] for r in rows.values()) == 5, "the same count"
    assert (await stack.get("/reports/plans?department=Platform"))["rows"] == report["rows"]


async def test_a_course_completed_before_its_action_came_into_force_is_done_then_and_counted_alike(
    stack: Stack,
) -> None:
    """The LMS reports Ann's testing-201 completed (a day on, after her plan's day) while no
    action names it, and testing-101 completed a year before the plan: neither closes
    anything. She proposes testing-201, her manager approves: a11 is done at once by the
    completion on record (once: the completion again adds nothing), a10 (testing-101) is
    not. By hand: Ann 1 of 11; Ben and Cat 0 of 10; the report's course row 1 of 4
    (a10, a11, Ben's and Cat's testing-101), the other kinds 0; all three agree on 1."""
    ahead = date.today() + timedelta(days=1)
    completions = [
        CourseCompleted(employee_id=ANN, course_id="testing-201", completed_on=ahead),
        CourseCompleted(
            employee_id=ANN,
            course_id="testing-101",
            completed_on=date.today() - timedelta(days=365),
        ),
    ]
    for completed in completions:
        assert await stack.deliver(envelope(completed, "lms"), completed)
    assert (await stack.get(f"/plans/{ANN}", who=ANN))["completion"]["done"] == 0

    course_201 = {
        "kind": "course",
        "competency": "testing",
        "description": "Advanced test design",
        "course_id": "testing-201",
    }
    await stack.post(f"/plans/{ANN}/actions", course_201, 201, who=ANN)
    approved = await stack.post(
        f"/plans/{ANN}/actions/a11/decision", {"approved": True, "comment": "Yes"}, 200, MANAGER
    )
    assert (states(approved)["a10"], states(approved)["a11"]) == ("approved", "done")
    [a11] = [t for t in approved["statuses"] if t["action_id"] == "a11"]
    assert [(s["status"], s["by"], s["course_id"], s["completed_on"]) for s in a11["steps"]] == [
        ("done", "service:development", "testing-201", ahead.isoformat())
    ]
    assert approved["completion"] == {"done": 1, "total": 11, "share": 1 / 11}
    again = completions[0]
    assert await stack.deliver(envelope(again, "lms"), again), "another event id"

    history = await stack.api.store.read_stream(plan_stream(approved["plan_id"]))
    assert [(e.event_type, e.actor) for e in history] == [
        ("PlanActionProposed", ANN),
        ("PlanActionApproved", MANAGER),
        ("EnrolmentRequested", MANAGER),
        ("PlanActionCompleted", "service:development"),
    ]
    plan = await stack.get(f"/plans/{ANN}", who=ANN)
    assert plan["completion"] == approved["completion"]
    team = await stack.get(f"/teams/{MANAGER}/plans")
    assert [(p["employee_id"], p["done"], p["total"]) for p in team["people"]] == [
        (ANN, 1, 11),
        (BEN, 0, 10),
        (CAT, 0, 10),
    ]
    rows = {
        r["kind"]: (r["actions"], r["completed"])
        for r in (await stack.get("/reports/plans"))["rows"]
    }
    assert rows == {"course": (4, 1), "mentoring": (6, 0), "on_the_job": (21, 0)}
    assert sum(done for _, done in rows.values()) == team["done"] == 1, "the same count"


async def test_a_completion_waits_for_a_plan_being_made_for_the_person(stack: Stack) -> None:
    """A plan being made (aimed, or a calibration's) holds the person's planning: a
    completion arriving meanwhile waits, then finds the new plan, rather than closing the
    action of the plan being replaced while the new one misses it."""
    completed = CourseCompleted(employee_id=ANN, course_id="testing-101", completed_on=date.today())
    async with stack.api.store.transaction() as conn:
        await stack.database.bind(conn).records.hold_planning(ANN)
        arriving = asyncio.create_task(stack.deliver(envelope(completed, "lms"), completed))

        async def waiting_on_the_hold() -> bool:
            async with stack.api.store.pool.connection() as other:
                cur = await other.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                )
                row = await cur.fetchone()
            return bool(row and row[0])

        await eventually(waiting_on_the_hold, 30, "the completion waiting on the hold")
        assert not arriving.done()
    assert await arriving
    plan = await stack.get(f"/plans/{ANN}")
    [course_action] = [a for a in plan["actions"] if a["course_id"] == "testing-101"]
    assert states(plan)[course_action["action_id"]] == "done"
