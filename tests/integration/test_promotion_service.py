"""The promotion service on PostgreSQL (docs/domain.md §6): cases from nomination to appeal, each
step a decision-log entry and the published steps events; who may do what; decisions as
they were made; exports; fairness.

Calibrations, the org chart and framework versions arrive through the service's own
handlers, as its consumers deliver them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from libs.events.registry import registry
from libs.events.schemas.hris import (
    EmployeeLeft,
    EmployeeManagerChanged,
    ProtectedAttributeRecorded,
)
from libs.platform.runtime import Runtime
from libs.platform.settings import Settings
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from services.promotion.adapters.audit import verify_stored_log
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.application import reactions
from services.promotion.application.personal_data import PromotionPersonalData
from services.promotion.application.promotion import case_stream
from services.promotion.domain.decision_log import Failure, canonical, verify
from services.promotion.service import build
from tests.support.calibrations import calibration
from tests.support.envelopes import envelope
from tests.support.privacy import holding
from tests.support.promotion_api import (
    ANN,
    AUDITOR,
    BEN,
    COMMITTEE,
    LEAD,
    OTHER_LEAD,
    SCHEMA,
    SECOND_COMMITTEE,
    STRONG,
    WEAK,
    Stack,
    audit_verify,
    seeded,
)
from tests.support.readiness import nomination
from tests.support.replica_seeding import change, hire, hired, publish, role_changed
from tests.support.sample_frameworks import (
    add_requirements,
    valid_framework,
    with_data_family,
    with_lateral_path,
)
from tests.support.service_api import ServiceApi, in_process
from tests.support.superuser import as_superuser


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    migrations = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, MIGRATIONS]
    async with in_process(ServiceApi, build, SCHEMA, migrations, database_url, tmp_path) as api:
        yield Stack(api, await seeded(api))


async def test_a_case_from_nomination_to_decision_is_logged_published_and_verifiable(
    stack: Stack,
) -> None:
    """docs/domain.md §6: nomination, endorsement, readiness, calibration confirmation and a
    decision with rationale, each an entry; the decision records the framework version, the
    criteria version, the calibration and the scores as they were."""
    await stack.calibrate(calibration("s1", {ANN: STRONG, BEN: WEAK}))
    case = await stack.ready_case(ANN)
    evaluated = await stack.call("POST", f"/cases/{case}/evaluation", who=LEAD)
    assert evaluated["ready"] is True
    decided = await stack.call(
        "POST",
        f"/cases/{case}/decision",
        who=COMMITTEE,
        outcome="approve",
        rationale="Meets every criterion; led the payments migration across three teams.",
    )
    assert (decided["status"], decided["outcome"]) == ("approved", "approve")
    kinds = [e["kind"] for e in decided["entries"]]
    assert kinds == [
        "nomination",
        "endorsement",
        "calibration_confirmation",
        "readiness_evaluated",
        "decision",
    ]
    decision = decided["entries"][-1]
    assert decision["actor"] == COMMITTEE
    readiness = decision["payload"]["readiness"]
    assert readiness["criteria_version"] == 1
    assert readiness["calibration"]["session_id"] == "s1"
    assert readiness["calibration"]["framework_version"] == 1
    assert readiness["calibration"]["scores"]["coding"] == 4
    assert readiness["criteria"]["minimum_average"] == 3.5

    events = await stack.api.store.read_stream(case_stream(case))
    assert [e.event_type for e in events] == [
        "PromotionNominated",
        "PromotionEvaluated",
        "PromotionDecided",
    ]
    assert events[-1].actor == COMMITTEE
    assert events[-1].payload["outcome"] == "approve"
    assert "rationale" not in events[-1].payload, "the rationale stays in the decision log"

    log = DecisionLog(SCHEMA)
    async with stack.api.store.pool.connection() as conn:
        entries = await log.on(conn).of_case(case)
    assert verify(entries), "one unbroken chain from the first entry"

    # The employee sees their own record, a colleague does not, an auditor reads it.
    mine = await stack.api.items(f"/people/{ANN}/history", headers=stack.who(ANN))
    assert [e["kind"] for e in mine] == kinds
    await stack.call("GET", f"/people/{ANN}/history", 403, who=BEN)
    await stack.call("GET", f"/cases/{case}", 403, who=OTHER_LEAD)
    assert (await stack.call("GET", f"/cases/{case}", who=AUDITOR))["outcome"] == "approve"


async def test_decisions_are_refused_without_rationale_by_non_deciders_and_without_endorsement(
    stack: Stack,
) -> None:
    """The issue's acceptance: each refusal is a 4xx saying why, and writes nothing."""
    await stack.calibrate(calibration("s1", {ANN: STRONG, BEN: WEAK}))
    case = await stack.nominate(ANN)
    path = f"/cases/{case}/decision"
    missing = await stack.api.ok(
        "POST", path, 422, headers=stack.who(COMMITTEE), json={"outcome": "deny"}
    )
    assert "rationale" in json.dumps(missing)
    blank = await stack.call("POST", path, 422, who=COMMITTEE, outcome="deny", rationale="  ")
    assert "rationale" in blank["detail"]
    by_manager = await stack.call("POST", path, 403, who=LEAD, outcome="deny", rationale="No.")
    assert "promotion_committee" in by_manager["detail"]
    by_hr = await stack.call("POST", path, 403, outcome="deny", rationale="No.")
    assert "promotion_committee" in by_hr["detail"]
    unendorsed = await stack.call(
        "POST", path, 409, who=COMMITTEE, outcome="deny", rationale="Not yet."
    )
    assert "endorsement" in unendorsed["detail"]

    # Endorsed but not ready (no calibration confirmation): approval names what is missing.
    await stack.call("POST", f"/cases/{case}/endorsement", who=LEAD)
    not_ready = await stack.call(
        "POST", path, 409, who=COMMITTEE, outcome="approve", rationale="Feels ready."
    )
    assert "calibration_confirmation" in not_ready["detail"]
    after = await stack.call("GET", f"/cases/{case}")
    assert [e["kind"] for e in after["entries"]] == ["nomination", "endorsement"]
    assert len(await stack.api.store.read_stream(case_stream(case))) == 1

    # Only the manager endorses; a manager elsewhere neither nominates nor endorses.
    await stack.call("POST", f"/cases/{case}/endorsement", 403, who=OTHER_LEAD)
    await stack.call("POST", "/cases", 403, who=OTHER_LEAD, employee_id=BEN, cycle_id="2026-h1")
    # One open case per person.
    again = await stack.call("POST", "/cases", 409, who=LEAD, employee_id=ANN, cycle_id="x")
    assert case in again["detail"]
    # Evidence must be an item the criteria name (the defaults name none).
    await stack.call("POST", f"/cases/{case}/evidence", 422, who=ANN, item="led things", note="yes")


async def test_an_auditor_reads_everything_and_changes_nothing(stack: Stack) -> None:
    await stack.calibrate(calibration("s1", {ANN: STRONG}))
    case = await stack.ready_case(ANN)
    for path, body in [
        ("/cases", {"employee_id": ANN, "cycle_id": "c"}),
        (f"/cases/{case}/endorsement", {}),
        (f"/cases/{case}/confirmation", {"session_id": "s1", "confirmed": True}),
        (f"/cases/{case}/evaluation", {}),
        (f"/cases/{case}/decision", {"outcome": "approve", "rationale": "Fine by me."}),
        (f"/cases/{case}/appeal", {"grounds": "none"}),
        ("/criteria", {}),
    ]:
        await stack.api.ok("POST", path, 403, headers=stack.who(AUDITOR), json=body)
    assert (await stack.call("GET", f"/cases/{case}", who=AUDITOR))["status"] == "open"
    assert await stack.api.items("/cycles/2026-h1/history", headers=stack.who(AUDITOR))
    assert await stack.api.items("/fairness?attribute=sex", headers=stack.who(AUDITOR)) == []
    await stack.call("GET", "/fairness?attribute=sex", 403, who=LEAD)


async def test_a_decision_made_under_version_2_reads_as_it_was_after_version_3(
    stack: Stack,
) -> None:
    """The issue's acceptance: reconstruction shows version 2's criteria and scores."""
    framework = valid_framework()
    await publish(stack.api.store, "eng", 2, framework)
    await stack.calibrate(calibration("s2", {ANN: STRONG}, version=2))
    case = await stack.ready_case(ANN, session="s2")
    await stack.call(
        "POST",
        f"/cases/{case}/decision",
        who=COMMITTEE,
        outcome="approve",
        rationale="Consistently operating at L4 for three quarters.",
    )
    # Afterwards: version 3 asks more of L4, and HR raises the bar in criteria version 2.
    await publish(stack.api.store, "eng", 3, add_requirements(framework, "eng-l4", {"design": 3}))
    await stack.calibrate(calibration("s3", {ANN: WEAK}, version=3))
    raised = await stack.call(
        "POST", "/criteria", 201, default={"minimum_average": 4.5, "competency_floor": 4}
    )
    assert raised["version"] == 2

    then = await stack.call("GET", f"/cases/{case}/as-decided", who=AUDITOR)
    assert (then["framework_version"], then["latest_framework_version"]) == (2, 3)
    assert then["criteria_version"] == 1
    assert then["readiness"]["criteria"]["minimum_average"] == 3.5
    assert then["readiness"]["calibration"]["session_id"] == "s2"
    assert then["readiness"]["calibration"]["scores"] == dict(sorted(STRONG.items()))
    targets = {r["competency"] for r in then["target_profile"]["requirements"]}
    assert "design" not in targets, "version 2's L4 profile, not version 3's"
    assert then["decision"]["payload"]["rationale"].startswith("Consistently")
    # Today the same person, on version 3's scores and criteria 2, is nowhere near.
    now = await stack.call("GET", f"/people/{ANN}/readiness", who=ANN)
    assert (now["criteria_version"], now["calibration"]["framework_version"]) == (2, 3)
    assert now["ready"] is False


async def test_appeal_is_heard_by_another_decider_and_exports_verify_line_by_line(
    stack: Stack,
) -> None:
    await stack.calibrate(calibration("s1", {BEN: WEAK}))
    case = await stack.ready_case(BEN)
    await stack.call(
        "POST",
        f"/cases/{case}/decision",
        who=COMMITTEE,
        outcome="deny",
        rationale="Coding at 2.5 is below the floor of 3 for L4.",
    )
    await stack.call("POST", f"/cases/{case}/appeal", 403, who=ANN, grounds="for Ben")
    await stack.call("POST", f"/cases/{case}/appeal", who=BEN, grounds="My coding was misread.")
    outcome = {"result": "upheld", "rationale": "Scores reviewed again; they stand."}
    same = await stack.call("POST", f"/cases/{case}/appeal/outcome", 403, who=COMMITTEE, **outcome)
    assert "someone other" in same["detail"]
    closed = await stack.call(
        "POST", f"/cases/{case}/appeal/outcome", who=SECOND_COMMITTEE, **outcome
    )
    assert (closed["status"], closed["outcome"]) == ("closed", "deny")
    await stack.call("POST", f"/cases/{case}/appeal", 409, who=BEN, grounds="again")

    response = await stack.api.response(
        "GET", f"/audit/export?scope=employee&key={BEN}", headers=stack.who(AUDITOR)
    )
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["kind"] for line in lines][-2:] == ["appeal", "appeal_outcome"]
    for line in lines:  # each line checks out on its own: RFC 8785 and SHA-256
        stated = line.pop("hash")
        personal = line.pop("personal", {})
        assert hashlib.sha256(canonical(line)).hexdigest() == stated
        for name, held in personal.items():  # and each text opens its commitment
            opened = hashlib.sha256(bytes.fromhex(held["salt"]) + held["text"].encode())
            assert opened.hexdigest() == line["payload"][name]["commitment"]

    report = await stack.api.response(
        "GET", f"/audit/export?scope=case&key={case}&format=report", headers=stack.who(BEN)
    )
    text = report.text
    assert f"## Case {case}: {BEN}" in text
    assert "Coding at 2.5 is below the floor of 3 for L4." in text
    assert "| competency_floor:coding | 3 | 2.5 | no |" in text
    assert "Appeal outcome" in text
    assert "My coding was misread." in text


async def test_the_adverse_impact_ratio_matches_a_hand_computation(stack: Stack) -> None:
    """docs/domain.md §6 and the four-fifths rule. Cycle 2026-h1: group a, 5 considered, 4
    approved (rate 0.8, the reference); group b, 5 considered, 2 approved (rate 0.4): impact
    ratio 0.4 / 0.8 = 0.5, below 0.8, flagged. A deferral counts as not selected."""
    people = [f"emp-{n}" for n in range(10)]
    await hire(stack.api.store, *(hired(p, LEAD, "ic", "L3") for p in people))
    await stack.calibrate(calibration("s1", dict.fromkeys(people, STRONG)))
    outcomes = ["approve"] * 4 + ["deny"] + ["approve"] * 2 + ["deny", "defer", "deny"]
    async with stack.promotion.uow.transaction() as tx:
        for n, person in enumerate(people):
            attribute = ProtectedAttributeRecorded(
                employee_id=person,
                effective_on=date(2026, 1, 1),
                attribute="sex",
                value="a" if n < 5 else "b",
            )
            await reactions.on_protected_attribute(
                tx, envelope(attribute, f"employee-{person}"), attribute
            )
    for person, outcome in zip(people, outcomes, strict=True):
        case = await stack.ready_case(person)
        await stack.call(
            "POST",
            f"/cases/{case}/decision",
            who=COMMITTEE,
            outcome=outcome,
            rationale=f"Scripted {outcome} for the fairness check.",
        )
    [cycle] = await stack.api.items("/fairness?attribute=sex")
    groups = {g["group"]: g for g in cycle["groups"]}
    assert cycle["reference_group"] == "a"
    assert (groups["a"]["considered"], groups["a"]["selected"]) == (5, 4)
    assert (groups["b"]["considered"], groups["b"]["selected"]) == (5, 2)
    assert groups["b"]["impact_ratio"] == pytest.approx(0.5)
    assert groups["b"]["adverse_impact"] is True
    assert groups["a"]["adverse_impact"] is False
    assert not any(p in json.dumps(cycle) for p in people), "groups only, never people"


async def test_readiness_for_the_next_level_shows_each_criterion_with_its_evidence(
    stack: Stack,
) -> None:
    """docs/domain.md §6 defaults: average 3.5, no competency below 3; before any case the
    endorsement and confirmation are shown as missing, and time at level counts from the
    day the HRIS hired Ann at L3 (2024-01-02), with no nomination date beside it."""
    await stack.calibrate(calibration("s1", {ANN: STRONG, BEN: WEAK}))
    ann = await stack.call("GET", f"/people/{ANN}/readiness", who=ANN)
    results = {r["name"]: r for r in ann["results"]}
    assert ann["transition"]["to_level"] == "L4"
    assert results["average"]["met"] is True
    assert results["average"]["actual"] == pytest.approx(3.5)
    assert results["competency_floor:ownership"]["met"] is True  # exactly 3
    assert not results["endorsement"]["met"]
    assert results["time_at_level"]["met"]
    assert (ann["operating_since"], ann["level_start_from"]) == ("2024-01-02", "hris")
    assert "nominated_since" not in ann, "no case, no nomination date"
    ben = await stack.call("GET", f"/people/{BEN}/readiness", who=LEAD)
    assert {r["name"] for r in ben["results"] if not r["met"]} >= {
        "average",
        "competency_floor:coding",
    }
    await stack.call("GET", f"/people/{BEN}/readiness", 403, who=ANN)
    # A repeated CalibrationCompleted for the same session changes nothing.
    await stack.calibrate(calibration("s1", {ANN: WEAK}))
    again = await stack.call("GET", f"/people/{ANN}/readiness", who=ANN)
    assert again["calibration"]["scores"]["coding"] == 4


CAT, DAN = "emp-cat", "emp-dan"
JUDGED_ON = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


async def test_time_at_level_is_judged_on_the_hris_dates_and_a_nomination_date_only_shown(
    stack: Stack, database_url: str
) -> None:
    """docs/domain.md §6, Readiness, judged on 2026-03-02 from the HRIS's effective dates.

    Cat: hired at L2 on 2024-03-01, promoted to L3 on 2025-10-15, moved to Insights at L3 on
    2025-11-20 (that move arriving before the promotion): L3 since 2025-10-15, one whole
    quarter by 2026-03-02 (15 January; 15 April is to come): met.

    Dan: hired at L2 on 2024-03-01, promoted to L3 on 2026-01-05: no whole quarter (5 April
    is to come): not met. His nominator says his current level began 2025-06-01, three
    whole quarters (1 September, 1 December, 1 March): shown beside it, not judged, so his
    case cannot be approved.

    Then the HRIS promotes Cat to L4 on 2026-02-01: her calibration still puts the move at L3
    to L4, and time at L4 says nothing of it: not met, saying where the HRIS has her."""
    stack.api.app.state.promotion = replace(stack.promotion, clock=lambda: JUDGED_ON)
    start = date(2024, 3, 1)
    await hire(
        stack.api.store,
        *(
            hired(p, LEAD, "ic", "L2").model_copy(update={"effective_on": start})
            for p in (CAT, DAN)
        ),
    )
    await change(stack.api.store, 3, role_changed(CAT, date(2025, 11, 20), "L3", "Insights"))
    await change(stack.api.store, 2, role_changed(CAT, date(2025, 10, 15), "L3"))
    await change(stack.api.store, 2, role_changed(DAN, date(2026, 1, 5), "L3"))
    await stack.calibrate(calibration("s1", {CAT: STRONG, DAN: STRONG}))

    cat = await stack.call("GET", f"/people/{CAT}/readiness", who=LEAD)
    time_at_level = {r["name"]: r for r in cat["results"]}["time_at_level"]
    assert (time_at_level["met"], time_at_level["actual"]) == (True, 1)
    assert time_at_level["evidence"] == (
        "the HRIS dates the current level from 2025-10-15: 1 whole quarter(s) by 2026-03-02"
    )
    assert cat["operating_since"] == "2025-10-15"
    assert cat["hris_position"] == {"family": "eng", "track": "ic", "level": "L3"}

    case = await stack.ready_case(DAN)  # nominated with operating_since 2025-06-01
    evaluated = await stack.call("POST", f"/cases/{case}/evaluation", who=LEAD)
    assert evaluated["ready"] is False
    readiness = evaluated["entries"][-1]["payload"]["readiness"]
    assert (readiness["operating_since"], readiness["nominated_since"]) == (
        "2026-01-05",
        "2025-06-01",
    )
    time_at_level = {r["name"]: r for r in readiness["results"]}["time_at_level"]
    assert (time_at_level["met"], time_at_level["actual"]) == (False, 0)
    assert time_at_level["disagreement"] == (
        "the nomination dates the current level from 2025-06-01 (3 whole quarter(s) by "
        "2026-03-02), but the HRIS dates the current level from 2026-01-05; only the HRIS is "
        "judged"
    )
    refused = await stack.call(
        "POST", f"/cases/{case}/decision", 409, who=COMMITTEE, outcome="approve", rationale="."
    )
    assert "time_at_level" in refused["detail"]

    await change(stack.api.store, 4, role_changed(CAT, date(2026, 2, 1), "L4", "Insights"))
    cat = await stack.call("GET", f"/people/{CAT}/readiness", who=LEAD)
    assert (cat["transition"]["from_level"], cat["transition"]["to_level"]) == ("L3", "L4")
    time_at_level = {r["name"]: r for r in cat["results"]}["time_at_level"]
    assert (time_at_level["met"], time_at_level["actual"]) == (False, None)
    assert time_at_level["evidence"] == (
        "the HRIS has them at eng ic L4, the move is from eng ic L3: time at level counts only "
        "the level moved from"
    )
    chain = verify_stored_log(database_url, SCHEMA).chain
    assert chain is not None
    assert chain.ok, chain.failure


async def test_an_edited_column_steers_no_decision_and_an_edited_body_is_refused(
    stack: Stack, database_url: str
) -> None:
    """Reads that drive or show decisions take each entry from its hashed body: a superuser
    who edits the columns of a denial (outcome, decider) changes nothing a case replay, the
    as-decided view or an export says; one who edits the body, or moves an entry to another
    case by its column, gets a refusal instead of a decision."""
    await stack.calibrate(calibration("s1", {ANN: STRONG, BEN: WEAK}))
    case = await stack.ready_case(ANN)
    other = await stack.nominate(BEN)
    await stack.call("POST", f"/cases/{case}/evaluation", who=LEAD)
    await stack.call(
        "POST", f"/cases/{case}/decision", who=COMMITTEE, outcome="deny", rationale="Not yet."
    )
    as_superuser(
        database_url,
        (
            "UPDATE promotion.decision_log SET payload = jsonb_set(payload, '{outcome}', "
            "'\"approve\"'), actor = 'someone-else' WHERE case_id = %s AND kind = 'decision'",
            (case,),
        ),
    )
    replayed = await stack.call("GET", f"/cases/{case}", who=AUDITOR)
    assert (replayed["status"], replayed["outcome"]) == ("denied", "deny")
    decision = replayed["entries"][-1]
    assert (decision["actor"], decision["payload"]["outcome"]) == (COMMITTEE, "deny")
    as_decided = await stack.call("GET", f"/cases/{case}/as-decided", who=AUDITOR)
    assert as_decided["decision"]["payload"]["outcome"] == "deny"
    exported = await stack.api.response(
        "GET",
        "/audit/export",
        headers=stack.who(AUDITOR),
        params={"scope": "case", "key": case, "format": "jsonl"},
    )
    last = json.loads(exported.text.splitlines()[-1])
    assert (last["actor"], last["payload"]["outcome"]) == (COMMITTEE, "deny")
    # Steps replay the case: the first decider, as recorded, still may not hear the appeal.
    await stack.call("POST", f"/cases/{case}/appeal", who=ANN, grounds="Review it.")
    own = await stack.call(
        "POST", f"/cases/{case}/appeal/outcome", 403, who=COMMITTEE, result="upheld", rationale="."
    )
    assert COMMITTEE in own["detail"]

    as_superuser(
        database_url,
        (
            "UPDATE promotion.decision_log SET body = convert_to(replace(convert_from(body, "
            "'UTF8'), '\"deny\"', '\"approve\"'), 'UTF8') WHERE case_id = %s "
            "AND kind = 'decision'",
            (case,),
        ),
    )
    refused = await stack.call("GET", f"/cases/{case}", 409, who=AUDITOR)
    assert "fails its hash" in refused["detail"]
    await stack.call("GET", f"/cases/{case}/as-decided", 409, who=AUDITOR)

    as_superuser(
        database_url,
        (
            "UPDATE promotion.decision_log SET case_id = %s WHERE case_id = %s AND "
            "kind = 'endorsement'",
            (other, case),
        ),
    )
    moved = await stack.call("GET", f"/cases/{other}", 409, who=AUDITOR)
    assert "records another" in moved["detail"]


# -- erasure (docs/privacy.md, The decision log) ------------------------------------------------

NOTE = "Ann rebuilt the checkout flow over the summer."
ENDORSEMENT = "Ann has been operating at L4 since June."
CONFIRMATION = "The session agreed Ann is ready."
RATIONALE = "Ann's delivery slipped twice in Q2."
GROUNDS = "My Q2 delivery dates were moved by my manager."
OUTCOME_RATIONALE = "The slipped dates were Ann's own estimates; the denial stands."
OLD_NOTE = "Written before payloads had versions."


async def test_erasing_a_person_leaves_none_of_their_text_and_the_log_still_verifies(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    """A case with every kind of note, a rationale, appeal grounds and an appeal outcome's
    rationale; the person erased: none of that text is left in any column of the promotion
    schema, the log verifies and names the erased entries, the erasure entry is in the chain,
    reads show `[erased]`, entries written before version 2 still verify, and the same
    request again changes nothing."""
    async with stack.api.store.pool.connection() as conn:
        old = nomination(OLD_NOTE)
        # As the log recorded entries before version 2: the text in the hashed payload.
        await (
            DecisionLog(SCHEMA)
            .on(conn)
            .append(
                kind="nomination",
                case_id="case-old",
                employee_id="emp-old",
                actor=LEAD,
                recorded_at=datetime(2025, 9, 1, tzinfo=UTC),
                payload=old.record(),
            )
        )
    await stack.calibrate(calibration("s1", {ANN: STRONG}))
    case = await stack.nominate(ANN, note=NOTE)
    await stack.call("POST", f"/cases/{case}/endorsement", who=LEAD, note=ENDORSEMENT)
    await stack.call(
        "POST", f"/cases/{case}/confirmation", session_id="s1", confirmed=True, note=CONFIRMATION
    )
    await stack.call(
        "POST", f"/cases/{case}/decision", who=COMMITTEE, outcome="deny", rationale=RATIONALE
    )
    await stack.call("POST", f"/cases/{case}/appeal", who=ANN, grounds=GROUNDS)
    await stack.call(
        "POST",
        f"/cases/{case}/appeal/outcome",
        who=SECOND_COMMITTEE,
        result="upheld",
        rationale=OUTCOME_RATIONALE,
    )
    texts = [NOTE, ENDORSEMENT, CONFIRMATION, RATIONALE, GROUNDS, OUTCOME_RATIONALE]
    for text in texts:
        assert holding(database_url, SCHEMA, text) == ["decision_log_personal.text"], text

    holder = PromotionPersonalData(stack.promotion)
    done = await holder.erase(ANN, "req-17", "emp-privacy")
    assert done["decision_log_texts"] == 6
    for text in texts:
        assert holding(database_url, SCHEMA, text) == [], text
    assert holding(database_url, SCHEMA, OLD_NOTE) != [], "someone else's entry is left as it was"

    result = verify_stored_log(database_url, SCHEMA)
    assert result.chain is not None
    assert result.chain.ok, result.chain.failure
    assert result.chain.entries == 8
    erased = {e.sequence: e.fields for e in result.chain.erased}
    assert erased == {
        2: ("note",),
        3: ("note",),
        4: ("note",),
        5: ("rationale",),
        6: ("grounds",),
        7: ("rationale",),
    }
    assert {(e.request_ref, e.erasure_sequence) for e in result.chain.erased} == {("req-17", 8)}
    output = audit_verify(database_url, tmp_path)
    assert "verified 8 entries" in output
    assert "6 entries verified with their personal text erased" in output
    assert "entry 5 (" in output
    assert "rationale erased on" in output
    assert "under request req-17 (entry 8)" in output

    shown = await stack.call("GET", f"/cases/{case}", who=AUDITOR)
    assert [e["kind"] for e in shown["entries"]][-1] == "erasure"
    assert shown["entries"][-1]["payload"]["request_ref"] == "req-17"
    assert shown["entries"][0]["payload"]["note"] == "[erased]"
    assert shown["entries"][3]["payload"]["rationale"] == "[erased]"
    assert (shown["status"], shown["outcome"]) == ("closed", "deny"), "the decision stands"
    exported = await stack.api.response(
        "GET", f"/audit/export?scope=case&key={case}", headers=stack.who(AUDITOR)
    )
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [line["personal"] for line in lines if "personal" in line][:2] == [
        {"note": "[erased]"},
        {"note": "[erased]"},
    ]
    for text in texts:
        assert text not in exported.text
    report = await stack.api.response(
        "GET", f"/audit/export?scope=case&key={case}&format=report", headers=stack.who(AUDITOR)
    )
    assert RATIONALE not in report.text
    assert "Personal text erased" in report.text

    again = await holder.erase(ANN, "req-17", "emp-privacy")
    assert again["decision_log_texts"] == 0
    assert verify_stored_log(database_url, SCHEMA).chain.entries == 8  # type: ignore[union-attr]


async def test_text_changed_or_removed_beside_the_log_is_named_by_verify(
    stack: Stack, database_url: str
) -> None:
    """Someone who switches the side table's guards off to change a rationale, or to remove
    one without an erasure entry, is named by `verify`: the entry and the field."""
    await stack.calibrate(calibration("s1", {BEN: WEAK}))
    case = await stack.ready_case(BEN)
    await stack.call(
        "POST", f"/cases/{case}/decision", who=COMMITTEE, outcome="deny", rationale=RATIONALE
    )
    altered = beside_the_log(database_url, "UPDATE {} SET text = 'Ben was not liked.'")
    assert (altered.sequence, altered.reason, altered.field) == (4, "text_altered", "rationale")
    refused = await stack.call("GET", f"/cases/{case}", 409, who=AUDITOR)
    assert "rationale" in refused["detail"]
    missing = beside_the_log(database_url, "DELETE FROM {}")
    assert (missing.sequence, missing.reason, missing.field) == (4, "text_missing", "rationale")


def beside_the_log(database_url: str, statement: str) -> Failure:
    """A superuser's change to the rationale held beside the log, its guards switched off
    for it; what `verify` then says."""
    table = "promotion.decision_log_personal"
    as_superuser(
        database_url,
        (f"ALTER TABLE {table} DISABLE TRIGGER USER", ()),
        (statement.format(table) + " WHERE field = 'rationale'", ()),
        (f"ALTER TABLE {table} ENABLE TRIGGER USER", ()),
    )
    chain = verify_stored_log(database_url, SCHEMA).chain
    assert chain is not None
    assert chain.failure is not None
    return chain.failure


# Ann's scores under version 2, which adds the `data` family and the lateral path from `eng`
# to it (core competencies carry over; analysis and statistics are to be acquired). Hand
# computation for the move eng L3 -> data D3: analysis 4 and statistics 3 average 3.5, both at
# or above the floor of 3. Coding 2, collaboration 2 and the unobserved ownership would each
# fail the floor, and none is judged: coding is eng's own, the other two carry over.
LATERAL = {
    "analysis": 4,
    "statistics": 3,
    "coding": 2,
    "testing": 4,
    "collaboration": 2,
    "ownership": None,
    "communication": 3,
}


async def test_a_lateral_move_is_judged_on_its_path_decided_logged_and_counted_apart(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    """docs/domain.md §6, Lateral moves: readiness for eng L3 -> data D3 judges exactly the
    path's competencies to acquire; the case runs like a promotion's, its decision lands in
    the log, which `audit verify` passes; the audit report names the move lateral; the
    fairness report lists lateral moves apart from promotions. A move the framework has no
    path or level for is a 422 that writes nothing."""
    await publish(stack.api.store, "eng", 2, with_lateral_path(with_data_family(valid_framework())))
    await hire(stack.api.store, hired(CAT, LEAD, "ic", "D3", job_family="data"))
    await stack.calibrate(calibration("s2", {ANN: LATERAL, BEN: STRONG}, version=2))

    shown = await stack.call("GET", f"/people/{ANN}/readiness?to_family=data", who=ANN)
    assert shown["transition"]["to_family"] == "data"
    assert (shown["transition"]["to_track"], shown["transition"]["to_level"]) == ("ic", "D3")
    assert shown["required_competencies"] == ["analysis", "statistics"]
    assert shown["transition"]["transferable"] == ["collaboration", "ownership", "communication"]
    results = {r["name"]: r for r in shown["results"]}
    floors = sorted(n for n, r in results.items() if r["kind"] == "competency_floor")
    assert floors == ["competency_floor:analysis", "competency_floor:statistics"]
    assert results["average"]["actual"] == pytest.approx(3.5)
    unmet = {n for n, r in results.items() if not r["met"]}
    assert unmet == {"endorsement", "calibration_confirmation"}, "no case yet"

    wrong_grade = await stack.call(
        "GET", f"/people/{ANN}/readiness?to_family=data&to_level=D4", 422, who=ANN
    )
    assert "keeps the grade" in wrong_grade["detail"]
    no_path = await stack.call(
        "POST", "/cases", 422, who=LEAD, employee_id=CAT, cycle_id="2026-h1", to_family="eng"
    )
    assert "no lateral path from family 'data' to 'eng'" in no_path["detail"]
    unknown = await stack.call(
        "POST", "/cases", 422, who=LEAD, employee_id=ANN, cycle_id="2026-h1", to_family="sales"
    )
    assert "no job family 'sales'" in unknown["detail"]
    assert await stack.api.items(f"/people/{CAT}/history", headers=stack.api.hr) == []

    case = await stack.ready_case(ANN, session="s2", to_family="data")
    assert (await stack.call("POST", f"/cases/{case}/evaluation", who=LEAD))["ready"] is True
    why = "Analysis and statistics at the bar the path names."
    decided = await stack.call(
        "POST", f"/cases/{case}/decision", who=COMMITTEE, outcome="approve", rationale=why
    )
    assert (decided["status"], decided["outcome"]) == ("approved", "approve")
    move = decided["move"]
    assert (move["family"], move["from_track"], move["from_level"]) == ("eng", "ic", "L3")
    assert (move["to_family"], move["to_track"], move["to_level"]) == ("data", "ic", "D3")
    recorded = decided["entries"][-1]["payload"]["readiness"]
    assert recorded["required_competencies"] == ["analysis", "statistics"]
    assert recorded["transition"]["to_acquire"] == ["analysis", "statistics"]
    events = await stack.api.store.read_stream(case_stream(case))
    assert events[0].payload["move"]["to_family"] == "data"

    # Ben is up for his next level in the same cycle, and denied. Ann's case has 5 entries
    # (nomination, endorsement, confirmation, evaluation, decision), his 4.
    promotion = await stack.ready_case(BEN, session="s2")
    await stack.call(
        "POST", f"/cases/{promotion}/decision", who=COMMITTEE, outcome="deny", rationale="No."
    )

    assert "verified 9 entries" in audit_verify(database_url, tmp_path)
    exported = await stack.api.response(
        "GET", f"/audit/export?scope=case&key={case}&format=report", headers=stack.who(AUDITOR)
    )
    assert "Move: eng: ic L3 to data ic D3 (a lateral move)." in exported.text
    assert "judged only on the competencies its lateral path names to acquire" in exported.text

    promoted, moved = await stack.api.items("/fairness?attribute=sex")
    assert (promoted["cycle"], promoted["move_kind"]) == ("2026-h1", "promotion")
    assert [(g["considered"], g["selected"]) for g in promoted["groups"]] == [(1, 0)]
    assert (moved["cycle"], moved["move_kind"]) == ("2026-h1", "lateral")
    assert [(g["considered"], g["selected"]) for g in moved["groups"]] == [(1, 1)]


async def test_every_hris_event_of_a_person_is_marked_seen_so_the_level_start_is_known(
    stack: Stack,
) -> None:
    """docs/domain.md §6, Readiness: the level start is known only once every earlier HRIS
    event of the person has been applied, and the promotion service is where every type on
    the employee stream arrives. Each type, as the service's own handlers apply it, marks
    its version seen: a protected attribute between the hiring and a department move must
    not leave the level start unknown (the move keeps the hiring's day)."""
    person = "emp-stream"
    hired_on = date(2024, 1, 2)
    stream = [
        hired(person, LEAD, "ic", "L3"),
        ProtectedAttributeRecorded(
            employee_id=person, effective_on=date(2024, 2, 1), attribute="sex", value="a"
        ),
        EmployeeManagerChanged(
            employee_id=person, effective_on=date(2024, 6, 1), manager_id=OTHER_LEAD
        ),
        role_changed(person, date(2025, 3, 1), "L3", "Payments"),
        EmployeeLeft(employee_id=person, effective_on=date(2026, 1, 30)),
    ]
    types = {m.event_type for m in registry.models() if m.context == "hris"}
    assert {e.event_type for e in stream} == types, (
        "an HRIS event type on the employee stream that this test does not deliver: add it, "
        "and have the promotion service mark its version seen"
    )
    store = stack.api.store
    runtime = Runtime(SCHEMA, Settings(), store.pool, store, broker=None, temporal=None)  # type: ignore[arg-type]
    handlers = build(runtime).handlers
    for version, event in enumerate(stream, 1):
        applying = [h for h in handlers if h.event is type(event)]
        assert applying, f"the promotion service does not receive {event.event_type}"
        for handler in applying:
            async with store.transaction() as conn:
                await handler.apply(conn, envelope(event, f"employee-{person}", version), event)
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT stream_version FROM {SCHEMA}.hris_versions WHERE employee_id = %s", (person,)
        )
        seen = {row[0] for row in await cur.fetchall()}
        kept = await OrgChart(SCHEMA).person(conn, person)
    assert seen == {1, 2, 3, 4, 5}
    assert kept is not None
    assert (kept.level_since, kept.department) == (hired_on, "Payments")
