"""Legal holds, the clearance of erasure requests, and what the promotion service holds of a
person and erases, on PostgreSQL (docs/privacy.md, Requests and Legal holds).

Holds are placed and lifted over HTTP; the clearance and erasure are the activities the
service's worker registers (`build()`), called in an activity context scheduled by the
request's workflow, with the request recorded as the service's consumer records
`ErasureRequested`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity

from libs.events.schemas.cycles import PersonErased
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.platform.runtime import Runtime
from libs.platform.settings import Settings
from libs.privacy.requests import ERASING_ROLE
from libs.privacy.requests import MIGRATIONS as REQUEST_MIGRATIONS
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.workflows.contracts import CLEAR_ERASURE, erase_personal_data
from libs.workflows.messages import ErasureClearance, ErasureOrder, erasure_workflow_id
from services.promotion.adapters.audit import verify_stored_log
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.application import reactions
from services.promotion.application.holds import erasure_stream
from services.promotion.service import NAME, build
from tests.support.activities import attempt, refused
from tests.support.calibrations import calibration
from tests.support.envelopes import envelope
from tests.support.privacy import (
    GRANT,
    OFFICER,
    delivered,
    delivered_from,
    erasure_requested,
    holding,
)
from tests.support.promotion_api import (
    ANN,
    BEN,
    COMMITTEE,
    LEAD,
    SCHEMA,
    STRONG,
    Stack,
    audit_verify,
    seeded,
)
from tests.support.replica_seeding import hiring_fact
from tests.support.service_api import ServiceApi, in_process

LEGAL, AUDITOR = "lou-legal", "aud-auditor"
HOLD_REASON = "Ann's claim 2026-114 about the 2026-h1 cycle is before the tribunal."
CASE_REASON = "Audit 77 of the 2026-h1 promotion decisions."
RATIONALE = "Ann's scope on the ledger rewrite fell short of L4 (rationale 5c1f)."
ATTRIBUTE_VALUE = "group-7f3a-only-ann"
ANN_NAME = f"Person {ANN}"  # as `hired` names people
ANN_HIRED = hiring_fact("ic", "L3")  # their one role fact


class Privacy(Stack):
    """The stack, with the erasure activities as the service's worker registers them."""

    activities: dict[str, Callable[[Any], Any]]

    def as_role(self, role: str, subject: str) -> dict[str, str]:
        return self.api.as_(subject, role)

    async def requested(self, ref: str, employee: str = ANN, *roles: str) -> ErasureOrder:
        """The cycles API's record of the request, as the consumer delivers it; the order
        its workflow carries."""
        roles = roles or (ERASING_ROLE,)
        await erasure_requested(self.api.store, ref, employee, roles=roles, cleared=False)
        return ErasureOrder(request_ref=ref, employee_id=employee, grant=GRANT)

    async def run(self, name: str, order: ErasureOrder, workflow_id: str | None = None) -> Any:
        """The activity, as a first attempt scheduled by the request's workflow."""
        env = attempt(workflow_id or erasure_workflow_id(order.request_ref))
        return await env.run(self.activities[name], order)

    async def clear(self, order: ErasureOrder) -> Any:
        """The clearance, and what it published delivered to the service's consumers."""
        clearance = await self.run(CLEAR_ERASURE.name, order)
        store = self.api.store
        await delivered_from(store, erasure_stream(order.request_ref), store)
        return clearance

    async def ended(self, order: ErasureOrder, outcome: str) -> None:
        """The cycles service's `PersonErased`, as the service's consumer applies it."""
        event = PersonErased(
            request_ref=order.request_ref, employee_id=order.employee_id, outcome=outcome
        )
        await delivered(self.api.store, event)

    async def erase(self, order: ErasureOrder) -> Any:
        return await self.run(erase_personal_data(NAME).name, order)

    async def hold(self, status: int = 201, who: str = LEGAL, **body: Any) -> Any:
        return await self.api.ok(
            "POST", "/legal-holds", status, json=body, headers=self.as_role("legal", who)
        )

    async def lift(self, hold_id: str, status: int = 200, reason: str = "Settled.") -> Any:
        return await self.api.ok(
            "POST",
            f"/legal-holds/{hold_id}/lift",
            status,
            json={"reason": reason},
            headers=self.as_role("legal", LEGAL),
        )

    async def record_attribute(self, event: ProtectedAttributeRecorded) -> None:
        async with self.promotion.uow.transaction() as tx:
            stream = f"employee-{event.employee_id}"
            await reactions.on_protected_attribute(tx, envelope(event, stream), event)

    async def kinds(self, employee: str = ANN) -> list[str]:
        history = await self.api.items(
            f"/people/{employee}/history", headers=self.as_role("auditor", AUDITOR)
        )
        return [e["kind"] for e in history]


@pytest.fixture
async def privacy(database_url: str, tmp_path: Path) -> AsyncIterator[Privacy]:
    migrations = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, REQUEST_MIGRATIONS, MIGRATIONS]
    async with in_process(ServiceApi, build, SCHEMA, migrations, database_url, tmp_path) as api:
        stack = Privacy(api, await seeded(api))
        settings = Settings.model_validate({"TALENTLEDGER_HOME": tmp_path / "home"})
        runtime = Runtime(SCHEMA, settings, api.store.pool, api.store, broker=None, temporal=None)  # type: ignore[arg-type]
        stack.activities = {
            activity._Definition.must_from_callable(fn).name: fn for fn in build(runtime).activities
        }
        yield stack


async def test_hr_or_legal_place_and_lift_holds_each_an_entry_of_the_log(
    privacy: Privacy, database_url: str
) -> None:
    case = await privacy.nominate(ANN)
    on_ann = await privacy.hold(employee_id=ANN, reason=f"  {HOLD_REASON} ")
    assert (on_ann["on"], on_ann["case_id"], on_ann["placed_by"]) == ("person", None, LEGAL)
    assert (on_ann["reason"], on_ann["in_force"]) == (HOLD_REASON, True)
    hr = privacy.api.hr
    on_case = await privacy.api.ok(
        "POST", "/legal-holds", 201, json={"case_id": case, "reason": CASE_REASON}, headers=hr
    )
    assert (on_case["on"], on_case["case_id"], on_case["employee_id"]) == ("case", case, ANN)

    # Only hr_admin and legal place or lift; the others are refused and write nothing.
    for role in ("auditor", "privacy_officer", "promotion_committee", "manager", "employee"):
        headers = privacy.as_role(role, f"someone-{role}")
        body = {"employee_id": ANN, "reason": "mine"}
        await privacy.api.ok("POST", "/legal-holds", 403, json=body, headers=headers)
        lift = f"/legal-holds/{on_ann['hold_id']}/lift"
        await privacy.api.ok("POST", lift, 403, json={"reason": "x"}, headers=headers)
    # What to fix, said: a reason, one target, a known case or person.
    blank = await privacy.hold(422, employee_id=ANN, reason="   ")
    assert "reason" in blank["detail"]
    await privacy.hold(422, employee_id=ANN)
    await privacy.hold(422, employee_id=ANN, reason="x" * 2_001)
    both = await privacy.hold(422, employee_id=ANN, case_id=case, reason="both")
    assert "employee_id or case_id" in both["detail"]
    unknown = await privacy.hold(404, case_id="case-nope", reason="a claim")
    assert "case-nope" in unknown["detail"]
    await privacy.hold(404, case_id=f"person:{ANN}", reason="not a case")
    await privacy.hold(404, employee_id="emp-nobody", reason="a claim")

    listed = await privacy.api.items(
        f"/legal-holds?employee_id={ANN}", headers=privacy.as_role("privacy_officer", OFFICER)
    )
    assert [h["hold_id"] for h in listed] == [on_ann["hold_id"], on_case["hold_id"]]
    for role in ("employee", "manager", "promotion_committee"):
        await privacy.api.ok(
            "GET", f"/legal-holds?employee_id={ANN}", 403, headers=privacy.as_role(role, ANN)
        )

    # Legal counsel's hold is lifted by legal alone; HR's by either.
    by_hr = await privacy.api.ok(
        "POST", f"/legal-holds/{on_ann['hold_id']}/lift", 403, json={"reason": "x"}, headers=hr
    )
    assert "placed by legal counsel (lou-legal): only the legal role lifts it" in by_hr["detail"]
    lifted = await privacy.lift(on_ann["hold_id"], reason="The claim was withdrawn.")
    assert (lifted["in_force"], lifted["lifted"]["by"]) == (False, LEGAL)
    assert lifted["lifted"]["reason"] == "The claim was withdrawn."
    again = await privacy.lift(on_ann["hold_id"], 409)
    assert "was lifted by lou-legal" in again["detail"]
    await privacy.lift("hold-nope", 404)
    await privacy.lift(on_case["hold_id"], 422, reason=" ")

    assert await privacy.kinds() == ["nomination", "legal_hold", "legal_hold", "legal_hold_lifted"]
    history = await privacy.api.items(
        f"/people/{ANN}/history", headers=privacy.as_role("auditor", AUDITOR)
    )
    assert [e["case_id"] for e in history] == [case, f"person:{ANN}", case, f"person:{ANN}"]
    assert history[1]["payload"]["reason"] == HOLD_REASON
    # The reasons are personal text: held beside the log, committed to in it.
    assert holding(database_url, SCHEMA, HOLD_REASON) == ["decision_log_personal.text"]
    shown = await privacy.api.ok(
        "GET", f"/cases/{case}", headers=privacy.as_role("auditor", AUDITOR)
    )
    assert shown["status"] == "open", "a hold on a case is no step of it"
    # The person's record is no case: read through the person, never stepped on.
    record = f"/cases/person:{ANN}"
    await privacy.api.ok("GET", record, 404, headers=privacy.as_role("auditor", AUDITOR))
    await privacy.call("POST", f"{record}/endorsement", 404, who=LEAD, note="")
    assert verify_stored_log(database_url, SCHEMA).chain.ok  # type: ignore[union-attr]


async def test_an_erasure_is_refused_under_a_hold_once_per_request_and_cleared_after_it(
    privacy: Privacy, database_url: str, tmp_path: Path
) -> None:
    """docs/privacy.md, Legal holds: under a hold on the person or on a case of theirs, the
    clearance is refused naming each hold, who placed it and when, but not why (the log's
    refusal entry says why); the refusal is one entry per request, found again on a retry;
    after the lift a new request is cleared, and until it ended no hold is placed."""
    case = await privacy.nominate(ANN)
    person_hold = await privacy.hold(employee_id=ANN, reason=HOLD_REASON)
    first = await privacy.requested("req-1")
    refusal = await privacy.clear(first)
    assert refusal.cleared is False
    for said in (person_hold["hold_id"], "the person", "placed by lou-legal"):
        assert said in refusal.reason
    assert HOLD_REASON not in refusal.reason, "no hold's reason crosses Temporal"
    assert await privacy.clear(first) == refusal, "a retry answers the same"
    assert (await privacy.kinds()).count("erasure_refused") == 1

    await privacy.lift(person_hold["hold_id"])
    assert await privacy.clear(first) == refusal, "the request was refused; it stays so"
    second = await privacy.requested("req-2")
    assert (await privacy.clear(second)).cleared is True
    assert await privacy.clear(second) == ErasureClearance(cleared=True), "a retry, the same"
    assert (await privacy.kinds()).count("erasure_cleared") == 1
    await privacy.ended(second, "erased")

    case_hold = await privacy.api.ok(
        "POST",
        "/legal-holds",
        201,
        json={"case_id": case, "reason": CASE_REASON},
        headers=privacy.api.hr,
    )
    third = await privacy.requested("req-3")
    on_case = await privacy.clear(third)
    assert on_case.cleared is False
    for said in (case_hold["hold_id"], f"case {case}", "placed by hannah-hr"):
        assert said in on_case.reason
    assert CASE_REASON not in on_case.reason
    assert person_hold["hold_id"] not in on_case.reason, "a lifted hold is not named"
    await privacy.clear(third)
    kinds = await privacy.kinds()
    assert kinds.count("erasure_refused") == 2
    assert "erasure" not in kinds

    # Visible where auditors look: the history, the export, the report; the log verifies.
    history = await privacy.api.items(
        f"/people/{ANN}/history", headers=privacy.as_role("auditor", AUDITOR)
    )
    refusals = [e for e in history if e["kind"] == "erasure_refused"]
    assert [r["payload"]["request_ref"] for r in refusals] == ["req-1", "req-3"]
    assert refusals[0]["payload"]["holds"] == [person_hold["hold_id"]]
    assert refusals[0]["payload"]["requested_by"] == OFFICER
    assert HOLD_REASON in refusals[0]["payload"]["reason"], "the log's entry says why"
    report = await privacy.api.response(
        "GET",
        f"/audit/export?scope=employee&key={ANN}&format=report",
        headers=privacy.as_role("auditor", AUDITOR),
    )
    assert "Erasure refused under legal hold" in report.text
    assert f"## Record of {ANN}" in report.text
    exported = await privacy.api.response(
        "GET",
        f"/audit/export?scope=employee&key={ANN}",
        headers=privacy.as_role("auditor", AUDITOR),
    )
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [line["kind"] for line in lines].count("erasure_refused") == 2
    assert f"verified {len(history)} entries" in audit_verify(database_url, tmp_path)


async def test_forged_orders_are_refused_and_record_nothing(privacy: Privacy) -> None:
    await privacy.hold(employee_id=ANN, reason=HOLD_REASON)
    order = await privacy.requested("req-1")
    by_hr = await privacy.requested("req-hr", ANN, "hr_admin")
    cases = [
        (privacy.run(CLEAR_ERASURE.name, order, "erasure-req-other"), "scheduled this activity"),
        (privacy.clear(order.model_copy(update={"grant": "guessed"})), "does not carry the grant"),
        (privacy.clear(order.model_copy(update={"employee_id": BEN})), "names 'emp-ann'"),
        (privacy.clear(by_hr), "is not privacy_officer"),
        (privacy.erase(order.model_copy(update={"grant": "guessed"})), "does not carry"),
    ]
    for call, why in cases:
        error = await refused(call)
        assert (error.type, error.non_retryable) == ("ErasureNotAuthorised", True)
        assert why in str(error)
    assert "erasure_refused" not in await privacy.kinds()


async def test_no_hold_is_placed_while_a_cleared_erasure_is_under_way(
    privacy: Privacy, database_url: str
) -> None:
    """docs/privacy.md, Legal holds: once a request is cleared, the person's keys may be
    destroyed at any moment: a hold on them or their case is refused (409, saying so) until
    the erasure has ended, and the service's own erasure goes ahead."""
    await privacy.calibrate(calibration("s1", {ANN: STRONG}))
    case = await privacy.ready_case(ANN)
    await privacy.call(
        "POST", f"/cases/{case}/decision", who=COMMITTEE, outcome="deny", rationale=RATIONALE
    )
    order = await privacy.requested("req-1")
    assert (await privacy.clear(order)).cleared is True
    for target in ({"case_id": case}, {"employee_id": ANN}):
        refused_hold = await privacy.hold(409, reason=CASE_REASON, **target)
        for said in ("an erasure cleared on", "under request req-1", "keys may already be"):
            assert said in refused_hold["detail"]
    assert "legal_hold" not in await privacy.kinds()
    await privacy.hold(employee_id=BEN, reason=HOLD_REASON)  # anyone else's stays possible

    erased = await privacy.erase(order)
    assert erased.erased["decision_log_texts"] > 0
    assert holding(database_url, SCHEMA, RATIONALE) == []
    await privacy.ended(order, "erased")
    await privacy.hold(case_id=case, reason=CASE_REASON)


async def test_a_refused_request_erases_nothing_even_with_its_grant(
    privacy: Privacy, database_url: str
) -> None:
    """The attack: after a refused request's workflow ended, someone with Temporal access
    runs the erasure again under the request's id with its real grant. The service waits
    for a clearance that never comes, then refuses for good once the refusal is known."""
    await privacy.calibrate(calibration("s1", {ANN: STRONG}))
    case = await privacy.ready_case(ANN)
    await privacy.call(
        "POST", f"/cases/{case}/decision", who=COMMITTEE, outcome="deny", rationale=RATIONALE
    )
    hold = await privacy.hold(employee_id=ANN, reason=HOLD_REASON)
    order = await privacy.requested("req-1")
    assert (await privacy.clear(order)).cleared is False
    await privacy.lift(hold["hold_id"])  # lifting it later clears nothing

    waiting = await refused(privacy.erase(order))
    assert (waiting.type, waiting.non_retryable) == ("ErasureNotCleared", False)
    await privacy.ended(order, "refused")
    error = await refused(privacy.erase(order))
    assert (error.type, error.non_retryable) == ("ErasureNotAuthorised", True)
    assert "was refused under legal holds" in str(error)
    assert (await privacy.clear(order)).cleared is False, "the clearance stays a refusal"
    assert holding(database_url, SCHEMA, RATIONALE) == ["decision_log_personal.text"]
    assert holding(database_url, SCHEMA, ANN_NAME) != []
    assert "erasure" not in await privacy.kinds()


async def test_erasing_a_person_leaves_no_text_name_or_attribute_of_theirs(
    privacy: Privacy, database_url: str, tmp_path: Path
) -> None:
    """After the erasure, Ann's rationale, the reason of a lifted hold on her, her name and
    her protected attribute value are in no text, jsonb or bytea column of the promotion
    schema (read as its owner); the log verifies and names what was erased; a repeat erases
    nothing; Ben keeps his."""
    await privacy.calibrate(calibration("s1", {ANN: STRONG, BEN: STRONG}))
    case = await privacy.ready_case(ANN)
    await privacy.call(
        "POST", f"/cases/{case}/decision", who=COMMITTEE, outcome="deny", rationale=RATIONALE
    )
    hold = await privacy.hold(employee_id=ANN, reason=HOLD_REASON)
    await privacy.lift(hold["hold_id"])
    for person, value in ((ANN, ATTRIBUTE_VALUE), (BEN, "group-ben")):
        event = ProtectedAttributeRecorded(
            employee_id=person, attribute="sex", value=value, effective_on=date(2024, 1, 2)
        )
        await privacy.record_attribute(event)
    secrets = (RATIONALE, HOLD_REASON, ANN_NAME, ATTRIBUTE_VALUE)
    for text in secrets:
        assert holding(database_url, SCHEMA, text) != [], text

    order = await privacy.requested("req-9")
    assert (await privacy.clear(order)).cleared is True
    erased = await privacy.erase(order)
    assert erased.service == NAME
    # Nomination, endorsement and confirmation notes, the rationale, the hold's two reasons.
    assert erased.erased == {
        "decision_log_texts": 6,
        "protected_attribute_values": 1,
        "org_chart_names": 1,
    }
    for text in secrets:
        assert holding(database_url, SCHEMA, text) == [], text
    assert holding(database_url, SCHEMA, f"Person {BEN}") != [], "Ben's name stays"
    assert holding(database_url, SCHEMA, "group-ben") != [], "Ben's value stays"

    again = await privacy.erase(order)
    assert set(again.erased.values()) == {0}, "a repeat finds nothing left"
    records = await privacy.api.ok(
        "GET", f"/privacy/people/{ANN}", headers=privacy.as_role("privacy_officer", OFFICER)
    )
    [history] = [s for s in records["sections"] if s["topic"] == "position history"]
    assert history["items"] == [ANN_HIRED], "positions and days stay, as the position does"

    result = verify_stored_log(database_url, SCHEMA)
    assert result.chain is not None
    assert result.chain.ok, result.chain.failure
    assert {e.request_ref for e in result.chain.erased} == {"req-9"}
    output = audit_verify(database_url, tmp_path)
    assert "6 entries verified with their personal text erased" in output
    assert "reason erased on" in output
    assert "rationale erased on" in output
    assert "under request req-9" in output

    shown = await privacy.api.ok(
        "GET", f"/cases/{case}", headers=privacy.as_role("auditor", AUDITOR)
    )
    assert (shown["status"], shown["outcome"]) == ("denied", "deny"), "the decision stands"
    fairness = await privacy.api.ok("GET", "/fairness?attribute=sex", headers=privacy.api.hr)
    groups = {g["group"] for cycle in fairness["items"] for g in cycle["groups"]}
    assert groups == {"undisclosed"}, "an erased value counts as undisclosed"


async def test_a_privacy_officer_reads_everything_held_about_a_person(privacy: Privacy) -> None:
    await privacy.calibrate(calibration("s1", {ANN: STRONG}))
    case = await privacy.ready_case(ANN)
    await privacy.call(
        "POST", f"/cases/{case}/decision", who=COMMITTEE, outcome="deny", rationale=RATIONALE
    )
    await privacy.call("POST", f"/cases/{case}/appeal", who=ANN, grounds="My scope was missed.")
    hold = await privacy.hold(case_id=case, reason=CASE_REASON)
    event = ProtectedAttributeRecorded(
        employee_id=ANN, attribute="sex", value=ATTRIBUTE_VALUE, effective_on=date(2024, 1, 2)
    )
    await privacy.record_attribute(event)

    path = f"/privacy/people/{ANN}"
    records = await privacy.api.ok("GET", path, headers=privacy.as_role("privacy_officer", OFFICER))
    assert (records["service"], records["employee_id"]) == (NAME, ANN)
    sections = {s["topic"]: s for s in records["sections"]}
    [listed] = sections["promotion cases"]["items"]
    assert (listed["case_id"], listed["status"], listed["outcome"]) == (case, "appealed", "deny")
    [decision] = sections["decisions"]["items"]
    assert (decision["rationale"], decision["by"]) == (RATIONALE, COMMITTEE)
    assert sections["appeals"]["items"][0]["grounds"] == "My scope was missed."
    assert [n["case_id"] for n in sections["nominations"]["items"]] == [case]
    [held] = sections["legal holds"]["items"]
    assert (held["hold_id"], held["reason"], held["in_force"]) == (
        hold["hold_id"],
        CASE_REASON,
        True,
    )
    assert sections["protected attributes"]["items"] == [
        {"attribute": "sex", "value": ATTRIBUTE_VALUE, "effective_on": "2024-01-02"}
    ]
    assert sections["calibrated scores"]["items"][0]["session_id"] == "s1"
    assert sections["org chart"]["items"][0]["name"] == ANN_NAME
    assert sections["position history"]["items"] == [ANN_HIRED]
    # The lead's own acts on Ann's case are theirs; what they say is Ann's.
    lead = await privacy.api.ok(
        "GET", f"/privacy/people/{LEAD}", headers=privacy.as_role("privacy_officer", OFFICER)
    )
    [acts] = [s for s in lead["sections"] if s["topic"] == "steps taken on other people's cases"]
    assert {a["kind"] for a in acts["items"]} == {"nomination", "endorsement"}
    assert acts["withheld"]
    assert "note" not in json.dumps(acts["items"])
    for role, who in (("hr_admin", "hannah-hr"), ("auditor", AUDITOR), ("legal", LEGAL)):
        await privacy.api.ok("GET", path, 403, headers=privacy.as_role(role, who))
    await privacy.api.ok("GET", path, 403, headers=privacy.as_role("employee", ANN))
