"""Competencies by standard term across published frameworks, and two frameworks mapped to
each other by it, through the framework service's HTTP API on PostgreSQL (docs/domain.md §2,
Vocabulary; docs/framework.md, Standard terms)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libs.events.schemas.framework import Framework
from tests.support.framework_api import FrameworkApi, framework_api
from tests.support.sample_frameworks import replace_competency, valid_framework


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[FrameworkApi]:
    async with framework_api(database_url, tmp_path / "keys") as api:
        yield api


def termed(**terms: str) -> Framework:
    framework = valid_framework().model_copy(update={"taxonomy": "ESCO"})
    for key, term in terms.items():
        framework = replace_competency(framework, key, standard_term=term)
    return framework


async def publish(api: FrameworkApi, framework_id: str, framework: Framework) -> None:
    await api.ok("PUT", f"/frameworks/{framework_id}/draft", json=framework.model_dump(mode="json"))
    await api.ok("POST", f"/frameworks/{framework_id}/versions", 201, json={})


async def test_competencies_are_found_by_standard_term_in_each_frameworks_latest_version(
    api: FrameworkApi,
) -> None:
    await publish(api, "eng", termed(communication="Stakeholder Communication"))
    await publish(api, "eng", termed(communication="Written Communication"))
    await publish(api, "sales", termed(collaboration="stakeholder  communication"))
    await publish(api, "data", termed(testing="Stakeholder Communication"))
    found = await api.items("/competencies?standard_term=Stakeholder%20Communication%20")
    assert [
        (f["framework_id"], f["version"], f["competency"], f["name"], f["standard_term"])
        for f in found
    ] == [
        ("data", 1, "testing", "Testing", "Stakeholder Communication"),
        ("sales", 1, "collaboration", "Collaboration", "stakeholder  communication"),
    ], "eng's latest version maps communication elsewhere"
    assert {f["taxonomy"] for f in found} == {"ESCO"}
    written = await api.ok(
        "GET", "/competencies", params={"standard_term": "WRITTEN communication"}
    )
    assert [(f["framework_id"], f["version"]) for f in written["items"]] == [("eng", 2)]
    none = await api.ok("GET", "/competencies", params={"standard_term": "Negotiation"})
    assert none["items"] == []
    blank = await api.ok("GET", "/competencies", 422, params={"standard_term": "   "})
    assert "standard_term" in str(blank["detail"])


async def test_two_frameworks_are_mapped_by_standard_term_by_version(api: FrameworkApi) -> None:
    await publish(
        api,
        "acme",
        termed(communication="Stakeholder Communication", coding="Software Development"),
    )
    await publish(api, "acme", termed(coding="Software Development"))
    await publish(
        api,
        "globex",
        termed(
            collaboration="stakeholder communication",
            design="Software development",
            operations="Software Development",
        ),
    )
    mapping = await api.ok(
        "GET", "/frameworks/acme/standard-term-mapping", params={"other": "globex", "version": 1}
    )
    assert mapping["left_framework"] == {"framework_id": "acme", "version": 1, "taxonomy": "ESCO"}
    assert mapping["right_framework"]["version"] == 1
    pairs = [
        (
            m["standard_term"],
            [c["competency"] for c in m["left"]],
            [c["competency"] for c in m["right"]],
        )
        for m in mapping["matched"]
    ]
    assert pairs == [
        ("Stakeholder Communication", ["communication"], ["collaboration"]),
        ("Software Development", ["coding"], ["design", "operations"]),
    ]
    unmatched = {c["competency"] for c in mapping["unmatched_left"]}
    assert unmatched == {c.key for c in valid_framework().competencies} - {
        "communication",
        "coding",
    }
    latest = await api.ok(
        "GET", "/frameworks/acme/standard-term-mapping", params={"other": "globex"}
    )
    assert latest["left_framework"]["version"] == 2
    assert [m["standard_term"] for m in latest["matched"]] == ["Software Development"]
    assert "collaboration" in {c["competency"] for c in latest["unmatched_right"]}


async def test_unknown_frameworks_and_versions_are_404_and_bad_ids_422(api: FrameworkApi) -> None:
    await publish(api, "acme", termed())
    route = "/frameworks/acme/standard-term-mapping"
    missing = await api.ok("GET", route, 404, params={"other": "nowhere"})
    assert "nowhere" in missing["detail"]
    await api.ok("GET", route, 404, params={"other": "acme", "other_version": 7})
    await api.ok("GET", route, 422, params={"other": "Not An Id"})
    await api.ok("GET", route, 422)


async def test_only_hr_and_auditors_look_terms_up(api: FrameworkApi) -> None:
    await publish(api, "acme", termed(coding="Software Development"))
    auditor = api.as_("aude", "auditor")
    params = {"standard_term": "software development"}
    assert len((await api.ok("GET", "/competencies", params=params, headers=auditor))["items"]) == 1
    route = "/frameworks/acme/standard-term-mapping"
    await api.ok("GET", route, params={"other": "acme"}, headers=auditor)
    for headers in (api.employee, api.as_("max", "manager"), api.as_("ivy", "integration")):
        refused = await api.ok("GET", "/competencies", 403, params=params, headers=headers)
        assert "auditor" in refused["detail"]
        await api.ok("GET", route, 403, params={"other": "acme"}, headers=headers)
