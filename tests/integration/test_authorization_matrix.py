"""The authorisation matrix: every route of every service, read from its OpenAPI document,
called by every kind of caller, gets the status its declared access rule (`x-access`) says.

Callers: no token, an expired token, a token signed with another key, a token for each role
(held by someone the seeded data does not know), an unrelated employee, the subject the
route is about, and the subject's manager. Each service runs in-process on PostgreSQL (and
Temporal for cycles) with the data its routes need, so "subject" and "manager" are real
relations of the org chart. Refused callers get the rule's refusal status; allowed callers
pass authorisation (reads answer 200, or 404 on a route serving each caller their own to a
caller with nothing there; commands may still meet a business rule: 404, 409 or 422). Any
list answered as a bare array rather than a page fails too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Worker

from libs.events.schemas.framework import LateralPath
from libs.platform import temporal
from libs.platform.access import ANYONE, PUBLIC
from libs.platform.access import MANAGER as MANAGER_OF
from libs.platform.access import SUBJECT as SUBJECT_OF
from libs.platform.auth import ROLES, ensure_dev_keypair, mint_token
from libs.platform.settings import Settings
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from libs.workflows.messages import erasure_workflow_id
from services.cycles import service as cycles_service
from services.cycles.workflows.person_erasure import PersonErasureWorkflow
from services.cycles.workflows.review_cycle import TASK_QUEUE, ReviewCycleWorkflow
from services.development import service as development_service
from services.development.adapters.postgres import MIGRATIONS as DEVELOPMENT_MIGRATIONS
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development
from services.framework.adapters.postgres.work import Database as FrameworkDatabase
from services.framework.application.upkeep import Upkeep
from services.framework.domain.drafting import identity
from services.promotion import service as promotion_service
from services.promotion.adapters.postgres import MIGRATIONS as PROMOTION_MIGRATIONS
from services.promotion.adapters.postgres.work import Database as PromotionDatabase
from services.promotion.application import reactions
from services.promotion.application.promotion import Promotion
from tests.support.assessment_api import assessment_api
from tests.support.calibrations import calibration
from tests.support.envelopes import envelope
from tests.support.framework_api import framework_api
from tests.support.replica_seeding import hire, hired, publish
from tests.support.sample_frameworks import findings_on_version_1, valid_framework
from tests.support.service_api import ServiceApi, in_process

SUBJECT, PEER, MANAGER = "emp-subject", "emp-peer", "emp-manager"
UNRELATED, OTHER_MANAGER = "emp-unrelated", "emp-other-manager"
SCORES = {"coding": 4, "testing": 2, "collaboration": 3, "ownership": 3, "communication": 3}


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    labels: frozenset[str] = frozenset()  # roles held and relations to the subject
    valid: bool = True


@dataclass
class World:
    """A service with the data its routes need, and how to call each route."""

    api: ServiceApi
    values: dict[str, str]
    """Path and required query parameters by name."""
    bodies: dict[str, Any] = field(default_factory=dict)
    """A valid body for each operation that takes one; text for text/plain."""
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    """Parameters of one operation that differ from `values`."""
    first: tuple[str, ...] = ()
    """Commands to send before the others (a later command would make them moot)."""
    started: list[str] = field(default_factory=list)
    """Cycles started on Temporal, to end when the test is over."""


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def callers(api: ServiceApi, other_keys: Path) -> list[Caller]:
    settings = Settings()
    claims = {"issuer": settings.jwt_issuer, "audience": settings.jwt_audience}
    expired = mint_token(api.private_key, SUBJECT, ["hr_admin"], ttl=-timedelta(hours=2), **claims)
    foreign, _ = ensure_dev_keypair(other_keys)
    forged = mint_token(foreign, SUBJECT, ["hr_admin"], **claims)
    return [
        Caller("no token", {}, valid=False),
        Caller("expired token", _headers(expired), valid=False),
        Caller("wrong key", _headers(forged), valid=False),
        *(Caller(f"role {r}", api.as_(f"matrix-{r}", r), frozenset({r})) for r in ROLES),
        Caller("unrelated employee", api.as_(UNRELATED, "employee"), frozenset({"employee"})),
        Caller("subject", api.as_(SUBJECT, "employee"), frozenset({"employee", SUBJECT_OF})),
        Caller("their manager", api.as_(MANAGER, "manager"), frozenset({"manager", MANAGER_OF})),
    ]


def expected(rule: dict[str, Any], caller: Caller) -> str:
    """`allowed`, or the status the caller must get."""
    allow = set(rule["allow"])
    if PUBLIC in allow:
        return "allowed"
    if not caller.valid:
        return "401"
    if ANYONE in allow or allow & caller.labels:
        return "allowed"
    return str(rule["refused"])


def holds(rule: dict[str, Any], caller: Caller, verdict: str, method: str, status: int) -> bool:
    if verdict != "allowed":
        return str(status) == verdict
    if method != "GET":
        return status < 500 and status not in (401, 403)
    # A route serving each caller their own has nothing for a caller outside the data.
    outsider = ANYONE in rule["allow"] and SUBJECT_OF not in caller.labels
    return status == 200 or (outsider and status == 404)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def _answer(operation: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of the operation's success answer ({} when it is not JSON)."""
    answers = operation["responses"]
    success = next((answers[c] for c in ("200", "201", "202") if c in answers), {})
    return dict(success.get("content", {}).get("application/json", {}).get("schema", {}))


def _ordered(world: World, found: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    """Reads first, then commands (those `first` names ahead), deletions last."""

    def rank(entry: tuple[str, str, dict[str, Any]]) -> tuple[int, int]:
        method, path = entry[0], entry[1]
        key = f"{method} {path}"
        if method == "GET":
            return (0, 0)
        if key in world.first:
            return (1, world.first.index(key))
        return (3 if method == "DELETE" else 2, 0)

    return sorted(found, key=rank)


async def call(
    world: World, method: str, path: str, operation: dict[str, Any], caller: Caller
) -> httpx.Response:
    key = f"{method} {path}"
    values = {**world.values, **world.overrides.get(key, {})}
    url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    params = {
        p["name"]: values[p["name"]]
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    kwargs: dict[str, Any] = {"params": params, "headers": caller.headers}
    if "requestBody" in operation:
        assert key in world.bodies, f"{key}: give the matrix a valid body for it"
        body = world.bodies[key]
        if "text/plain" in operation["requestBody"]["content"]:
            kwargs["content"] = body
            kwargs["headers"] = {**caller.headers, "Content-Type": "text/plain"}
        else:
            kwargs["json"] = body
    response = await world.api.client.request(method, url, **kwargs)
    if key == "POST /cycles" and response.status_code == 202:
        world.started.append(response.json()["cycle_id"])
    return response


# -- the services, seeded ----------------------------------------------------------------


def _element_bodies() -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    framework = valid_framework()
    lateral = LateralPath(from_family="eng", to_family="eng")
    elements = {
        "categories": framework.categories[0],
        "families": framework.families[0],
        "lateral-paths": lateral,
        "competencies": framework.competencies[0],
        "roles": framework.roles[0],
        "rules": framework.rules[0],
    }
    bodies: dict[str, Any] = {}
    overrides: dict[str, dict[str, str]] = {}
    for segment, element in elements.items():
        key = identity(segment.replace("-", "_"), element)
        put = f"PUT /frameworks/{{framework_id}}/draft/{segment}/{{key}}"
        bodies[put] = element.model_dump(mode="json")
        overrides[put] = {"key": key}
        overrides[f"DELETE /frameworks/{{framework_id}}/draft/{segment}/{{key}}"] = {"key": key}
    return bodies, overrides


@asynccontextmanager
async def framework_world(database_url: str, tmp: Path, _: str) -> AsyncIterator[World]:
    async with framework_api(database_url, tmp / "keys") as api:
        framework = valid_framework().model_dump(mode="json")
        await api.ok("PUT", "/frameworks/eng/draft", json=framework)
        await api.ok("POST", "/frameworks/eng/versions", 201, json={})
        findings = findings_on_version_1("eng")
        database = FrameworkDatabase(api.store)
        async with api.store.transaction() as conn:
            await database.consumer(Upkeep(database).on_anchor_findings)(
                conn, envelope(findings, "calibration-autumn-eng"), findings
            )
        text = (await api.response("GET", "/frameworks/eng/published/export")).text
        elements, overrides = _element_bodies()
        calibrations = "/frameworks/{framework_id}/prelaunch-calibrations"
        # Every caller the rating routes admit is invited, so that refusals there are about
        # the role; the report is read from an exercise closed already.
        raters = ["matrix-manager", "matrix-employee", UNRELATED, SUBJECT, MANAGER]
        examples = [{"key": "ex-1", "competency": "collaboration", "track": "ic", "text": "x"}]
        for exercise in ("matrix-open", "matrix-closed"):
            opening = {"id": exercise, "examples": examples, "raters": raters}
            await api.ok("POST", "/frameworks/eng/prelaunch-calibrations", 201, json=opening)
        await api.ok("POST", "/frameworks/eng/prelaunch-calibrations/matrix-closed/close")
        # Likewise every caller the draft's authoring routes admit is invited: a contributor
        # to the sections the element bodies fall in, and a reviewer of the open round.
        draft = "/frameworks/eng/draft"
        core = valid_framework().competencies[0].key
        for person in raters:
            for section in ({"family": "eng"}, {"competencies": [core]}):
                invitation = {"contributor": person, "section": section}
                await api.ok("POST", f"{draft}/contributors", 201, json=invitation)
        await api.ok("POST", f"{draft}/review-rounds", 201, json={"reviewers": raters})
        overrides[f"GET {calibrations}/{{exercise_id}}/report"] = {"exercise_id": "matrix-closed"}
        yield World(
            api,
            values={
                "framework_id": "eng",
                "role": "eng-l1",
                "family": "eng",
                "track": "ic",
                "from_version": "1",
                "to_version": "1",
                "source": "eng.yaml",
                "employee_id": SUBJECT,
                "exercise_id": "matrix-open",
                "example": "ex-1",
                "other": "eng",
                "standard_term": "Collaboration",
            },
            bodies={
                "POST /frameworks": {"id": "matrix", "name": "Matrix"},
                f"POST {calibrations}": {
                    "id": "matrix-new",
                    "examples": examples,
                    "raters": raters,
                },
                f"PUT {calibrations}/{{exercise_id}}/examples/{{example}}/rating": {"rating": 2},
                "PUT /frameworks/{framework_id}/draft": framework,
                "POST /frameworks/import": text,
                "POST /frameworks/{framework_id}/draft/import": text,
                "PATCH /frameworks/{framework_id}/draft/settings": {"name": "Engineering"},
                "POST /frameworks/{framework_id}/draft/pushes": {
                    "competency": "collaboration",
                    "target": 2,
                    "roles": ["eng-l1"],
                },
                "POST /frameworks/{framework_id}/versions": {},
                "POST /frameworks/{framework_id}/reviews": {"version": 1},
                "POST /frameworks/{framework_id}/draft/contributors": {
                    "contributor": "matrix-new",
                    "section": {"family": "eng"},
                },
                "POST /frameworks/{framework_id}/draft/comments": {
                    "element": "roles[eng-l1]",
                    "text": "Reads well.",
                },
                "POST /frameworks/{framework_id}/draft/review-rounds": {"reviewers": raters},
                "POST /frameworks/{framework_id}/draft/review/verdicts": {
                    "verdict": "approve",
                    "comment": "Reads well.",
                    "draft_version": 1,
                },
                **elements,
            },
            overrides=overrides,
        )


def _org() -> list[Any]:
    return [
        hired(MANAGER, None, "manager", "M2"),
        hired(SUBJECT, MANAGER, "ic", "L3"),
        hired(PEER, MANAGER, "ic", "L3"),
        hired(OTHER_MANAGER, None, "manager", "M2", department="Insights"),
        hired(UNRELATED, OTHER_MANAGER, "ic", "L3", department="Insights"),
    ]


@asynccontextmanager
async def assessment_world(database_url: str, tmp: Path, _: str) -> AsyncIterator[World]:
    async with assessment_api(database_url, tmp / "keys") as api:
        await api.publish("eng", 1, valid_framework())
        await api.hire(*_org())
        closes = (datetime.now(UTC) + timedelta(days=14)).isoformat()

        def campaign(campaign_id: str) -> dict[str, Any]:
            return {
                "id": campaign_id,
                "framework_id": "eng",
                "framework_version": 1,
                "closes_at": closes,
                "employee_ids": [SUBJECT],
            }

        nomination = {"subject": SUBJECT, "peer": PEER}
        subject, manager = api.as_(SUBJECT, "employee"), api.as_(MANAGER, "manager")
        # "matrix" closes and is calibrated (results); "matrix-open" takes nominations and
        # submissions, so that refusals there are about the caller, not the campaign's state.
        for campaign_id in ("matrix", "matrix-open"):
            await api.ok("POST", "/campaigns", 201, json=campaign(campaign_id))
            path = f"/campaigns/{campaign_id}/nominations"
            await api.ok("POST", path, 201, json=nomination, headers=subject)
        questionnaire = await api.ok(
            "GET", f"/campaigns/matrix/questionnaires/{SUBJECT}", headers=subject
        )
        submission = {
            "answers": [{"item": i["id"], "value": 3} for i in questionnaire["items"]],
            "final": True,
        }
        for rater in (subject, manager):
            path = f"/campaigns/matrix/submissions/{SUBJECT}"
            await api.ok("PUT", path, json=submission, headers=rater)
        await api.ok("POST", "/campaigns/matrix/close")
        on_open = {"campaign_id": "matrix-open"}
        await api.ok("POST", "/calibrations", 201, json={"id": "matrix", "campaign_id": "matrix"})
        # A completed session too, for what reads final scores: "matrix" completes only once
        # every read has been tried.
        await api.ok("POST", "/campaigns", 201, json=campaign("matrix-done"))
        await api.ok("POST", "/campaigns/matrix-done/close")
        done = {"id": "matrix-done", "campaign_id": "matrix-done"}
        await api.ok("POST", "/calibrations", 201, json=done)
        await api.ok("POST", "/calibrations/matrix-done/complete")
        competency = questionnaire["items"][0]["competency"]
        yield World(
            api,
            values={
                "campaign_id": "matrix",
                "subject": SUBJECT,
                "peer": PEER,
                "employee_id": MANAGER,
                "session_id": "matrix",
            },
            overrides={
                "POST /campaigns/{campaign_id}/nominations": on_open,
                "POST /campaigns/{campaign_id}/nominations/{subject}/{peer}": on_open,
                "GET /campaigns/{campaign_id}/questionnaires/{subject}": on_open,
                "PUT /campaigns/{campaign_id}/submissions/{subject}": on_open,
                "GET /calibrations/{session_id}/standard-term-export": {
                    "session_id": "matrix-done"
                },
            },
            bodies={
                "POST /campaigns": campaign("matrix-next"),
                "POST /campaigns/{campaign_id}/nominations": nomination,
                "POST /campaigns/{campaign_id}/nominations/{subject}/{peer}": {"approve": True},
                "PUT /campaigns/{campaign_id}/submissions/{subject}": submission,
                "POST /calibrations": {"id": "matrix-next", "campaign_id": "matrix"},
                "POST /calibrations/{session_id}/adjustments": {
                    "subject": SUBJECT,
                    "competency": competency,
                    "new_value": 4,
                    "justification": "seen in the matrix",
                },
            },
            # HR adjusts before HR completes the session (after it, a conflict).
            first=("POST /calibrations/{session_id}/adjustments",),
        )


@asynccontextmanager
async def development_world(database_url: str, tmp: Path, _: str) -> AsyncIterator[World]:
    migrations = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, DEVELOPMENT_MIGRATIONS]
    async with in_process(
        ServiceApi, development_service.build, "development", migrations, database_url, tmp
    ) as api:
        await publish(api.store, "eng", 1, valid_framework())
        await hire(api.store, *_org())
        event = calibration("s1", {SUBJECT: SCORES})
        database = Database(api.store, OrgChart("development"), FrameworkVersions("development"))
        async with api.store.transaction() as conn:
            await Development(database).on_calibration(
                database.bind(conn), envelope(event, "calibration-s1"), event
            )
        plan = await api.ok("GET", f"/plans/{SUBJECT}")
        goal = {
            "title": "Own the test strategy",
            "due": (datetime.now(UTC).date() + timedelta(days=90)).isoformat(),
            "framework_id": "eng",
            "framework_version": 1,
            "targets": [{"key": "testing", "level": 3}],
        }
        subject = api.as_(SUBJECT, "employee")
        proposed = await api.ok(
            "POST", "/goals", 201, json=goal | {"employee_id": SUBJECT}, headers=subject
        )
        yield World(
            api,
            values={
                "employee_id": SUBJECT,
                "manager_id": MANAGER,
                "department": "Platform",
                "action_id": plan["actions"][0]["action_id"],
                "family": "eng",
                "track": "ic",
                "level": "L3",
                "goal_id": proposed["goal_id"],
            },
            # A team is the subject's own (they manage nobody: an empty team); the subject's
            # manager, above that team's manager, is refused.
            overrides={
                "GET /teams/{manager_id}/gaps": {"manager_id": SUBJECT},
                "GET /teams/{manager_id}/plans": {"manager_id": SUBJECT},
            },
            bodies={
                "POST /plans/{employee_id}/actions": {
                    "kind": "on_the_job",
                    "competency": "testing",
                    "description": "Pair on the test suite",
                },
                "POST /plans/{employee_id}/actions/{action_id}/removal": {"reason": "done"},
                "POST /plans/{employee_id}/target": {"family": "eng", "track": "ic", "level": "L4"},
                "POST /plans/{employee_id}/actions/{action_id}/decision": {"approved": True},
                "POST /plans/{employee_id}/actions/{action_id}/progress": {"status": "started"},
                "POST /plans/{employee_id}/actions/{action_id}/comments": {"comment": "Good"},
                "POST /goals": goal | {"employee_id": SUBJECT},
                "POST /goals/population": goal | {"department": "Platform"},
                "POST /goals/{goal_id}/agreement": {"agreed": True},
                "POST /goals/{goal_id}/check-ins": {"note": "halfway", "evidence": "PR 7"},
                "POST /goals/{goal_id}/drop": {"reason": "moved team"},
            },
            # Agreed before the check-ins, which come before the drop closes it.
            first=("POST /goals/{goal_id}/agreement", "POST /goals/{goal_id}/check-ins"),
        )


@asynccontextmanager
async def promotion_world(database_url: str, tmp: Path, _: str) -> AsyncIterator[World]:
    migrations = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, PROMOTION_MIGRATIONS]
    async with in_process(
        ServiceApi, promotion_service.build, "promotion", migrations, database_url, tmp
    ) as api:
        await publish(api.store, "eng", 1, valid_framework())
        await hire(api.store, *_org())
        event = calibration("s1", {SUBJECT: SCORES})
        promotion = Promotion(PromotionDatabase(api.store), "promotion_committee")
        async with promotion.uow.transaction() as tx:
            await reactions.on_calibration(tx, envelope(event, "calibration-s1"), event)
        nomination = {"employee_id": SUBJECT, "cycle_id": "2026-h1"}
        manager = api.as_(MANAGER, "manager")
        case = await api.ok("POST", "/cases", 201, json=nomination, headers=manager)
        steps = f"/cases/{case['case_id']}"
        await api.ok("POST", f"{steps}/endorsement", json={"note": ""}, headers=manager)
        confirmation = {"session_id": "s1", "confirmed": True}
        await api.ok("POST", f"{steps}/confirmation", json=confirmation)
        # Decided by another member: the matrix's committee member may hear the appeal.
        decision = {"outcome": "deny", "rationale": "not yet at the next level"}
        committee = api.as_("cara-committee", "promotion_committee")
        await api.ok("POST", f"{steps}/decision", json=decision, headers=committee)
        held = {"employee_id": SUBJECT, "reason": "a claim about the 2026-h1 cycle"}
        hold = await api.ok("POST", "/legal-holds", 201, json=held)
        yield World(
            api,
            values={
                "employee_id": SUBJECT,
                "cycle_id": "2026-h1",
                "case_id": case["case_id"],
                "scope": "employee",
                "key": SUBJECT,
                "attribute": "sex",
                "hold_id": hold["hold_id"],
            },
            bodies={
                "POST /criteria": {},
                "POST /criteria/preview": {"default": {"minimum_average": 4}},
                "POST /cases": {"employee_id": SUBJECT, "cycle_id": "2026-h2"},
                "POST /cases/{case_id}/endorsement": {"note": "ready"},
                "POST /cases/{case_id}/evidence": {"item": "scope", "note": "led a migration"},
                "POST /cases/{case_id}/confirmation": {"session_id": "s1", "confirmed": True},
                "POST /cases/{case_id}/decision": {"outcome": "deny", "rationale": "not yet"},
                "POST /cases/{case_id}/appeal": {"grounds": "the scope was missed"},
                "POST /cases/{case_id}/appeal/outcome": {
                    "result": "upheld",
                    "rationale": "the record stands",
                },
                "POST /legal-holds": {"case_id": case["case_id"], "reason": "a claim"},
                "POST /legal-holds/{hold_id}/lift": {"reason": "the claim was settled"},
            },
            # The appeal before its outcome, so that the committee hears a lodged appeal.
            first=("POST /cases/{case_id}/appeal", "POST /cases/{case_id}/appeal/outcome"),
        )


@asynccontextmanager
async def cycles_world(database_url: str, tmp: Path, address: str) -> AsyncIterator[World]:
    client = await temporal.connect(address, temporal.PayloadKeys.generate())
    # The workflows alone: queries answer, and each waits on its first activity.
    worker = Worker(
        client, task_queue=TASK_QUEUE, workflows=[ReviewCycleWorkflow, PersonErasureWorkflow]
    )
    running = asyncio.create_task(worker.run())
    start = {"framework": {"framework_id": "eng"}, "last_number": 1}
    migrations = cycles_service.definition.migrations
    try:
        async with in_process(
            ServiceApi, cycles_service.build, "cycles", migrations, database_url, tmp, client
        ) as api:
            world = World(
                api,
                values={"control": "pause"},
                bodies={
                    "POST /cycles": start,
                    "POST /cycles/{cycle_id}/calibration-completed": {"session_id": "s1"},
                    "POST /cycles/{cycle_id}/gap-review/acknowledgements": {"manager": MANAGER},
                    "POST /privacy/requests": {"kind": "access", "employee_id": SUBJECT},
                },
            )
            started = await api.ok("POST", "/cycles", 202, json=start)
            world.values["cycle_id"] = started["cycle_id"]
            world.started.append(started["cycle_id"])
            # Temporal outlives the test's database: a workflow id of its own.
            ref = f"REQ-{uuid.uuid4().hex[:12]}"
            erasure = {"kind": "erasure", "employee_id": SUBJECT, "request_ref": ref}
            officer = api.as_("matrix-officer", "privacy_officer")
            await api.ok("POST", "/privacy/requests", 202, json=erasure, headers=officer)
            world.values["request_ref"] = ref
            world.started.append(erasure_workflow_id(ref))
            try:
                yield world
            finally:
                for cycle_id in world.started:
                    handle = client.get_workflow_handle(cycle_id)
                    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                        with contextlib.suppress(RPCError):  # it may end meanwhile
                            await handle.terminate("the matrix test is over")
    finally:
        await worker.shutdown()
        await running


Builder = Callable[[str, Path, str], AbstractAsyncContextManager[World]]
SERVICES: dict[str, Builder] = {
    "framework": framework_world,
    "assessment": assessment_world,
    "development": development_world,
    "promotion": promotion_world,
    "cycles": cycles_world,
}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_every_route_gives_each_caller_its_declared_status(
    service: str, database_url: str, temporal_address: str, tmp_path: Path
) -> None:
    async with SERVICES[service](database_url, tmp_path, temporal_address) as world:
        schema = await world.api.ok("GET", "/openapi.json", headers={})
        found = operations(schema)
        undeclared = [f"{m} {p}" for m, p, op in found if "x-access" not in op]
        assert not undeclared, f"routes without a declared access rule: {undeclared}"
        unpaged = [f"{m} {p}" for m, p, op in found if _answer(op).get("type") == "array"]
        assert not unpaged, f"lists must be pages (libs.platform.pagination): {unpaged}"
        everyone = callers(world.api, tmp_path / "other-keys")
        wrong: list[str] = []
        for method, path, operation in _ordered(world, found):
            rule = operation["x-access"]
            for caller in everyone:
                verdict = expected(rule, caller)
                response = await call(world, method, path, operation, caller)
                if holds(rule, caller, verdict, method, response.status_code):
                    continue
                line = (
                    f"{method} {path} as {caller.name}: expected {verdict}, "
                    f"got {response.status_code} {response.text[:160]}"
                )
                wrong.append(line)
        assert not wrong, "\n".join(wrong)
