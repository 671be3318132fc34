"""Calibration sessions and anonymity end to end, through the assessment service's HTTP API on
PostgreSQL (docs/domain.md §3, Anonymity and Aggregation; §4, Calibration).

Raters are real campaign raters: the subjects' manager and peers nominated and approved
through the API. What the subject may read (their view, their export) and what leaves the
service (every public event in its log, which is exactly what the relay publishes) are
checked for any trace of a peer's rating, comment or identity.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libs.events.registry import registry
from tests.support.assessment_api import AssessmentApi, assessment_api
from tests.support.calibration_campaigns import (
    BASE,
    LENIENT,
    MANAGER,
    PEERS,
    SUBJECTS,
    open_campaign,
    rate,
    staff,
)
from tests.support.sample_frameworks import valid_framework


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[AssessmentApi]:
    async with assessment_api(database_url, tmp_path / "keys") as api:
        await api.publish("eng", 1, valid_framework())
        await api.hire(*staff())
        yield api


async def public_payloads(api: AssessmentApi) -> list[str]:
    """Every event the service publishes, envelope included, as the relay sends it."""
    async with api.store.pool.connection() as conn:
        cur = await conn.execute("SELECT max(global_position) FROM assessment.events")
        row = await cur.fetchone()
    last = row[0] if row else 0
    found: list[str] = []
    after = 0
    while after < (last or 0):
        batch = await api.store.read_log(after, limit=1000)
        if not batch:
            break
        found += [e.model_dump_json() for e in batch if not registry.is_private(e.event_type)]
        after = batch[-1].global_position
    return found


async def test_a_lenient_rater_is_found_and_adjustments_carry_who_and_why(
    api: AssessmentApi,
) -> None:
    """docs/domain.md §4: a rater who rates everyone 1 point higher than the others is lenient;
    an adjustment without a justification is refused; CalibrationCompleted carries the
    adjusted values and who made each adjustment."""
    items = await open_campaign(api, "autumn", SUBJECTS, [*PEERS, LENIENT])
    for subject in SUBJECTS:
        fair = {item: BASE[subject] + i % 2 for i, item in enumerate(items)}
        await rate(api, "autumn", subject, MANAGER, fair)
        for peer in PEERS:
            await rate(api, "autumn", subject, peer, fair)
        await rate(api, "autumn", subject, LENIENT, {i: v + 1 for i, v in fair.items()})
    session = {"id": "autumn-eng", "campaign_id": "autumn"}
    refused = await api.ok("POST", "/calibrations", 409, json=session)
    assert "still open" in refused["detail"]
    await api.ok("POST", "/campaigns/autumn/close")

    manager = api.as_(MANAGER, "manager")
    await api.ok("POST", "/calibrations", 403, json=session, headers=manager)
    opened = await api.ok("POST", "/calibrations", 201, json=session)
    assert opened == {
        "session_id": "autumn-eng",
        "campaign_id": "autumn",
        "completed": False,
        "subjects": len(SUBJECTS),
        "adjustments": 0,
    }
    offsets = await api.items("/calibrations/autumn-eng/rater-offsets")
    tendency = {o["rater"]: o["tendency"] for o in offsets}
    assert tendency[LENIENT] == "lenient"
    assert {tendency[r] for r in [*PEERS, MANAGER]} == {"neutral"}
    [kind] = [o for o in offsets if o["rater"] == LENIENT]
    assert kind["offset"] == pytest.approx(1.0)
    for route in ("", "/scores", "/rater-offsets", "/inconsistent-anchors", "/outliers"):
        await api.ok("GET", f"/calibrations/autumn-eng{route}", 403, headers=manager)
    overlapping = {"id": "autumn-again", "campaign_id": "autumn", "subjects": ["emp-b"]}
    refused = await api.ok("POST", "/calibrations", 422, json=overlapping)
    assert "'emp-b' ('autumn-eng')" in refused["detail"], "one session per subject"
    outside = overlapping | {"subjects": [MANAGER]}
    refused = await api.ok("POST", "/calibrations", 422, json=outside)
    assert "not assessed" in refused["detail"]

    item = items[0]
    [theirs] = (await api.ok("GET", "/calibrations/autumn-eng/scores?subject=emp-a"))["items"]
    assert theirs["subject"] == "emp-a"
    [score] = [s for s in theirs["scores"] if s["competency"] == item]
    before = score["calibrated"]
    adjustment = {"subject": "emp-a", "competency": item, "new_value": 2}
    unjustified = await api.ok("POST", "/calibrations/autumn-eng/adjustments", 422, json=adjustment)
    assert "justification is mandatory" in unjustified["detail"]
    off_scale = adjustment | {"new_value": 9, "justification": "typo"}
    assert (
        "outside the scale 0..5"
        in (await api.ok("POST", "/calibrations/autumn-eng/adjustments", 422, json=off_scale))[
            "detail"
        ]
    )
    justified = adjustment | {
        "justification": "Peer scores were inflated by one lenient rater",
        "seen_value": before,
    }
    made = await api.ok("POST", "/calibrations/autumn-eng/adjustments", 201, json=justified)
    assert (made["old_value"], made["new_value"], made["actor"]) == (before, 2, "hannah-hr")
    stale = await api.ok("POST", "/calibrations/autumn-eng/adjustments", 409, json=justified)
    assert "review the current score" in stale["detail"]
    second = justified | {"new_value": 2.5, "seen_value": 2, "justification": "Agreed at 2.5"}
    await api.ok(
        "POST",
        "/calibrations/autumn-eng/adjustments",
        201,
        json=second,
        headers=api.as_("hr-omar", "hr_admin"),
    )
    # Another subject after emp-a's two: an adjustment reads its own subject's ratings only.
    other = {"subject": "emp-b", "competency": item, "new_value": 3, "justification": "Agreed"}
    await api.ok("POST", "/calibrations/autumn-eng/adjustments", 201, json=other)

    summary = await api.ok("POST", "/calibrations/autumn-eng/complete")
    assert summary == opened | {"completed": True, "adjustments": 3}
    assert await api.ok("GET", "/calibrations/autumn-eng") == summary
    published = [json.loads(p) for p in await public_payloads(api)]
    [event] = [e for e in published if e["event_type"] == "CalibrationCompleted"]
    completed = (await api.completed("autumn-eng")).model_dump(mode="json")
    scores = {s["subject"]: s["scores"] for s in completed["scores"]}
    assert sorted(scores) == SUBJECTS
    assert (scores["emp-a"][item], scores["emp-b"][item]) == (2.5, 3)
    assert [
        (a["old_value"], a["new_value"], a["actor"], a["justification"])
        for a in completed["adjustments"]
    ] == [
        (before, 2, "hannah-hr", "Peer scores were inflated by one lenient rater"),
        (2, 2.5, "hr-omar", "Agreed at 2.5"),
        (completed["adjustments"][2]["old_value"], 3, "hannah-hr", "Agreed"),
    ]
    assert (completed["framework_id"], completed["framework_version"]) == ("eng", 1)
    assert completed["session_id"] == "autumn-eng"
    assert {s["subject"]: s["position"] for s in completed["scores"]}["emp-a"] == [
        "eng",
        "ic",
        "L3",
    ]
    await api.ok("POST", "/calibrations/autumn-eng/complete", 409)
    await api.ok("POST", "/calibrations/autumn-eng/adjustments", 409, json=second)
    # What the other services receive names each adjustment's own actor, not the completer.
    assert event["payload"]["adjustments"][1]["actor"] == "hr-omar"
    assert event["actor"] == "hannah-hr"


async def test_completion_publishes_what_the_framework_should_look_at(
    api: AssessmentApi,
) -> None:
    """docs/assessment.md, Findings for the framework: the peers mark the first item not
    relevant to the role, the manager and the lenient rater rate it 5 for everyone (half the
    ratings or more on the top of the scale), and the second item is rated 1 and 4 by the
    manager and the lenient rater: inconsistent for every subject."""
    items = await open_campaign(api, "winter", SUBJECTS, [*PEERS, LENIENT])
    first, second = items[0], items[1]
    for subject in SUBJECTS:
        await rate(api, "winter", subject, MANAGER, {first: 5, second: 1})
        await rate(api, "winter", subject, LENIENT, {first: 5, second: 4})
        for peer in PEERS:
            answers = [
                {"item": first, "value": None, "not_relevant": True},
                {"item": second, "value": None},
            ]
            await api.ok(
                "PUT",
                f"/campaigns/winter/submissions/{subject}",
                json={"answers": answers, "final": True},
                headers=api.as_(peer, "employee"),
            )
    both = {"item": first, "value": 3, "not_relevant": True}
    refused = await api.ok(
        "PUT",
        f"/campaigns/winter/submissions/{SUBJECTS[0]}",
        422,
        json={"answers": [both]},
        headers=api.as_(MANAGER, "manager"),
    )
    assert "marked not relevant and rated 3" in json.dumps(refused)
    await api.ok("POST", "/campaigns/winter/close")
    await api.ok("POST", "/calibrations", 201, json={"id": "winter-eng", "campaign_id": "winter"})
    await api.ok("POST", "/calibrations/winter-eng/complete")

    published = [json.loads(p) for p in await public_payloads(api)]
    [event] = [e["payload"] for e in published if e["event_type"] == "AnchorFindingsRecorded"]
    assert (event["framework_id"], event["framework_version"]) == ("eng", 1)
    role = {"family": "eng", "track": "ic", "level": "L3"}
    findings = {(f["kind"], f["competency"]): f for f in event["anchors"]}
    assert findings["inconsistent_use", second] == {
        "kind": "inconsistent_use",
        "competency": second,
        **role,
        "items": 5,
        "flagged": 5,
    }
    assert findings["leniency_clustering", first] == {
        "kind": "leniency_clustering",
        "competency": first,
        **role,
        "items": 10,
        "flagged": 10,
    }
    assert event["not_relevant"] == [{"competency": first, **role, "marked": 15, "answered": 25}]
    use = {u["competency"]: u for u in event["use"]}
    assert (use[first]["subjects"], use[first]["unscored"]) == (5, 0)
    assert use[first]["at_target"] == 5, "5 is the top of the scale: every target is met"


# The manager's comment, written as a spreadsheet formula that would open a link.
FORMULA = '=HYPERLINK("http://evil.example/","clear designs")'


def export_text(response: Any) -> str:
    assert response.status_code == 200, response.text
    return response.text


async def test_small_peer_groups_never_leave_the_service_and_large_ones_only_as_a_mean(
    api: AssessmentApi,
) -> None:
    """docs/domain.md §3, Anonymity: with 2 peer responses and threshold 3, the subject's view,
    export and every event payload contain no peer rating or comment; at 3 they contain only
    the aggregate."""
    subject = "emp-a"
    me = api.as_(subject, "employee")
    views: dict[str, Any] = {}
    for campaign, responding in (("small", PEERS[:2]), ("large", PEERS)):
        items = await open_campaign(api, campaign, [subject], PEERS)
        await rate(api, campaign, subject, MANAGER, dict.fromkeys(items, 4), FORMULA)
        for n, peer in enumerate(responding):
            # Peers rate 1 and 2, never the manager's 4, so any trace of them shows.
            values = dict.fromkeys(items, 1 + n % 2)
            await rate(api, campaign, subject, peer, values, f"{campaign} peer remark {n}")
        await api.ok("POST", f"/campaigns/{campaign}/close")
        await api.ok("POST", "/calibrations", 201, json={"id": campaign, "campaign_id": campaign})
        await api.ok("POST", f"/calibrations/{campaign}/complete")
        completed = (await api.completed(campaign)).model_dump(mode="json")

        view = await api.client.get(f"/campaigns/{campaign}/results/me", headers=me)
        assert view.status_code == 200, view.text
        views[campaign] = view.json()["items"]
        exports = [
            export_text(
                await api.client.get(
                    f"/campaigns/{campaign}/results/me/export?format={fmt}", headers=me
                )
            )
            for fmt in ("csv", "json")
        ]
        events = await public_payloads(api)
        for text in [view.text, *exports, *events]:
            for peer in PEERS:
                assert peer not in text, f"{peer} identified in {text[:300]}"
        for text in events:
            assert "peer remark" not in text, "comments never leave the service"
        peers_view = [
            {g["group"]: g for g in result["groups"]}["peer"] for result in views[campaign]
        ]
        rows = list(csv.DictReader(io.StringIO(exports[0])))
        # A comment a spreadsheet would run is exported as text (an apostrophe before it).
        assert {r["comments"] for r in rows if r["group"] == "manager"} == {"'" + FORMULA}
        peer_rows = [r for r in rows if r["group"] == "peer"]
        calibrated = {v for scores in completed["scores"] for v in scores["scores"].values()}
        if campaign == "small":
            for text in [view.text, *exports]:
                assert "peer remark" not in text
            assert all(g["suppressed"] and g["mean"] is None for g in peers_view)
            assert all(g["comments"] == [] and g["responses"] is None for g in peers_view)
            assert {(r["suppressed"], r["mean"], r["comments"]) for r in peer_rows} == {
                ("True", "", "")
            }
            assert calibrated == {4}, "the calibrated score carries no suppressed peer rating"
            assert {float(r["overall"]) for r in rows} == {4.0}
        else:
            mean = (1 + 2 + 1) / 3
            assert [g["mean"] for g in peers_view] == [pytest.approx(mean)] * len(items)
            assert {g["responses"] for g in peers_view} == {3}
            assert {tuple(g["comments"]) for g in peers_view} == {
                ("large peer remark 0", "large peer remark 1", "large peer remark 2")
            }, "comments of a large enough group, sorted so their order names no one"
            overall = (0.4 * 4 + 0.3 * mean) / 0.7
            assert [pytest.approx(overall)] == list(calibrated)

    # HR sees group means and counts for calibration, still without a rater id.
    hr_view = await api.client.get("/campaigns/small/results?subject=emp-a", headers=api.hr)
    assert hr_view.status_code == 200, hr_view.text
    assert not [p for p in PEERS if p in hr_view.text]
    await api.ok("GET", "/campaigns/small/results", 403, headers=me)
    # The manager sees their report's results as the report does; nobody else does.
    as_manager = api.as_(MANAGER, "manager")
    assert await api.items("/campaigns/small/results/emp-a", headers=as_manager) == views["small"]
    await api.ok("GET", "/campaigns/small/results/emp-a", 403, headers=api.as_("emp-b", "employee"))
