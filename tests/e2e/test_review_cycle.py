"""Two review cycles for 50 people on the real stack (issue: full review cycles on Temporal).

Every service runs as its own process on embedded PostgreSQL and NATS; Temporal is the
time-skipping test server, so the 21-day campaigns and the 90-day wait between cycles take
seconds. Simulated people act through the HTTP APIs (talentledger/simulation.py); HRIS and
LMS data arrive through the CLI loaders. The second cycle reports how scores moved, and each
stage of each cycle is a trace of its own across the services (docs/cycles.md, Tracing).
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
from talentledger.cycle_driver import Conduct, CycleDriver
from talentledger.simulation import HR
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
        first = await one_cycle(env, driver, 1)
        assert first["stage"] == "waiting for the next cycle"
        assert first["progress"]["counts"]["plans"] > 0
        assert first["progress"]["counts"]["promotion_cases"] >= 1

        # Development works: everyone's level rises before the next cycle.
        simulation.level = {p: level + 0.6 for p, level in simulation.level.items()}
        await env.sleep(timedelta(days=91))
        await driver.at("campaign open", number=2)
        done = await one_cycle(env, driver, 2)
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
    # Each promotion stage left a checkpoint signed with the stack's pinned key; the
    # decisions taken since are counted, not yet anchored.
    verified = " ".join(stack.cli("audit", "verify").split())
    assert "signed with the pinned key" in verified
    assert "entries after the last checkpoint" in verified
    assert len(list((stack.home / "checkpoints").iterdir())) >= 2
    # Spans leave each service in batches every half second.
    await wait_for(lambda: stage_traces(stack.home / "traces", 2), 15, "every stage's trace")
    return driver


async def one_cycle(env: WorkflowEnvironment, driver: CycleDriver, number: int) -> dict[str, Any]:
    """Rate, let the 21 days pass, calibrate, nominate, acknowledge: what people do."""

    async def let_the_campaign_run_out() -> None:
        await env.sleep(timedelta(days=22))  # reminders at 7 and 14 days, the close at 21

    lived = await driver.one_cycle(
        number, Conduct(responding=0.95, promotions=3), close=let_the_campaign_run_out
    )
    assert lived.calibration.subjects == len(driver.simulation.people)
    assert lived.managers, "managers of people with gaps review them"
    assert sum(lived.decisions.values()) == len(lived.cases)
    return lived.ended


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
