"""Access and erasure requests answered by the assessment service (docs/privacy.md, Requests),
on PostgreSQL, through its HTTP API and its erasure activity as its worker registers it.

Zelda (emp-mgr) is rated by herself, her manager, three direct reports (a group large enough
to show) and two peers her manager nominated (too few: suppressed), rates her manager, and is
calibrated. Every text by or about her carries one unique marker.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg import AsyncConnection
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from libs.events.schemas.cycles import ErasureRequested
from libs.events.schemas.promotion import ErasureCleared
from libs.personal.sealing import ERASED
from libs.personal.vault import destroy_keys
from libs.platform.runtime import Runtime
from libs.platform.settings import Settings
from libs.privacy.requests import NOT_AUTHORISED
from libs.workflows.contracts import erase_personal_data
from libs.workflows.messages import ErasedData, ErasureOrder, erasure_workflow_id, grant_digest
from services.assessment import service as assessment_service
from tests.support.assessment_api import SCHEMA, AssessmentApi, assessment_api
from tests.support.privacy import delivered, holding
from tests.support.replica_seeding import hired, hiring_fact
from tests.support.sample_frameworks import valid_framework

CAMPAIGN, SESSION = "autumn-360", "autumn-calibration"
BOSS, ZELDA = "emp-boss", "emp-mgr"
REPORTS = ("emp-r1", "emp-r2", "emp-r3")
PEERS = ("emp-p1", "emp-p2")
NAME = "Zelda Quintrell-Oyelaran"
MARK = "quokka-7f3e"  # in every text by or about Zelda
REF, GRANT = "PRIV-2026-041", "grant-of-PRIV-2026-041"
OFFICER = "olga-privacy"
ZELDA_HIRED = hiring_fact("manager", "M1")  # their one role fact


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[AssessmentApi]:
    async with assessment_api(database_url, tmp_path / "keys") as api:
        await api.publish("eng", 1, valid_framework())
        await api.hire(
            hired(BOSS, None, "manager", "M2"),
            hired(ZELDA, BOSS, "manager", "M1").model_copy(update={"name": NAME}),
            *(hired(r, ZELDA, "ic", "L2") for r in REPORTS),
            *(hired(p, BOSS, "ic", "L3") for p in PEERS),
        )
        yield api


async def rate(api: AssessmentApi, subject: str, rater: str, value: int, comment: str) -> int:
    """The rater answers each item of the subject's questionnaire; how many items."""
    who = api.as_(rater, "employee")
    form = await api.ok("GET", f"/campaigns/{CAMPAIGN}/questionnaires/{subject}", headers=who)
    answers = [{"item": i["id"], "value": value, "comment": comment} for i in form["items"]]
    path = f"/campaigns/{CAMPAIGN}/submissions/{subject}"
    await api.ok("PUT", path, json={"answers": answers, "final": True}, headers=who)
    return len(answers)


async def assessed(api: AssessmentApi) -> tuple[int, int]:
    """The campaign rated, closed and calibrated; the comments Zelda wrote and received."""
    closes = datetime.now(UTC) + timedelta(days=14)
    campaign = {"id": CAMPAIGN, "framework_id": "eng", "framework_version": 1}
    population = {"employee_ids": [BOSS, ZELDA], "closes_at": closes.isoformat()}
    await api.ok("POST", "/campaigns", 201, json=campaign | population)
    boss = api.as_(BOSS, "manager")
    for peer in PEERS:
        nomination = {"subject": ZELDA, "peer": peer}
        path = f"/campaigns/{CAMPAIGN}/nominations"
        await api.ok("POST", path, 201, json=nomination, headers=boss)
        path = f"/campaigns/{CAMPAIGN}/nominations/{ZELDA}/{peer}"
        await api.ok("POST", path, json={"approve": True}, headers=boss)
    written = await rate(api, ZELDA, ZELDA, 3, f"{MARK} on myself")
    written += await rate(api, BOSS, ZELDA, 4, f"{MARK} on my manager")
    received = await rate(api, ZELDA, BOSS, 4, f"{MARK} from the manager")
    for report in REPORTS:
        received += await rate(api, ZELDA, report, 2, f"{MARK} from a report {report[-2:]}")
    for peer in PEERS:
        received += await rate(api, ZELDA, peer, 5, f"{MARK} from a peer {peer[-2:]}")
    await rate(api, BOSS, BOSS, 3, "the boss on himself")
    await api.ok("POST", f"/campaigns/{CAMPAIGN}/close")
    await api.ok("POST", "/calibrations", 201, json={"id": SESSION, "campaign_id": CAMPAIGN})
    review = await api.ok("GET", f"/calibrations/{SESSION}/scores?subject={ZELDA}")
    [competency, *_] = [s["competency"] for s in review["items"][0]["scores"]]
    adjustment = {
        "subject": ZELDA,
        "competency": competency,
        "new_value": 4,
        "justification": f"{MARK} led the migration",
    }
    await api.ok("POST", f"/calibrations/{SESSION}/adjustments", 201, json=adjustment)
    return written, received


async def own_results(api: AssessmentApi) -> list[Any]:
    """Zelda's results as she sees them."""
    return await api.items(f"/campaigns/{CAMPAIGN}/results/me", headers=api.as_(ZELDA, "employee"))


async def records(api: AssessmentApi, employee_id: str = ZELDA) -> dict[str, Any]:
    path = f"/privacy/people/{employee_id}"
    return await api.ok("GET", path, headers=api.as_(OFFICER, "privacy_officer"))


def erasure(api: AssessmentApi) -> Callable[[ErasureOrder, str], Any]:
    """The service's erasure activity as its worker registers it, run as scheduled by the
    workflow `workflow_id`."""
    runtime = Runtime(SCHEMA, Settings(), api.store.pool, api.store, broker=None, temporal=None)  # type: ignore[arg-type]
    name = erase_personal_data(assessment_service.NAME).name
    [erase] = [
        fn
        for fn in assessment_service.build(runtime).activities
        if activity._Definition.must_from_callable(fn).name == name
    ]

    async def run(order: ErasureOrder, workflow_id: str) -> Any:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, workflow_id=workflow_id)
        return await env.run(erase, order)

    return run


async def requested(api: AssessmentApi, ref: str, employee_id: str, *roles: str) -> None:
    """The cycles API's record of the request and its clearance, as the service's consumers
    apply them."""
    event = ErasureRequested(
        request_ref=ref,
        employee_id=employee_id,
        requested_by=OFFICER,
        roles=list(roles),
        grant_sha256=grant_digest(GRANT),
    )
    await delivered(api.store, event)
    await delivered(api.store, ErasureCleared(request_ref=ref, employee_id=employee_id))


async def test_a_privacy_officer_reads_all_about_zelda_and_none_of_her_anonymous_raters(
    api: AssessmentApi,
) -> None:
    await assessed(api)
    for who in (
        api.as_(ZELDA, "employee"),
        api.hr,
        api.as_("ann-auditor", "auditor"),
        api.as_(BOSS, "manager"),
    ):
        await api.ok("GET", f"/privacy/people/{ZELDA}", 403, headers=who)

    found = await records(api)
    text = json.dumps(found)
    for rater in (*REPORTS, *PEERS):
        assert rater not in text, f"{rater} rated Zelda anonymously"
    assert f"{MARK} from a peer" not in text, "the peers' group is suppressed"
    for comment in ("on myself", "on my manager", "from the manager", "led the migration"):
        assert f"{MARK} {comment}" in text
    for report in REPORTS:
        assert f"{MARK} from a report {report[-2:]}" in text
    assert NAME in text
    sections = {s["topic"]: s for s in found["sections"]}
    received = sections["ratings received"]
    own = await own_results(api)
    assert [{k: v for k, v in i.items() if k != "campaign_id"} for i in received["items"]] == own
    assert any("peer group" in why for why in received["withheld"])
    assert sections["peer nominations"]["items"] == []
    assert sections["peer nominations"]["withheld"], "her manager's nominations, withheld"
    gave = {i["subject"] for i in sections["ratings given"]["items"]}
    assert gave == {ZELDA, BOSS}
    assert sections["position history"]["items"] == [ZELDA_HIRED]


async def test_erasure_through_the_activity_leaves_no_text_of_zelda_anywhere_in_the_schema(
    api: AssessmentApi, database_url: str
) -> None:
    written, received = await assessed(api)
    before = await api.items(
        f"/campaigns/{CAMPAIGN}/results/me", headers=api.as_(ZELDA, "employee")
    )
    await requested(api, REF, ZELDA, "privacy_officer")
    await requested(api, "PRIV-HR", ZELDA, "hr_admin")
    run = erasure(api)
    order = ErasureOrder(request_ref=REF, employee_id=ZELDA, grant=GRANT)
    workflow = erasure_workflow_id(REF)

    forged = [
        (order.model_copy(update={"grant": "guessed"}), workflow),
        (order.model_copy(update={"employee_id": BOSS}), workflow),
        (order.model_copy(update={"request_ref": "PRIV-HR"}), erasure_workflow_id("PRIV-HR")),
        (order, erasure_workflow_id("PRIV-OTHER")),
    ]
    for bad, workflow_id in forged:
        with pytest.raises(ApplicationError) as refused:
            await run(bad, workflow_id)
        assert (refused.value.type, refused.value.non_retryable) == (NOT_AUTHORISED, True)
    assert holding(database_url, SCHEMA, MARK) == ["submissions.answers"]
    assert holding(database_url, SCHEMA, NAME) == ["people.name"]

    # The workflow destroys Zelda's keys before it asks the services.
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        await destroy_keys(conn, ZELDA, REF, OFFICER)
    done = await run(order, workflow)
    assert done == ErasedData(
        service="assessment",
        erased={"names": 1, "comments written": written, "comments about them": received},
    )
    assert holding(database_url, SCHEMA, MARK) == []
    assert holding(database_url, SCHEMA, NAME) == []
    assert "the boss on himself" in json.dumps(await records(api, BOSS)), "others' text stays"

    after = await own_results(api)
    assert {c for v in after for g in v["groups"] for c in g["comments"]} == {ERASED}
    means = [[(g["group"], g["mean"]) for g in v["groups"]] for v in before]
    assert [[(g["group"], g["mean"]) for g in v["groups"]] for v in after] == means
    found = json.dumps(await records(api))
    assert MARK not in found
    assert NAME not in found
    kept = {s["topic"]: s for s in (await records(api))["sections"]}
    assert kept["position history"]["items"] == [ZELDA_HIRED], "a position is no one's text"

    again = await run(order, workflow)
    assert again.erased == {"names": 0, "comments written": 0, "comments about them": 0}
