"""A completed calibration's scores exported keyed by standard term, through the assessment
service's HTTP API on PostgreSQL (docs/domain.md §2, Vocabulary; docs/assessment.md,
Calibration): the framework version the campaign is pinned to arrives as FrameworkPublished
carrying standard terms; two competencies on one term merge into the mean of their
calibrated scores, a competency without a term is listed apart, and an anonymous group under
the threshold counts no more than in the calibrated scores themselves."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libs.events.store import EventStore
from tests.support.assessment_api import AssessmentApi, assessment_api
from tests.support.calibration_campaigns import MANAGER, PEERS, open_campaign, rate, staff
from tests.support.sample_frameworks import valid_framework, with_standard_terms

SUBJECTS = ["emp-a", "emp-b"]
# Written as a spreadsheet formula: the CSV must hand it over as text.
TAXONOMY = '=HYPERLINK("http://evil.example/","ESCO")'
# coding and testing map to one term (written two ways), collaboration to another;
# ownership and communication to none.
TERMS = {
    "coding": "Software development",
    "testing": "software  Development",
    "collaboration": "Teamwork",
}
EXPORT = "/calibrations/spring/standard-term-export"


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[AssessmentApi]:
    async with assessment_api(database_url, tmp_path / "keys") as api:
        await api.publish("eng", 1, with_standard_terms(valid_framework(), TERMS, TAXONOMY))
        await api.hire(*staff())
        yield api


async def items_of(api: AssessmentApi, subject: str) -> dict[str, str]:
    """The subject's questionnaire: item id by competency."""
    form = await api.ok(
        "GET",
        f"/campaigns/spring/questionnaires/{subject}",
        headers=api.as_(MANAGER, "manager"),
    )
    return {item["competency"]: item["id"] for item in form["items"]}


async def test_calibrated_scores_merge_by_standard_term_and_the_unmapped_stay_apart(
    api: AssessmentApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    await open_campaign(api, "spring", SUBJECTS, PEERS)
    a, b = [await items_of(api, s) for s in SUBJECTS]
    assert sorted(a) == ["coding", "collaboration", "communication", "ownership", "testing"]
    # emp-a: two peers of three answer, under the threshold of 3: their 1s never count.
    manager_a = {"coding": 4, "testing": 2, "collaboration": 3, "ownership": 3, "communication": 3}
    await rate(api, "spring", "emp-a", MANAGER, {a[c]: v for c, v in manager_a.items()})
    for peer in PEERS[:2]:
        await rate(api, "spring", "emp-a", peer, dict.fromkeys(a.values(), 1))
    # emp-b: the three peers count; nobody observed testing or communication.
    manager_b = {"coding": 3, "testing": None, "collaboration": 2, "ownership": 4}
    peers_b = {"coding": 2, "testing": None, "collaboration": 2, "ownership": None}
    manager_b["communication"] = peers_b["communication"] = None
    await rate(api, "spring", "emp-b", MANAGER, {b[c]: v for c, v in manager_b.items()})
    for peer in PEERS:
        await rate(api, "spring", "emp-b", peer, {b[c]: v for c, v in peers_b.items()})
    await api.ok("POST", "/campaigns/spring/close")
    await api.ok("POST", "/calibrations", 201, json={"id": "spring", "campaign_id": "spring"})
    adjustment = {
        "subject": "emp-a",
        "competency": "testing",
        "new_value": 3,
        "justification": "Testing seen on the release work",
    }
    await api.ok("POST", "/calibrations/spring/adjustments", 201, json=adjustment)

    refused = await api.ok("GET", EXPORT, 409)
    assert "not completed" in refused["detail"], "a session in progress is no final score"
    await api.ok("POST", "/calibrations/spring/complete")

    # The session's stream is read once: at 10,000 people its CalibrationCompleted is 1.9 MB.
    streams: list[str] = []
    read_stream = EventStore.read_stream

    async def counted(store: EventStore, stream_id: str, **kwargs: Any) -> Any:
        streams.append(stream_id)
        return await read_stream(store, stream_id, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(EventStore, "read_stream", counted)
        found = await api.ok("GET", f"{EXPORT}?format=json")
    assert streams.count("calibration-spring") == 1
    assert (found["framework_id"], found["framework_version"]) == ("eng", 1)
    assert found["taxonomy"] == TAXONOMY
    terms = [
        (t["subject"], t["standard_term"], t["score"], t["scored"], t["competencies"])
        for t in found["terms"]
    ]
    # emp-a: coding 4 (the manager alone), testing adjusted 2 -> 3: (4 + 3) / 2 = 3.5.
    # emp-b: coding (0.4 * 3 + 0.3 * 2) / 0.7 = 18/7, testing unobserved: 18/7 over one.
    assert terms == [
        ("emp-a", "Teamwork", pytest.approx(3.0), 1, ["collaboration"]),
        ("emp-a", "Software development", pytest.approx(3.5), 2, ["coding", "testing"]),
        ("emp-b", "Teamwork", pytest.approx(2.0), 1, ["collaboration"]),
        ("emp-b", "Software development", pytest.approx(18 / 7), 1, ["coding", "testing"]),
    ]
    unmapped = [(u["subject"], u["competency"], u["score"]) for u in found["unmapped"]]
    assert unmapped == [
        ("emp-a", "ownership", pytest.approx(3.0)),
        ("emp-a", "communication", pytest.approx(3.0)),
        ("emp-b", "ownership", pytest.approx(4.0)),
        ("emp-b", "communication", None),
    ]

    response = await api.response("GET", EXPORT)
    assert response.headers["content-type"].startswith("text/csv")
    for peer in PEERS:
        assert peer not in response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["taxonomy"] for r in rows} == {"'" + TAXONOMY}, "formula-safe"
    assert [
        (r["subject"], r["kind"], r["standard_term"], r["score"], r["scored"], r["competencies"])
        for r in rows
    ] == [
        ("emp-a", "term", "Teamwork", "3.0", "1", "collaboration"),
        ("emp-a", "term", "Software development", "3.5", "2", "coding testing"),
        ("emp-b", "term", "Teamwork", "2.0", "1", "collaboration"),
        ("emp-b", "term", "Software development", "2.57", "1", "coding testing"),
        ("emp-a", "unmapped", "", "3.0", "1", "ownership"),
        ("emp-a", "unmapped", "", "3.0", "1", "communication"),
        ("emp-b", "unmapped", "", "4.0", "1", "ownership"),
        ("emp-b", "unmapped", "", "", "0", "communication"),
    ]

    one = await api.ok("GET", f"{EXPORT}?format=json&standard_term=SOFTWARE%20%20development")
    assert [(t["subject"], t["score"]) for t in one["terms"]] == [
        ("emp-a", pytest.approx(3.5)),
        ("emp-b", pytest.approx(18 / 7)),
    ]
    assert one["unmapped"] == []

    unknown = await api.ok("GET", f"{EXPORT}?standard_term=Leadership", 422)
    assert "'Teamwork', 'Software development'" in unknown["detail"]
    await api.ok("GET", f"{EXPORT}?format=xlsx", 422)
    missing = await api.ok("GET", "/calibrations/autumn/standard-term-export", 404)
    assert "'autumn' not found" in missing["detail"]
    await api.ok("GET", EXPORT, 403, headers=api.as_(MANAGER, "manager"))
    await api.ok("GET", EXPORT, 403, headers=api.as_("emp-a", "employee"))
