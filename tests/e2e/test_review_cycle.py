"""Two review cycles for 50 people on the real stack (issue: full review cycles on Temporal).

Every service runs as its own process on embedded PostgreSQL and NATS; Temporal is the
time-skipping test server, so the 21-day campaigns and the 90-day wait between cycles take
seconds. Simulated people act through the HTTP APIs (talentledger/simulation.py); HRIS and
LMS data arrive through the CLI loaders. The second cycle reports how scores moved, and each
stage of each cycle is a trace of its own across the services (docs/cycles.md, Tracing).
Between the cycles employees set goals and work on their plans, and the LMS reports a course
completed; the second cycle's calibration closes the goals met or missed
(docs/development.md).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from libs.platform.pagination import every_item_async
from libs.platform.telemetry import read_spans
from libs.platform.temporal import EncryptionCodec, PayloadKeys
from libs.workflows.contracts import (
    CLOSE_CAMPAIGN,
    EVALUATE_CYCLE,
    GAP_REVIEW,
    KEY_CACHES_EXPIRE,
    OPEN_CAMPAIGN,
)
from libs.workflows.messages import round_of
from services.cycles.workflows.person_erasure import WAITING_FOR_CACHES
from talentledger.cycle_driver import Conduct, CycleDriver, Round
from talentledger.simulation import HR, Journey, Simulation
from tests.support.cycles import assert_each_effect_once, prepare, wait_for
from tests.support.erasure import (
    RemarkingSimulation,
    in_files,
    in_histories,
    in_streams,
    in_tables,
    pattern,
)
from tests.support.stack import RunningStack, running_stack
from tests.support.temporal import time_skipping

PEOPLE = 50
# After the first cycle, the two strongest and two weakest set goals, two others work on their
# plans and one more completes a course in the LMS.
DEVELOPING = 2


async def test_two_cycles_for_50_people_run_every_stage_and_report_movement_then_erase_one(
    tmp_path: Path,
) -> None:
    async with time_skipping(pydantic_data_converter) as env:
        address = env.client.service_client.config.target_host
        with running_stack(TEMPORAL_ADDRESS=address) as stack:
            driver = await run_two_cycles(env, stack, tmp_path)
            # The erasure runs on the same stack: a second one would cost minutes.
            await erase_a_person(env, stack, driver)


async def run_two_cycles(
    env: WorkflowEnvironment, stack: RunningStack, folder: Path
) -> CycleDriver:
    driver = await prepare(stack, folder, PEOPLE, last_number=2, people_type=RemarkingSimulation)
    simulation = driver.simulation
    try:
        lived = await one_cycle(env, driver, 1, developing=DEVELOPING)
        first = lived.ended
        assert first["stage"] == "waiting for the next cycle"
        assert first["progress"]["counts"]["plans"] > 0
        assert first["progress"]["counts"]["promotion_cases"] >= 1
        journey = lived.journey
        assert journey is not None
        await assert_plans_worked_on(stack, simulation, journey)

        # Development works: everyone's level rises before the next cycle.
        simulation.level = {p: level + 0.6 for p, level in simulation.level.items()}
        await env.sleep(timedelta(days=91))
        await driver.at("campaign open", number=2)
        done = (await one_cycle(env, driver, 2)).ended
    finally:
        await driver.close()

    outcome = done["outcome"]
    assert done["status"] == "COMPLETED"
    assert outcome["number"] == 2
    movement = outcome["movement"]
    assert movement["previous_session_id"] == f"{driver.cycle_id}.1.calibration"
    assert movement["people"] == PEOPLE
    assert movement["improved"] > movement["declined"]
    assert movement["mean_change"] > 0
    assert_each_effect_once(stack.state["database_url"], driver.cycle_id, 2)
    await assert_goals_judged(stack, simulation, journey, round_of(driver.cycle_id, 2))
    # Each promotion stage left a checkpoint signed with the stack's pinned key; the
    # decisions taken since are counted, not yet anchored.
    verified = " ".join(stack.cli("audit", "verify").split())
    assert "signed with the pinned key" in verified
    assert "entries after the last checkpoint" in verified
    assert len(list((stack.home / "checkpoints").iterdir())) >= 2
    # Spans leave each service in batches every half second.
    await wait_for(lambda: stage_traces(stack.home / "traces", 2), 15, "every stage's trace")
    return driver


async def one_cycle(
    env: WorkflowEnvironment, driver: CycleDriver, number: int, developing: int = 0
) -> Round:
    """Rate, let the 21 days pass, calibrate, nominate, acknowledge, and develop when told:
    what people do."""

    async def let_the_campaign_run_out() -> None:
        await env.sleep(timedelta(days=22))  # reminders at 7 and 14 days, the close at 21

    lived = await driver.one_cycle(
        number,
        Conduct(responding=0.95, promotions=3, developing=developing),
        close=let_the_campaign_run_out,
    )
    assert lived.calibration.subjects == len(driver.simulation.people)
    assert lived.managers, "managers of people with gaps review them"
    assert sum(lived.decisions.values()) == len(lived.cases)
    return lived


# -- the employees' development between the cycles (docs/development.md) ---------------------

SERVICE = "service:development"


async def assert_plans_worked_on(stack: RunningStack, people: Simulation, journey: Journey) -> None:
    """Each plan worked on reads as the employee left it: the action they proposed approved by
    their manager and started, the generated action they finished done with its evidence, the
    course the LMS reported completed done by the service, and nothing else; progress per plan,
    per team and in all counts exactly those."""
    development = stack.url("development")
    async with httpx.AsyncClient(base_url=development, timeout=30) as http:

        async def read(path: str, who: dict[str, str]) -> Any:
            answer = await http.get(path, headers=who)
            assert answer.status_code == 200, answer.text
            return answer.json()

        workers = [e for e, w in journey.plans.items() if w.approved]
        [completer] = [e for e, w in journey.plans.items() if w.completed]
        assert len(workers) == DEVELOPING
        for employee, work in journey.plans.items():
            plan = await read(f"/plans/{employee}", people.as_(employee))
            assert plan["plan_id"] == work.plan_id
            # One action done on each plan: the generated one the worker finished, or the
            # course the LMS reported; the worker's own approved action adds one in force.
            done, total = 1, work.actions_before + (1 if work.approved else 0)
            assert (done, total) == (work.expected_done, work.expected_total)
            assert len(plan["actions"]) == total
            assert plan["completion"] == {"done": done, "total": total, "share": done / total}
            tracks = {t["action_id"]: t for t in plan["statuses"]}
            steps = {a: [(s["status"], s["by"]) for s in t["steps"]] for a, t in tracks.items()}
            manager = people.people[employee].manager_id
            if work.approved:
                approved = tracks[work.approved]
                assert (approved["state"], approved["proposed_by"], approved["decided_by"]) == (
                    "started",
                    employee,
                    manager,
                )
                assert [a["action_id"] for a in plan["actions"]][-1] == work.approved
                assert steps[work.approved] == [("started", employee)]
                assert work.done is not None
                assert tracks[work.done]["state"] == "done"
                assert steps[work.done] == [("done", employee)]
                assert tracks[work.done]["steps"][0]["evidence"]
                marked = {work.approved, work.done}
            else:
                assert work.completed is not None
                action, course = work.completed
                assert [
                    (s["status"], s["by"], s["course_id"]) for s in tracks[action]["steps"]
                ] == [("done", SERVICE, course)]
                named = [a["action_id"] for a in plan["actions"] if a["course_id"] == course]
                assert named == [action], "the completion names this course action only"
                marked = {action}
            untouched = {
                (t["state"], len(t["steps"])) for a, t in tracks.items() if a not in marked
            }
            assert untouched == {("approved", 0)}, "no other action moved"

        # The LMS closed one action in all: this one.
        with psycopg.connect(stack.state["database_url"]) as conn:
            closed = conn.execute(
                "SELECT payload->>'plan_id', payload->>'action_id' FROM development.events "
                "WHERE event_type = 'PlanActionCompleted'"
            ).fetchall()
        completed = journey.plans[completer]
        assert completed.completed is not None
        assert closed == [(completed.plan_id, completed.completed[0])]

        # Per team: the managers of those who worked see exactly their done actions.
        hr = people.as_(HR, "hr_admin")
        for manager in {people.people[e].manager_id for e in journey.plans}:
            team = await read(f"/teams/{manager}/plans", people.as_(manager, "manager"))
            below = _below(people, manager)
            shown = {p["employee_id"]: (p["done"], p["total"]) for p in team["people"]}
            for employee, work in journey.plans.items():
                if employee in below:
                    assert shown[employee] == (work.expected_done, work.expected_total)
            assert team["done"] == sum(
                w.expected_done for e, w in journey.plans.items() if e in below
            )
            assert team["total"] == sum(total for _, total in shown.values())
        # In all, as HR reads it from the top of the chart.
        [top] = [e for e, p in people.people.items() if not p.manager_id]
        everyone = await read(f"/teams/{top}/plans", hr)
        assert everyone["done"] == sum(w.expected_done for w in journey.plans.values())
        assert everyone["done"] == DEVELOPING + 1, "one done by each worker, one by the LMS"


def _below(people: Simulation, manager: str) -> set[str]:
    """Everyone below the manager in the reporting line."""
    found: set[str] = set()
    for employee in people.people:
        boss = people.people[employee].manager_id
        while boss:
            if boss == manager:
                found.add(employee)
                break
            boss = people.people[boss].manager_id
    return found


async def assert_goals_judged(
    stack: RunningStack, people: Simulation, journey: Journey, campaign: str
) -> None:
    """Every goal set after the first cycle, due then, was closed by the second cycle's
    calibration: met when each target's calibrated score is at least its level, missed
    otherwise. The strongest, well above their role's targets, met theirs; the weakest, well
    below, missed them."""
    session = f"{campaign}.calibration"
    hr = people.as_(HR, "hr_admin")
    async with httpx.AsyncClient(timeout=30) as http:

        async def page(params: dict[str, str]) -> dict[str, Any]:
            url = f"{stack.url('assessment')}/calibrations/{session}/scores"
            answer = await http.get(url, params=params, headers=hr)
            assert answer.status_code == 200, answer.text
            return answer.json()

        scores = {
            (reviewed["subject"], s["competency"]): s["calibrated"]
            for reviewed in await every_item_async(page)
            for s in reviewed["scores"]
        }
        outcomes: dict[str, str] = {}
        unobserved: set[str] = set()
        assert len(journey.goals) == 2 * DEVELOPING
        for goal in journey.goals:
            answer = await http.get(
                f"{stack.url('development')}/goals/{goal.goal_id}",
                headers=people.as_(goal.employee_id),
            )
            assert answer.status_code == 200, answer.text
            judged = answer.json()
            assert judged["agreed_by"] == people.people[goal.employee_id].manager_id
            assert len(judged["check_ins"]) == 1
            read = {k: scores.get((goal.employee_id, k)) for k in goal.levels}
            reached = {
                k: read[k] is not None and read[k] >= level for k, level in goal.levels.items()
            }
            expected = "met" if all(reached.values()) else "missed"
            assert judged["state"] == expected, (goal, read)
            [verdict] = [c for c in judged["calibrations"] if c["session_id"] == session]
            assert {r["key"]: (r["score"], r["reached"]) for r in verdict["results"]} == {
                k: (read[k], reached[k]) for k in goal.levels
            }
            outcomes[goal.employee_id] = expected
            if None in read.values():
                # Every rater of a target's competency answered "not observed" (each answer
                # is, at random, a few times in a hundred): no score, so the goal is missed
                # whatever the level. Rare, but a run of the whole suite meets it.
                unobserved.add(goal.employee_id)
                continue
            # Each rating scatters around role target + true level: a level a point or more
            # either side of the target leaves no doubt which way the goal went.
            level = people.level[goal.employee_id]
            if abs(level) >= 1:
                assert expected == ("met" if level > 0 else "missed"), (goal, level, read)
        ranked = sorted(
            (e for e, p in people.people.items() if p.manager_id),
            key=lambda e: (people.level[e], e),
        )
        assert {outcomes.get(e) for e in ranked[-DEVELOPING:] if e not in unobserved} == {"met"}
        assert {outcomes.get(e) for e in ranked[:DEVELOPING] if e not in unobserved} == {"missed"}
        report = await http.get(f"{stack.url('development')}/reports/goals", headers=hr)
        rows = report.json()["rows"]
    states = {s: sum(r[s] for r in rows) for s in ("open", "met", "missed", "total")}
    assert states == {
        "open": 0,
        "met": list(outcomes.values()).count("met"),
        "missed": list(outcomes.values()).count("missed"),
        "total": 2 * DEVELOPING,
    }


def stage_traces(traces: Path, cycles: int) -> bool:
    """Each stage of each cycle is a trace of its own, rooted at its stage span and linked to
    the trace that started the cycle. The campaign's trace goes from the workflow through the
    assessment service's activities and relay to the cycles service's consumer, which signals
    the workflow that the campaign closed; the gap review and the promotion evaluation run in
    the traces of their stages. False while spans are still missing."""
    spans = read_spans(traces)
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    roots: dict[tuple[str, int], str] = {}
    for span in spans:
        by_trace[span["context"]["trace_id"]].append(span)
        if span["name"].startswith("cycle stage: "):
            assert span["parent_id"] is None, span
            assert len(span["links"]) == 1, span
            stage = span["name"].removeprefix("cycle stage: ")
            roots[stage, span["attributes"]["talentledger.cycle.number"]] = span["context"][
                "trace_id"
            ]

    def names(stage: str, number: int) -> set[tuple[str, str]]:
        trace_id = roots.get((stage, number))
        return {(_service(s), s["name"]) for s in by_trace[trace_id]} if trace_id else set()

    closed = "talentledger.assessment.campaign_closed.v1"
    for number in range(1, cycles + 1):
        expected = {
            "campaign open": {
                ("assessment", f"RunActivity:{OPEN_CAMPAIGN.name}"),
                ("assessment", f"RunActivity:{CLOSE_CAMPAIGN.name}"),
                ("assessment", f"{closed} publish"),
                ("cycles", f"{closed} process"),
                ("cycles", "SignalWorkflow:campaign_closed"),
            },
            "calibration": {("development", f"RunActivity:{GAP_REVIEW.name}")},
            "promotion evaluation": {("promotion", f"RunActivity:{EVALUATE_CYCLE.name}")},
        }
        for stage, wanted in expected.items():
            if not wanted <= names(stage, number):
                return False
    assert len(set(roots.values())) == len(roots), "a trace per stage"
    return True


def _service(span: dict[str, Any]) -> str:
    return str(span["resource"]["attributes"]["service.name"])


# -- a person erased (docs/privacy.md, Requests) ----------------------------------------------

OFFICER = "privacy-officer-1"
ERASE_PERSONAL_DATA_SPAN = "RunActivity:assessment.erase_personal_data"


async def erase_a_person(
    env: WorkflowEnvironment, stack: RunningStack, driver: CycleDriver
) -> None:
    """Someone who rated and was rated with comments, holds a development plan and has a
    decided promotion case is erased: afterwards neither their name nor any comment by or
    about them is anywhere, the decision log verifies and names what was erased, and the
    views read as erased. Another person under a legal hold is refused, and the refusal is
    an entry of the log."""
    async with httpx.AsyncClient(timeout=60) as http:
        await _erase_one_refuse_another(env, stack, driver, http)


async def _erase_one_refuse_another(
    env: WorkflowEnvironment, stack: RunningStack, driver: CycleDriver, http: httpx.AsyncClient
) -> None:
    people = driver.simulation
    assert isinstance(people, RemarkingSimulation)
    database = stack.state["database_url"]
    person = await _decided_with_a_plan(people, driver.cycle_id, database)
    with psycopg.connect(database) as conn:
        held = next(
            employee
            for (employee,) in conn.execute(
                "SELECT employee_id FROM promotion.decision_log WHERE kind = 'decision' "
                "AND employee_id <> %s ORDER BY sequence",
                (person,),
            )
        )
    name = people.people[person].name
    regex = pattern(name, people.remarks_involving(person))
    assert people.remarks_involving(person), "the person rated and was rated"

    # The scans find what they look for before the erasure.
    assert in_tables(database, regex), "the name and comments are held in clear in read models"
    officer = stack.token("privacy_officer", OFFICER)
    cycles = stack.url("cycles")
    export = await http.post(
        f"{cycles}/privacy/requests",
        json={"kind": "access", "employee_id": person},
        headers=officer,
    )
    assert export.status_code == 200, export.text
    exported = export.json()
    assert not exported["missing"], exported["missing"]
    text = json.dumps(exported)
    assert name in text
    given = [people.remark(person, subject) for (r, subject) in people.remarks if r == person]
    assert given
    assert all(remark in text for remark in given), "every comment they gave"
    services = {records["service"]: records for records in exported["services"]}
    assert set(services) >= {"framework", "assessment", "development", "promotion"}
    assert services["development"]["sections"]
    assert services["promotion"]["sections"]
    raters = {r for (r, s) in people.remarks if s == person and r != person}
    received = [
        section
        for section in services["assessment"]["sections"]
        if "received" in section["topic"] or "results" in section["topic"]
    ]
    assert received, services["assessment"]["sections"]
    for section in received:
        assert not raters & set(re.findall(r"C\d{5}", json.dumps(section))), "never a rater"

    # A legal hold refuses the erasure, says why, and the refusal is an entry of the log.
    hold = await http.post(
        f"{stack.url('promotion')}/legal-holds",
        json={"employee_id": held, "reason": "Litigation hold 2026-17 on promotion records."},
        headers=stack.token("legal", "counsel-1"),
    )
    assert hold.status_code == 201, hold.text
    refused = await _erase(env, stack, http, officer, held, "REQ-HELD-1")
    assert refused["outcome"] == "refused", refused
    # The reason names the hold, who placed it and when; its text stays in the decision log.
    assert hold.json()["hold_id"] in refused["reason"]
    assert "counsel-1" in refused["reason"]
    assert "Litigation hold 2026-17" not in refused["reason"]
    with psycopg.connect(database) as conn:
        refusals = conn.execute(
            "SELECT count(*) FROM promotion.decision_log "
            "WHERE kind = 'erasure_refused' AND employee_id = %s",
            (held,),
        ).fetchone()
    assert refusals == (1,)

    done = await _erase(env, stack, http, officer, person, "REQ-ERASE-1")
    assert done["outcome"] == "erased", done
    # Let the relays publish what the erasure appended, then look everywhere.
    await wait_for(lambda: _relayed(database), 60, "every event published")
    assert in_tables(database, regex) == []
    assert await in_streams(stack, regex) == []
    assert await in_streams(stack, re.escape(person)), "the scan reads the streams"
    workflows = [driver.cycle_id, "erasure-REQ-ERASE-1", "erasure-REQ-HELD-1"]
    codec = EncryptionCodec(PayloadKeys.load(stack.home / "keys" / "temporal-payload.keys"))
    assert await in_histories(env.client, workflows, regex, codec) == []
    # The scan opens the payloads: the erased person's id is in the erasure's input.
    assert await in_histories(env.client, workflows[1:2], re.escape(f'"{person}"'), codec)
    files = [stack.home / "traces", stack.home / "logs"]
    assert in_files(files, regex) == []
    assert in_files(files, re.escape(ERASE_PERSONAL_DATA_SPAN)), "the scan reads the span files"

    verified = " ".join(stack.cli("audit", "verify").split())
    assert "REQ-ERASE-1" in verified, verified
    hr = stack.token("hr_admin", HR)
    shown = stack.get("assessment", f"/org-chart/people/{person}", hr).json()
    assert shown["name"] == "[erased]"
    # The held person is untouched.
    assert people.people[held].name in json.dumps(
        stack.get("assessment", f"/org-chart/people/{held}", hr).json()
    )


async def _decided_with_a_plan(people: RemarkingSimulation, cycle_id: str, database: str) -> str:
    """Someone with a development plan whose promotion was decided: the second cycle's
    committee decided on a few people, not necessarily on one with a plan, so one with a plan
    is nominated and decided now, as their manager and the committee would."""
    with psycopg.connect(database) as conn:
        planned = [
            employee
            for (employee,) in conn.execute(
                "SELECT DISTINCT employee_id FROM development.plans ORDER BY 1"
            )
        ]
        decided = {
            employee
            for (employee,) in conn.execute(
                "SELECT employee_id FROM promotion.decision_log WHERE kind = 'decision'"
            )
        }
    if ready := [employee for employee in planned if employee in decided]:
        return ready[0]
    campaign = round_of(cycle_id, 2)
    people.client = httpx.AsyncClient(timeout=60)
    try:
        for employee in planned:
            track = people.people[employee].track
            cases = await people.nominate_promotions(
                campaign, f"{campaign}.calibration", {employee: 5.0}, 1, track=track
            )
            if cases:
                await people.decide(cases)
                return employee
    finally:
        await people.client.aclose()
    raise AssertionError(f"none of {planned} could be nominated")


async def _erase(
    env: WorkflowEnvironment,
    stack: RunningStack,
    http: httpx.AsyncClient,
    officer: dict[str, str],
    person: str,
    ref: str,
) -> dict[str, Any]:
    started = await http.post(
        f"{stack.url('cycles')}/privacy/requests",
        json={"kind": "erasure", "employee_id": person, "request_ref": ref},
        headers=officer,
    )
    assert started.status_code == 202, started.text

    def status() -> dict[str, Any]:
        answer = stack.get("cycles", f"/privacy/requests/{ref}", officer)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def ended_or_waiting() -> dict[str, Any] | None:
        body = status()
        ended = body.get("outcome") or body["status"] not in ("RUNNING", "NOT_STARTED")
        return body if ended or body.get("step") == WAITING_FOR_CACHES else None

    body = await asyncio.to_thread(stack.wait_for, ended_or_waiting, 120, f"erasure {ref}")
    if body.get("step") == WAITING_FOR_CACHES:
        # The workflow waits out every process's key cache on a timer: skip that time.
        await env.sleep(KEY_CACHES_EXPIRE + timedelta(seconds=5))
        body = await asyncio.to_thread(
            stack.wait_for,
            lambda: (b := status()).get("outcome") and b,
            120,
            f"erasure {ref}",
        )
    return body


def _relayed(database: str) -> bool:
    """Every service's relay has published all of its log."""
    with psycopg.connect(database) as conn:
        schemas = [
            row[0]
            for row in conn.execute(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'events'"
            )
        ]
        for schema in schemas:
            query = sql.SQL(
                "SELECT (SELECT coalesce(max(global_position), 0) FROM {}) <= "
                "(SELECT coalesce(max(position), 0) FROM {})"
            ).format(sql.Identifier(schema, "events"), sql.Identifier(schema, "relay_checkpoints"))
            row = conn.execute(query).fetchone()
            if not (row and row[0]):
                return False
    return True
