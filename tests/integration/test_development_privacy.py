"""Requests about a person to the development service (docs/privacy.md, Requests), on
PostgreSQL: a privacy officer reads everything it holds of them, and an erasure leaves
neither their name nor any text of their plans in its schema; plan edits are sealed under
the person's key (Erasure by destroying keys)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection
from temporalio.exceptions import ApplicationError

from libs.events.migrations.roles import OWNER_ROLE, PasswordFile
from libs.personal.sealing import ERASED
from libs.personal.vault import destroy_keys
from libs.privacy.requests import NOT_AUTHORISED
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import OrgChart
from libs.workflows.messages import ErasureOrder
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development, plan_stream
from services.development.application.personal_data import DevelopmentPersonalData
from services.development.service import build, definition
from tests.support.backbone import wait_until
from tests.support.calibrations import ANN, BEN, EXPERT, FIRST, calibration
from tests.support.envelopes import envelope
from tests.support.privacy import GRANT, OFFICER, erasure_of, erasure_requested, holding
from tests.support.replica_seeding import hire, hired, hiring_fact, publish
from tests.support.sample_frameworks import valid_framework
from tests.support.service_api import ServiceApi, in_process

SCHEMA = "development"
MANAGER = "emp-lead"
NAME = f"Person {ANN}"  # as `hired` names her
PAIRING = "Pair with the release captain on the Kestrel-9 rollout"
REASON = "Kestrel-9 was cancelled after Ann's leave request"
LATE = "Shadow the on-call lead through the Kestrel-9 retrospective"
GOAL = "Lead the Kestrel-9 test strategy"
CHECK_IN = "Drafted the Kestrel-9 test charter"
EVIDENCE = "Kestrel-9 charter review notes"
ANN_HIRED = hiring_fact("ic", "L3")  # their one role fact
# Ann's own work on her plan: a proposal declined, an action done, a comment.
PROPOSED = "Run the Kestrel-9 chaos day"
DECLINED = "Kestrel-9 is frozen until Ann is back"
DONE = "Kestrel-9 flaky tests fixed, PR 118"
REMARK = "Ann handled Kestrel-9 well"
OWN_TEXTS = (PROPOSED, DECLINED, DONE, REMARK)


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[ServiceApi]:
    """Ann's plan from a calibration, edited by her manager: one action added with
    PAIRING, one removed for REASON."""
    migrations = definition.migrations
    async with in_process(ServiceApi, build, SCHEMA, migrations, database_url, tmp_path) as api:
        await publish(api.store, "eng", 1, valid_framework())
        await hire(
            api.store,
            hired(MANAGER, None, "manager", "M2"),
            *(hired(e, MANAGER, "ic", "L3") for e in (ANN, BEN)),
            hired("emp-other", None, "manager", "M2", department="Insights"),
            hired(EXPERT, "emp-other", "ic", "L3", department="Insights"),
        )
        database = Database(api.store, OrgChart(SCHEMA), FrameworkVersions(SCHEMA))
        event = calibration("s1", FIRST)
        async with api.store.transaction() as conn:
            await Development(database).on_calibration(
                database.bind(conn), envelope(event, "calibration-s1"), event
            )
        manager = api.as_(MANAGER, "manager")
        pairing = {"kind": "on_the_job", "competency": "testing", "description": PAIRING}
        plan = await api.ok("POST", f"/plans/{ANN}/actions", 201, json=pairing, headers=manager)
        removal = f"/plans/{ANN}/actions/{plan['actions'][0]['action_id']}/removal"
        await api.ok("POST", removal, json={"reason": REASON}, headers=manager)
        ann = api.as_(ANN, "employee")
        own = {"kind": "on_the_job", "competency": "testing", "description": PROPOSED}
        proposed = await api.ok("POST", f"/plans/{ANN}/actions", 201, json=own, headers=ann)
        steps = f"/plans/{ANN}/actions/{proposed['statuses'][-1]['action_id']}"
        decline = {"approved": False, "comment": DECLINED}
        await api.ok("POST", f"{steps}/decision", json=decline, headers=manager)
        steps = f"/plans/{ANN}/actions/{plan['actions'][1]['action_id']}"
        done = {"status": "done", "evidence": DONE}
        await api.ok("POST", f"{steps}/progress", json=done, headers=ann)
        await api.ok("POST", f"{steps}/comments", 201, json={"comment": REMARK}, headers=manager)
        proposal = {
            "employee_id": ANN,
            "title": GOAL,
            "due": (date.today() + timedelta(days=90)).isoformat(),
            "framework_id": "eng",
            "framework_version": 1,
            "targets": [{"key": "testing", "level": 3}],
        }
        goal = await api.ok("POST", "/goals", 201, json=proposal, headers=ann)
        steps = f"/goals/{goal['goal_id']}"
        await api.ok("POST", f"{steps}/agreement", json={"agreed": True}, headers=manager)
        check_in = {"note": CHECK_IN, "evidence": EVIDENCE}
        await api.ok("POST", f"{steps}/check-ins", 201, json=check_in, headers=ann)
        yield api


def texts(plan: dict[str, Any]) -> list[str]:
    return [a["description"] for a in plan["actions"]]


async def test_a_managers_plan_edits_are_stored_sealed(api: ServiceApi, database_url: str) -> None:
    plan = await api.ok("GET", f"/plans/{ANN}")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT event_type, schema_version, payload::text FROM development.events "
            "WHERE stream_id = %s ORDER BY stream_version",
            (plan_stream(plan["plan_id"]),),
        ).fetchall()
    assert [(t, v) for t, v, _ in rows] == [
        ("PlanActionAdded", 2),
        ("PlanActionRemoved", 2),
        ("PlanActionProposed", 1),
        ("PlanActionDeclined", 1),
        ("PlanActionProgressed", 1),
        ("PlanActionCommented", 1),
    ]
    for _, _, payload in rows:
        for text in (PAIRING, REASON, *OWN_TEXTS):
            assert text not in payload
        assert '"employee_id": "emp-ann"' in payload
    assert PAIRING in texts(plan), "the service reads its own events and views in clear"
    with psycopg.connect(database_url) as conn:
        goal_events = conn.execute(
            "SELECT event_type, payload::text FROM development.events "
            "WHERE stream_id LIKE 'goal-%%' ORDER BY global_position"
        ).fetchall()
    assert [t for t, _ in goal_events] == ["GoalProposed", "GoalSet", "GoalProgressRecorded"]
    for _, payload in goal_events:
        for text in (GOAL, CHECK_IN, EVIDENCE):
            assert text not in payload, "a goal's text is sealed like a plan edit's"


async def test_a_privacy_officer_reads_everything_held_about_the_person_and_no_one_else_does(
    api: ServiceApi,
) -> None:
    officer = api.as_(OFFICER, "privacy_officer")
    records = await api.ok("GET", f"/privacy/people/{ANN}", headers=officer)
    assert (records["service"], records["employee_id"]) == ("development", ANN)
    sections = {s["topic"]: s for s in records["sections"]}
    assert sections["position"]["items"][0]["name"] == NAME
    assert sections["position history"]["items"] == [ANN_HIRED]
    [plan] = sections["development plans"]["items"]
    assert PAIRING in texts(plan)
    held_texts = json.dumps(plan["tracking"])
    assert all(text in held_texts for text in OWN_TEXTS), "the tracks, text included"
    assert {g["session_id"] for g in sections["gaps"]["items"]} == {"s1"}
    assert len(sections["calibrated scores"]["items"]) == len(FIRST[ANN])
    mentors = [a["mentor"] for a in plan["actions"] if a["kind"] == "mentoring"]
    assert EXPERT in mentors
    [goal] = sections["goals"]["items"]
    assert (goal["title"], goal["state"]) == (GOAL, "open")
    assert [(c["note"], c["evidence"]) for c in goal["check_ins"]] == [(CHECK_IN, EVIDENCE)]

    mentoring = await api.ok("GET", f"/privacy/people/{EXPERT}", headers=officer)
    [held] = [s for s in mentoring["sections"] if s["topic"] == "mentoring"]
    assert {m["plan_id"] for m in held["items"]} >= {plan["plan_id"]}
    assert all("description" not in m for m in held["items"]), "the mentee's text is theirs"

    for caller in (api.hr, api.as_(ANN, "employee"), api.as_(MANAGER, "manager")):
        await api.ok("GET", f"/privacy/people/{ANN}", 403, headers=caller)


async def test_erasure_leaves_no_name_or_plan_text_in_the_schema_and_a_repeat_finds_none(
    api: ServiceApi, database_url: str, tmp_path: Path
) -> None:
    """As the erasure workflow runs it: the person's keys destroyed, then the service's
    activity for a recorded request."""
    before = await api.ok("GET", f"/plans/{ANN}")
    others = await api.ok("GET", f"/plans/{BEN}")
    await erasure_requested(api.store, "req-1", ANN)
    owner = PasswordFile(tmp_path / "postgres.pgpass").url(database_url, OWNER_ROLE)
    async with await AsyncConnection.connect(owner, autocommit=True) as conn:
        assert await destroy_keys(conn, ANN, "req-1", OFFICER) == 1
    erase = erasure_of(build, api.store)
    order = ErasureOrder(request_ref="req-1", employee_id=ANN, grant=GRANT)

    done = await erase(order)
    assert done.service == "development"
    plan_texts = len(before["actions"]) + len(OWN_TEXTS)
    assert done.erased == {"plan action texts": plan_texts, "goal texts": 3, "names": 1}
    for text in (PAIRING, REASON, NAME, GOAL, CHECK_IN, EVIDENCE, *OWN_TEXTS):
        assert holding(database_url, SCHEMA, text) == [], text
    after = await api.ok("GET", f"/plans/{ANN}")
    assert set(texts(after)) == {ERASED}
    assert [a["action_id"] for a in after["actions"]] == [a["action_id"] for a in before["actions"]]
    history = await api.store.read_stream(plan_stream(before["plan_id"]))
    added, removed, *_ = [await api.store.decode(e) for e in history]
    assert (added.action.description, removed.reason) == (ERASED, ERASED)  # type: ignore[attr-defined]
    records = await api.ok(
        "GET", f"/privacy/people/{ANN}", headers=api.as_(OFFICER, "privacy_officer")
    )
    [position] = [s for s in records["sections"] if s["topic"] == "position"]
    assert position["items"][0]["name"] == ERASED
    [history] = [s for s in records["sections"] if s["topic"] == "position history"]
    assert history["items"] == [ANN_HIRED], "positions and days stay, as the position does"
    [goals] = [s for s in records["sections"] if s["topic"] == "goals"]
    [goal] = goals["items"]
    assert (goal["title"], goal["check_ins"][0]["note"]) == (ERASED, ERASED)
    assert goal["targets"] == [{"key": "testing", "level": 3}], "no text: kept"

    again = await erase(order)
    assert again.erased == {"plan action texts": 0, "goal texts": 0, "names": 0}
    assert await api.ok("GET", f"/plans/{BEN}") == others, "nobody else's plan is touched"


async def test_erasure_is_refused_for_anything_but_a_privacy_officers_recorded_request(
    api: ServiceApi, database_url: str
) -> None:
    erase = erasure_of(build, api.store)
    await erasure_requested(api.store, "req-1", ANN)
    await erasure_requested(api.store, "req-hr", ANN, by="hannah-hr", roles=("hr_admin",))
    order = ErasureOrder(request_ref="req-1", employee_id=ANN, grant=GRANT)
    forged = [
        (order, "erasure-req-other"),  # scheduled by another workflow
        (order.model_copy(update={"grant": "guessed"}), None),  # not the cycles API's
        (order.model_copy(update={"employee_id": BEN}), None),  # another person
        (order.model_copy(update={"request_ref": "req-hr"}), None),  # not a privacy officer
    ]
    plan = await api.ok("GET", f"/plans/{ANN}")
    for forged_order, workflow in forged:
        with pytest.raises(ApplicationError) as refused:
            await erase(forged_order, workflow)
        assert refused.value.type == NOT_AUTHORISED, refused.value.message
        assert refused.value.non_retryable
    assert await api.ok("GET", f"/plans/{ANN}") == plan
    assert holding(database_url, SCHEMA, PAIRING) != []


def waiting_on_locks(database_url: str) -> list[str]:
    """The statements of this database waiting for a lock another transaction holds."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchall()
    return [query for (query,) in rows]


def database_of(api: ServiceApi) -> Database:
    return Database(api.store, OrgChart(SCHEMA), FrameworkVersions(SCHEMA))


async def test_an_erasure_waits_for_an_edit_in_progress_and_scrubs_what_it_wrote(
    api: ServiceApi, database_url: str
) -> None:
    """The edit holds the plan it read (as `Development` edits) while the erasure comes."""
    database = database_of(api)
    async with database.transaction() as work:
        state = await work.records.plan_state(ANN, for_edit=True)
        assert state is not None
        plan_id, _, actions, version = state
        erasing = asyncio.create_task(
            DevelopmentPersonalData(database).erase(ANN, "req-1", OFFICER)
        )
        await wait_until(lambda: waiting_on_locks(database_url), 10, "the erasure waiting")
        late = actions[0].model_copy(update={"action_id": "late", "description": LATE})
        await work.records.update_plan(plan_id, [*actions, late], version)
    erased = await erasing
    assert erased["plan action texts"] == len(actions) + 1 + len(OWN_TEXTS)
    plan = await api.ok("GET", f"/plans/{ANN}")
    assert [a["action_id"] for a in plan["actions"]][-1] == "late", "the edit stands"
    assert set(texts(plan)) == {ERASED}
    for text in (PAIRING, LATE):
        assert holding(database_url, SCHEMA, text) == [], text


async def test_an_edit_waits_for_an_erasure_in_progress_and_reads_the_plan_scrubbed(
    api: ServiceApi, database_url: str
) -> None:
    """The erasure, its plans scrubbed, is held at the org chart (another transaction holds
    Ann's row) while her manager edits her plan through the API."""
    database = database_of(api)
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM development.people WHERE employee_id = %s FOR UPDATE", (ANN,))
        erasing = asyncio.create_task(
            DevelopmentPersonalData(database).erase(ANN, "req-1", OFFICER)
        )
        await wait_until(lambda: waiting_on_locks(database_url), 10, "the erasure held")
        late = {"kind": "on_the_job", "competency": "testing", "description": LATE}
        editing = asyncio.create_task(
            api.ok(
                "POST",
                f"/plans/{ANN}/actions",
                201,
                json=late,
                headers=api.as_(MANAGER, "manager"),
            )
        )
        await wait_until(lambda: len(waiting_on_locks(database_url)) == 2, 10, "the edit waiting")
        holder.rollback()
    await erasing
    plan = await editing
    assert texts(plan)[:-1] == [ERASED] * (len(plan["actions"]) - 1)
    assert texts(plan)[-1] == LATE, "written after the erasure, the edit's own text stands"
    assert holding(database_url, SCHEMA, PAIRING) == []
