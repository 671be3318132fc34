"""Requests about a person's data through the cycles API (docs/privacy.md, Requests), on
PostgreSQL, NATS and Temporal's test server: who may make them, what an erasure request
records and starts, the cycles service's own steps of the erasure acting only for a recorded
request, and an access request gathering the services' answers over HTTP.

The other services' steps of the workflow (legal holds, erasing) are not run here: their
workflow waits at its first step, on the promotion queue. The workflow's logic is tested in
test_person_erasure_workflow.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner, Result

from libs.events.consumer import subscribe
from libs.events.relay import OutboxRelay
from libs.events.schemas.hris import EmployeeHired
from libs.events.schemas.promotion import ErasureCleared
from libs.personal.vault import MasterKeys, PostgresDataKeys
from libs.platform.auth import Actor, TokenVerifier, ensure_dev_keypair
from libs.platform.runtime import create_api
from libs.platform.settings import Settings
from libs.privacy.http import ROUTE, records_router
from libs.privacy.records import PersonalDataSection, ServiceRecords
from libs.privacy.requests import NOT_AUTHORISED, NOT_CLEARED, UNKNOWN_GRACE, KnownErasures
from libs.workflows.messages import (
    ErasureOrder,
    ErasureOutcome,
    KeysDestroyed,
    erasure_workflow_id,
    grant_digest,
)
from services.cycles import service as cycles_service
from services.cycles.adapters.privacy_activities import erasure_activities
from services.cycles.adapters.privacy_http import gather_export
from services.cycles.workflows.person_erasure import CLEARING, TASK_QUEUE, PersonErasureWorkflow
from talentledger.cli import app
from talentledger.inbound import outside_envelope
from talentledger.stack.servers import free_port
from tests.support.activities import attempt, refused
from tests.support.erasure import in_histories
from tests.support.privacy import delivered
from tests.support.review_cycle import CONVERTER
from tests.support.service_api import ServiceApi, in_process
from tests.support.temporal import time_skipping

OFFICER = ("olivia-privacy", "privacy_officer")
ERASE = {"kind": "erasure", "employee_id": "emp-ada", "request_ref": "REQ-2026-7"}
ACCESS = {"kind": "access", "employee_id": "emp-ada"}


ADA_HIRED = EmployeeHired(
    employee_id="emp-ada",
    effective_on=date(2024, 3, 1),
    name="Ada Quill",
    department="Platform",
    job_family="engineering",
    track="ic",
    level="L3",
)


@dataclasses.dataclass(frozen=True)
class Privacy:
    api: ServiceApi
    temporal: Client

    @property
    def officer(self) -> dict[str, str]:
        return self.api.as_(*OFFICER)

    async def erase(self, body: dict[str, Any] = ERASE, status: int = 202) -> Any:
        return await self.api.ok(
            "POST", "/privacy/requests", status, json=body, headers=self.officer
        )

    async def grant_of(self, ref: str) -> str:
        """The grant the workflow's input carries (encrypted in its history)."""
        history = await self.temporal.get_workflow_handle(erasure_workflow_id(ref)).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [order] = await CONVERTER.decode(started.input.payloads, [ErasureOrder])
        return str(order.grant)


@asynccontextmanager
async def cycles_privacy(database_url: str, tmp_path: Path) -> AsyncIterator[Privacy]:
    """The cycles API, and its worker with the erasure workflow alone."""
    async with (
        time_skipping(CONVERTER) as env,
        in_process(
            ServiceApi,
            cycles_service.build,
            "cycles",
            cycles_service.definition.migrations,
            database_url,
            tmp_path / "keys",  # where the command line finds the development key
            env.client,
        ) as api,
    ):
        worker = Worker(env.client, task_queue=TASK_QUEUE, workflows=[PersonErasureWorkflow])
        running = asyncio.create_task(worker.run())
        try:
            yield Privacy(api, env.client)
        finally:
            await worker.shutdown()
            await running


@pytest.fixture
async def privacy(database_url: str, tmp_path: Path) -> AsyncIterator[Privacy]:
    async with cycles_privacy(database_url, tmp_path) as running:
        yield running


async def test_every_privacy_route_is_the_privacy_officers_alone(privacy: Privacy) -> None:
    api = privacy.api
    await privacy.erase()
    others = [api.hr, api.employee, api.as_("lee-legal", "legal"), api.as_("mo", "manager")]
    for method, path, body in (
        ("POST", "/privacy/requests", ACCESS),
        ("POST", "/privacy/requests", {**ERASE, "request_ref": "REQ-other"}),
        ("GET", f"/privacy/requests/{ERASE['request_ref']}", None),
    ):
        assert (await api.client.request(method, path, json=body)).status_code == 401
        for headers in others:
            response = await api.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, f"{method} {path}: {response.text}"
    assert len(await api.store.read_stream(erasure_workflow_id("REQ-other"))) == 0


async def test_a_reference_that_is_not_one_is_refused_with_what_to_fix(privacy: Privacy) -> None:
    api = privacy.api
    for ref in ("", "has space", "-leading-dash", "x" * 65, "../etc"):
        response = await api.response(
            "POST",
            "/privacy/requests",
            422,
            json={**ERASE, "request_ref": ref},
            headers=privacy.officer,
        )
        assert "request_ref" in response.text
    await api.response("GET", "/privacy/requests/has%20space", 422, headers=privacy.officer)
    unknown = {"kind": "forget", "employee_id": "emp-ada"}
    await api.response("POST", "/privacy/requests", 422, json=unknown, headers=privacy.officer)


async def test_an_erasure_is_recorded_before_its_workflow_starts_and_made_once(
    privacy: Privacy,
) -> None:
    api, ref = privacy.api, ERASE["request_ref"]
    started = await privacy.erase()
    assert (started["status"], started["employee_id"], started["requested_by"]) == (
        "RUNNING",
        "emp-ada",
        OFFICER[0],
    )
    [requested] = await api.store.read_stream(erasure_workflow_id(ref))
    assert (requested.event_type, requested.actor) == ("ErasureRequested", OFFICER[0])
    assert requested.payload == {
        "request_ref": ref,
        "employee_id": "emp-ada",
        "requested_by": OFFICER[0],
        "roles": ["privacy_officer"],
        "grant_sha256": grant_digest(await privacy.grant_of(ref)),
    }
    status = await api.ok("GET", f"/privacy/requests/{ref}", headers=privacy.officer)
    assert (status["status"], status["step"], status["outcome"]) == ("RUNNING", CLEARING, None)
    # The grant is only in the encrypted input: the history scan decodes payloads to find it.
    grant = re.escape(await privacy.grant_of(ref))
    codec = privacy.temporal.data_converter.payload_codec
    assert codec is not None
    assert await in_histories(privacy.temporal, [erasure_workflow_id(ref)], grant, codec)
    history = await privacy.temporal.get_workflow_handle(erasure_workflow_id(ref)).fetch_history()
    assert not re.search(grant, history.to_json()), "as stored, it is encrypted"

    again = await privacy.erase()
    assert (again["status"], again["step"]) == ("RUNNING", CLEARING)
    conflict = await api.response(
        "POST",
        "/privacy/requests",
        409,
        json={**ERASE, "employee_id": "emp-bo"},
        headers=privacy.officer,
    )
    assert "another person" in conflict.json()["detail"]
    assert len(await api.store.read_stream(erasure_workflow_id(ref))) == 1
    await api.response("GET", "/privacy/requests/REQ-none", 404, headers=privacy.officer)

    handle = privacy.temporal.get_workflow_handle(erasure_workflow_id(ref))
    await handle.terminate("an operator stopped it")
    ended = await api.ok("GET", f"/privacy/requests/{ref}", headers=privacy.officer)
    assert (ended["status"], ended["outcome"]) == ("TERMINATED", None)
    assert "terminated" in ended["failure"]


async def test_a_reference_whose_stream_an_outside_system_took_is_a_conflict_not_a_failure(
    privacy: Privacy,
) -> None:
    """The intake now refuses outside events on the cycles service's own streams; one
    admitted before it did (here straight into the log) takes `erasure-<ref>`: that
    reference is then taken, which the officer is told (409), for a request and its status
    alike."""
    api, ref = privacy.api, "REQ-taken"
    await api.store.admit(
        outside_envelope(ADA_HIRED, uuid.uuid4(), erasure_workflow_id(ref), "hris", uuid.uuid4())
    )
    for method, body in (("POST", {**ERASE, "request_ref": ref}), ("GET", None)):
        path = "/privacy/requests" + ("" if body else f"/{ref}")
        taken = await api.response(method, path, 409, json=body, headers=privacy.officer)
        assert taken.json()["detail"] == (
            f"reference {ref!r} is taken: stream 'erasure-{ref}' holds hris's EmployeeHired, "
            "not an erasure request; make the request under another reference"
        )
    assert len(await api.store.read_stream(erasure_workflow_id(ref))) == 1


@asynccontextmanager
async def consuming(privacy: Privacy, broker: NatsBroker) -> AsyncIterator[KnownErasures]:
    """The cycles service's replica of erasure requests, fed through NATS from its log."""
    store = privacy.api.store
    requests = KnownErasures("cycles")
    for handler in requests.handlers():
        subscribe(broker, store, handler)
    await broker.start()
    stop = asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(store, broker, poll_interval=0.1).run(stop))
    try:
        yield requests
    finally:
        stop.set()
        await relay


def scheduled_by(ref: str) -> ActivityEnvironment:
    """The request's own workflow scheduling an activity a moment ago (Temporal's clock)."""
    now = datetime.now(UTC)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=erasure_workflow_id(ref),
        scheduled_time=now,
        current_attempt_scheduled_time=now,
    )
    return env


async def test_the_cycles_steps_act_only_for_the_recorded_request(
    privacy: Privacy, broker: NatsBroker
) -> None:
    """The cycles service learns the request from its own event, through NATS, and its
    clearance from the promotion service's, and then destroys the person's keys for the
    officer who made it, and records the outcome once."""
    api, ref = privacy.api, ERASE["request_ref"]
    store, pool = api.store, api.store.pool
    keys = PostgresDataKeys(pool, MasterKeys.generate())
    [key] = (await keys.for_people(["emp-ada"])).values()
    async with consuming(privacy, broker) as requests:
        await privacy.erase()
        order = ErasureOrder(
            request_ref=ref, employee_id="emp-ada", grant=await privacy.grant_of(ref)
        )
        forgotten: list[str] = []
        destroy, record = erasure_activities(store, pool, requests, forgotten.append)
        env = scheduled_by(ref)
        with pytest.raises(ApplicationError) as waiting:
            await _eventually(lambda: env.run(destroy, order), "the request's event", NOT_CLEARED)
        assert waiting.value.type == NOT_CLEARED, "nothing is destroyed before the clearance"
        assert len(await keys.by_ids([key.key_id])) == 1
        await delivered(store, ErasureCleared(request_ref=ref, employee_id="emp-ada"))
        destroyed = await env.run(destroy, order)
        assert destroyed == KeysDestroyed(employee_id="emp-ada", keys=1)
        assert forgotten == ["emp-ada"]
        fresh = PostgresDataKeys(pool, MasterKeys.generate())
        assert await fresh.by_ids([key.key_id]) == {}
        # A retry reports the keys the request destroyed, not the none it found left.
        assert await env.run(destroy, order) == KeysDestroyed(employee_id="emp-ada", keys=1)

        elsewhere = ActivityEnvironment()
        elsewhere.info = dataclasses.replace(env.info, workflow_id="erasure-REQ-forged")
        forged_grant = order.model_copy(update={"grant": "not-the-grant"})
        for runner, step, forged in (
            (env, destroy, forged_grant),
            (env, destroy, order.model_copy(update={"employee_id": "emp-bo"})),
            (elsewhere, destroy, order),
            (env, record, ErasureOutcome(order=forged_grant, outcome="refused", reason="no")),
        ):
            assert (await refused(runner.run(step, forged))).type == NOT_AUTHORISED

        # A request this service has not received yet (its consumer lagging through an
        # outage of hours) is retried, not refused, until a day after the first schedule.
        unknown = order.model_copy(update={"request_ref": "REQ-unknown"})
        for since, expected in (
            (timedelta(hours=6), ("ErasureNotReceived", False)),
            (UNKNOWN_GRACE, (NOT_AUTHORISED, True)),
        ):
            first = datetime.now(UTC) - since
            retry = attempt(erasure_workflow_id("REQ-unknown"), 40, scheduled=first)
            error = await refused(retry.run(destroy, unknown))
            assert (error.type, error.non_retryable) == expected

        outcome = ErasureOutcome(order=order, outcome="erased", services=["framework"])
        await env.run(record, outcome)
        await env.run(record, outcome)  # a retry finds it recorded
    _, erased = await store.read_stream(erasure_workflow_id(ref))
    assert (erased.event_type, erased.actor) == ("PersonErased", OFFICER[0])
    assert erased.payload == {
        "request_ref": ref,
        "employee_id": "emp-ada",
        "outcome": "erased",
        "reason": "",
        "services": ["framework"],
    }


class FrameworkRecords:
    """What a service answers about a person (its own holder, in each service)."""

    async def records_of(self, employee_id: str) -> list[PersonalDataSection]:
        if employee_id != "emp-ada":
            return []
        items = [{"framework_id": "eng", "draft": "levels 1-4"}]
        return [PersonalDataSection(topic="framework drafts written", items=items)]

    async def erase(self, employee_id: str, request_ref: str, actor: str) -> dict[str, int]:
        raise AssertionError("an access request erases nothing")


@asynccontextmanager
async def serving(app: FastAPI, port: int) -> AsyncIterator[str]:
    """`app` over HTTP on `port`; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve())
    for _ in range(250):  # uvicorn says it started only through this flag
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await running


def answering_framework(keys: Path) -> FastAPI:
    """A service's access-request route, checking tokens itself."""
    app = create_api("framework", "")
    app.include_router(records_router("framework", FrameworkRecords()))
    settings = Settings.model_validate(
        {"TALENTLEDGER_JWT_PUBLIC_KEY_FILE": ensure_dev_keypair(keys)[1]}
    )
    app.state.token_verifier = TokenVerifier(settings)
    return app


async def test_an_access_request_gathers_every_answer_and_says_who_did_not_answer(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering, closed = free_port(), free_port()
    framework = f"http://127.0.0.1:{answering}"
    monkeypatch.setenv(
        "TALENTLEDGER_SERVICE_URLS",
        # development's address answers for another service; promotion has none.
        f"framework={framework},assessment=http://127.0.0.1:{closed},development={framework}",
    )
    async with (
        serving(answering_framework(tmp_path / "keys"), answering),
        cycles_privacy(database_url, tmp_path) as privacy,
    ):
        api = privacy.api
        # What the HRIS published about her, as the cycles service admitted it (sealed).
        await api.store.admit(
            outside_envelope(
                ADA_HIRED,
                uuid.uuid4(),
                "employee-emp-ada",
                "hris",
                uuid.uuid4(),
            )
        )
        export = await api.ok("POST", "/privacy/requests", json=ACCESS, headers=privacy.officer)
        nobody = {**ACCESS, "employee_id": "emp-nobody"}
        empty = await api.ok("POST", "/privacy/requests", json=nobody, headers=privacy.officer)
        async with api.store.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT actor, payload FROM cycles.events "
                "WHERE event_type = 'AccessRequestAnswered' ORDER BY global_position"
            )
            recorded = await cursor.fetchall()
    assert (export["employee_id"], export["requested_by"]) == ("emp-ada", OFFICER[0])
    # framework checked the caller's own token: a privacy officer's.
    own, records = export["services"]
    assert own["service"] == "cycles"
    [facts, requests] = own["sections"]
    [hired] = facts["items"]
    assert (hired["event"], hired["name"], hired["source"]) == (
        "EmployeeHired",
        "Ada Quill",
        "hris",
    )
    assert requests["items"] == []
    assert records["service"] == "framework"
    assert records["sections"][0]["items"] == [{"framework_id": "eng", "draft": "levels 1-4"}]
    missing = sorted(export["missing"])
    assert len(missing) == 3
    assert missing[0].startswith("assessment: unreachable at http://127.0.0.1:")
    assert missing[1].startswith("development: answered for framework")
    assert missing[2] == "promotion: no address for it (TALENTLEDGER_SERVICE_URLS)"
    assert empty["services"][1:] == [
        {"service": "framework", "employee_id": "emp-nobody", "sections": []}
    ]
    assert [section["items"] for section in empty["services"][0]["sections"]] == [[], []]
    # Each access request is on record for auditors: who asked about whom, who answered.
    assert recorded == [
        (
            OFFICER[0],
            {
                "employee_id": employee,
                "requested_by": OFFICER[0],
                "answered": ["cycles", "framework"],
                "missing": ["assessment", "development", "promotion"],
            },
        )
        for employee in ("emp-ada", "emp-nobody")
    ]


async def test_an_answer_of_any_shape_is_listed_with_what_it_said() -> None:
    """A service answering an error whose JSON is not FastAPI's `{"detail": ...}` (a list, a
    string) is listed as not answering, the rest of the export still given."""

    def failing(said: Any) -> FastAPI:
        app = FastAPI()

        @app.get(ROUTE)
        async def records_of(employee_id: str) -> JSONResponse:
            return JSONResponse(said, status_code=503)

        return app

    listing, saying = free_port(), free_port()
    urls = {
        "framework": f"http://127.0.0.1:{listing}",
        "assessment": f"http://127.0.0.1:{saying}",
    }
    own = ServiceRecords(service="cycles", employee_id="emp-ada")
    officer = Actor(OFFICER[0], frozenset({OFFICER[1]}))
    async with serving(failing(["overloaded"]), listing), serving(failing("busy"), saying):
        export = await gather_export("emp-ada", officer, "", urls, own)
    assert export.services == [own]
    assert sorted(export.missing) == [
        "assessment: answered 503 (busy)",
        "development: no address for it (TALENTLEDGER_SERVICE_URLS)",
        "framework: answered 503 (['overloaded'])",
        "promotion: no address for it (TALENTLEDGER_SERVICE_URLS)",
    ]


async def _eventually(attempt: Callable[[], Any], what: str, until: str | None = None) -> Any:
    """Retry `attempt` while it fails retryably, as Temporal would; an error of type
    `until` ends the retries."""
    for _ in range(100):
        try:
            return await attempt()
        except ApplicationError as error:
            if error.non_retryable or error.type == until:
                raise
            await asyncio.sleep(0.1)
    pytest.fail(f"never got {what}")


async def test_a_refused_request_run_again_with_its_grant_destroys_nothing(
    privacy: Privacy, broker: NatsBroker
) -> None:
    """The attack: a request was refused under a legal hold and its workflow ended; someone
    with Temporal access starts a workflow under its id again, with the real grant from the
    first run's input, and schedules the key destruction and the recording of an erasure
    directly. Once the refusal (`PersonErased`, through NATS) is known, both are refused for
    good; before, they wait for a clearance that never comes."""
    api, ref = privacy.api, ERASE["request_ref"]
    store, pool = api.store, api.store.pool
    keys = store.keys  # the refusal's reason is sealed under the person's key
    [key] = (await keys.for_people(["emp-ada"])).values()
    async with consuming(privacy, broker) as requests:
        await privacy.erase()
        order = ErasureOrder(
            request_ref=ref, employee_id="emp-ada", grant=await privacy.grant_of(ref)
        )
        destroy, record = erasure_activities(store, pool, requests, lambda _: None)
        env = scheduled_by(ref)
        # The refusal needs no clearance: the first run records it.
        refusal = ErasureOutcome(order=order, outcome="refused", reason="legal hold hold-1")
        await _eventually(lambda: env.run(record, refusal), "the request's event")
        erased = ErasureOutcome(order=order, outcome="erased", services=["framework"])
        for step, arg in ((destroy, order), (record, erased)):
            with pytest.raises(ApplicationError) as refused:
                await _eventually(lambda: env.run(step, arg), "the refusal's event")  # noqa: B023
            assert (refused.value.type, refused.value.non_retryable) == (NOT_AUTHORISED, True)
            assert "was refused under legal holds" in str(refused.value)
    assert len(await keys.by_ids([key.key_id])) == 1, "the person's key is still there"
    _, ended = await store.read_stream(erasure_workflow_id(ref))
    assert ended.payload["outcome"] == "refused"
    assert (await store.decode(ended)).reason == "legal hold hold-1", "it opens"


async def test_the_command_line_exports_starts_and_follows_as_a_privacy_officer(
    privacy: Privacy, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"TALENTLEDGER_HOME": str(tmp_path), "TALENTLEDGER_TOKEN": None}

    async with serving(privacy.api.app, free_port()) as url:

        async def tl(*args: str) -> Result:
            command = ["privacy", *args, "--url", url, "--as", OFFICER[0]]
            return await asyncio.to_thread(runner.invoke, app, command, env=env)

        exported = await tl("export", "emp-ada", "--json")
        out = tmp_path / "emp-ada.json"
        written = await tl("export", "emp-ada", "--out", str(out))
        bad = await tl("erase", "emp-ada", "--request", "REQ 7")
        started = await tl("erase", "emp-ada", "--request", "REQ-7", "--no-wait")
        status = await tl("status", "REQ-7")
        other = await tl("erase", "emp-bo", "--request", "REQ-7", "--no-wait")
    assert exported.exit_code == 0, exported.output
    export = json.loads(exported.stdout)
    assert (export["employee_id"], export["requested_by"]) == ("emp-ada", OFFICER[0])
    assert "promotion: no address for it" in exported.stderr
    assert written.exit_code == 0, written.output
    assert "Personal data held about emp-ada" in written.stdout
    assert json.loads(out.read_text())["employee_id"] == "emp-ada"
    assert out.stat().st_mode & 0o777 == 0o600
    assert bad.exit_code == 1
    assert "request reference 'REQ 7': use 1-64 letters" in bad.stderr
    assert started.exit_code == 0, started.output
    assert "privacy status REQ-7" in started.stdout
    assert status.exit_code == 0, status.output
    assert f"REQ-7: erasing emp-ada, step {CLEARING}" in status.stdout
    assert other.exit_code == 1
    assert "names another person" in other.stderr
    [requested] = await privacy.api.store.read_stream(erasure_workflow_id("REQ-7"))
    assert requested.actor == OFFICER[0]
