"""The framework service on PostgreSQL through its HTTP API (docs/domain.md §2).

Drafts, publication, authorisation, as-of queries, diffs, effective profiles, file import and
export; and that draft edits never leave the service while published versions do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from faststream.nats import NatsBroker
from pydantic import BaseModel

from libs.events.relay import OutboxRelay
from libs.events.schemas.framework import Anchor, Framework, SubSkill
from libs.events.subjects import EVENT_STREAM
from services.framework.adapters.files import native
from services.framework.adapters.postgres.work import Database
from services.framework.application.frameworks import Frameworks
from services.framework.application.upkeep import Upkeep
from tests.support.envelopes import envelope
from tests.support.framework_api import SCHEMA, FrameworkApi, framework_api
from tests.support.sample_frameworks import (
    WIDE_POLICY,
    anchors,
    anchors_found_inconsistent,
    assessed_per_sub_skill,
    findings_on_version_1,
    reword_anchor,
    valid_framework,
    wide_framework,
    with_family_anchor,
    with_sub_skill,
)

ID = "eng"


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[FrameworkApi]:
    async with framework_api(database_url, tmp_path / "keys") as api:
        yield api


def body(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def reworded(framework: Framework, text: str, competency: int = 0) -> Framework:
    """A competency's first anchor reworded: a minor revision."""
    chosen = framework.competencies[competency]
    anchor = chosen.anchors[0]
    return reword_anchor(framework, chosen.key, anchor.track, anchor.proficiency, text)


def anchor_path(framework: Framework, competency: int) -> str:
    chosen = framework.competencies[competency]
    anchor = chosen.anchors[0]
    return f"competencies[{chosen.key}].anchors[{anchor.track}/{anchor.proficiency}].text"


async def publish(api: FrameworkApi, framework: Framework) -> dict[str, Any]:
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=body(framework))
    return await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={})


async def test_drafts_are_hr_admin_only_and_published_versions_are_for_everyone(
    api: FrameworkApi,
) -> None:
    """docs/domain.md §2, Versions; authorisation: hr_admin edits, publishes, sees drafts."""
    framework = valid_framework()
    await api.ok("PUT", f"/frameworks/{ID}/draft", 403, json=body(framework), headers=api.employee)
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=body(framework))
    await api.ok("GET", f"/frameworks/{ID}/draft", 403, headers=api.employee)
    await api.ok("GET", f"/frameworks/{ID}/published", 404, headers=api.employee)
    await api.ok("POST", f"/frameworks/{ID}/versions", 403, json={}, headers=api.employee)
    published = await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={})
    assert (published["version"], published["revision"]) == (1, "initial")
    read = await api.ok("GET", f"/frameworks/{ID}/published", headers=api.employee)
    assert Framework.model_validate(read["framework"]) == framework
    assert read["actor"] == "hannah-hr", "every command carries the actor who issued it"
    response = await api.client.get(f"/frameworks/{ID}/published")
    assert response.status_code == 401


async def test_a_refused_publication_names_the_rule_and_publishes_nothing(
    api: FrameworkApi,
) -> None:
    """docs/domain.md §2 Role profile: breaking a cap fails with the role, rule and numbers."""
    framework = valid_framework()
    role = framework.roles[0]
    extra = [
        c for c in framework.competencies if c.key not in {q.competency for q in role.requirements}
    ]
    crowded = role.model_copy(
        update={
            "requirements": role.requirements
            + [
                q.model_copy(update={"competency": c.key})
                for q in role.requirements[:1]
                for c in extra
            ]
        }
    )
    broken = framework.model_copy(update={"roles": [crowded, *framework.roles[1:]]})
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=body(broken))
    response = await api.client.post(f"/frameworks/{ID}/versions", json={}, headers=api.hr)
    assert response.status_code == 422, response.text
    rules = {p["rule"] for p in response.json()["problems"] if p["severity"] == "error"}
    assert "role-cap" in rules
    assert role.key in response.json()["detail"]
    await api.ok("GET", f"/frameworks/{ID}/versions", 404)
    stream = await api.store.read_stream(f"framework-{ID}")
    assert [e.event_type for e in stream] == ["FrameworkDraftReplaced"]


async def test_a_framework_of_wide_roles_publishes_once_hr_moves_its_policy(
    api: FrameworkApi,
) -> None:
    """docs/domain.md §2, Policy: roles of 15 competencies, managers in a family of their own.
    Refused under the default policy, naming rule, role and numbers; published once the draft's
    policy allows it, with each departure reported; the next version's diff shows the policy.
    The managers' family words an anchor its own way, and its published profiles carry it."""
    wording = "Keeps two teams told of what the other decided."
    wide = with_family_anchor(wide_framework(), "communication", "em", "manager", 2, wording)
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=body(wide))
    refused = await api.ok("POST", f"/frameworks/{ID}/versions", 422, json={})
    caps = [(p["rule"], p["role"]) for p in refused["problems"] if p["severity"] == "error"]
    assert caps == [
        *(("role-cap", f"eng-l{g}") for g in range(1, 5)),
        ("role-cap", "em-m1"),
        ("role-cap", "em-m2"),
    ]
    assert (
        "[role-cap] role 'em-m1' (em manager M1) has 15 competencies; the cap for managers is 10"
        in refused["detail"]
    )
    settings = f"/frameworks/{ID}/draft/settings"
    bad = await api.ok("PATCH", settings, 422, json={"policy": {"role_caps": {"manager": 99}}})
    assert bad["detail"][0]["loc"] == ["body", "policy", "role_caps", "manager"]
    policy = WIDE_POLICY.model_dump(mode="json")
    draft = await api.ok("PATCH", settings, json={"policy": policy})
    assert draft["framework"]["policy"] == policy
    first = await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={})
    assert [(w["rule"], w["path"]) for w in first["warnings"]] == [
        ("policy", "policy.role_caps.individual_contributor"),
        ("policy", "policy.role_caps.manager"),
        ("policy", "policy.role_caps.director"),
        ("policy", "policy.functional_per_family_max"),
    ]
    read = await api.ok("GET", f"/frameworks/{ID}/published", headers=api.employee)
    assert Framework.model_validate(read["framework"]).policy == WIDE_POLICY

    async def communication(role: str) -> dict[str, str] | None:
        profile = await api.ok("GET", f"/frameworks/{ID}/published/roles/{role}")
        found = next(q for q in profile["requirements"] if q["competency"] == "communication")
        return found["anchors"]

    em_reads = await communication("em-m1")
    assert em_reads is not None
    assert em_reads["2"] == wording
    assert await communication("eng-l2") is None, "eng's roles read the common anchors"

    await api.ok(
        "PATCH",
        settings,
        json={"policy": {**policy, "role_caps": {**policy["role_caps"], "director": 16}}},
    )
    second = await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={})
    assert (second["version"], second["revision"]) == (2, "major")
    params = {"from_version": 1, "to_version": 2}
    changes = (await api.ok("GET", f"/frameworks/{ID}/diff", params=params))["changes"]
    assert changes == [
        {
            "path": "policy.role_caps.director",
            "change": "changed",
            "before": 15,
            "after": 16,
        }
    ]


async def test_as_of_queries_return_each_version_exactly_and_diffs_list_changed_anchors(
    api: FrameworkApi,
) -> None:
    """docs/domain.md §2 Versions: the version in force at any past date can be reconstructed."""
    versions = [valid_framework()]
    versions.append(reworded(versions[0], "Explains trade-offs plainly, in writing and aloud."))
    versions.append(reworded(versions[1], "Keeps promises or says early why not.", 1))
    instants: list[datetime] = []
    published = []
    for framework in versions:
        published.append(await publish(api, framework))
        instants.append(datetime.fromisoformat(published[-1]["published_at"]))
        await asyncio.sleep(0.01)
    assert [p["revision"] for p in published] == ["initial", "minor", "minor"]

    async def as_of(instant: datetime) -> Any:
        params = {"as_of": instant.isoformat()}
        return await api.client.get(
            f"/frameworks/{ID}/published", params=params, headers=api.employee
        )

    assert (await as_of(instants[0] - timedelta(microseconds=1))).status_code == 404
    naive = instants[1].astimezone(UTC).replace(tzinfo=None)
    found = await api.ok("GET", f"/frameworks/{ID}/published", params={"as_of": naive.isoformat()})
    assert found["version"] == 2, "an instant without a zone is read as UTC"
    for n, framework in enumerate(versions):
        for instant in (
            instants[n],
            instants[n] + (instants[n + 1] - instants[n]) / 2
            if n + 1 < len(instants)
            else instants[n] + timedelta(days=365),
        ):
            found = (await as_of(instant)).json()
            assert found["version"] == n + 1
            assert Framework.model_validate(found["framework"]) == framework
    history = await api.items(f"/frameworks/{ID}/versions", headers=api.employee)
    assert [(v["version"], v["actor"]) for v in history] == [
        (1, "hannah-hr"),
        (2, "hannah-hr"),
        (3, "hannah-hr"),
    ]

    async def changes(first: int, last: int) -> list[dict[str, Any]]:
        params = {"from_version": first, "to_version": last}
        return (await api.ok("GET", f"/frameworks/{ID}/diff", params=params))["changes"]

    assert [c["path"] for c in await changes(1, 2)] == [anchor_path(versions[0], 0)]
    assert [c["path"] for c in await changes(2, 3)] == [anchor_path(versions[0], 1)]
    both = await changes(1, 3)
    assert [c["path"] for c in both] == [anchor_path(versions[0], 0), anchor_path(versions[0], 1)]
    assert [(c["before"], c["after"]) for c in both] == [
        (versions[0].competencies[0].anchors[0].text, versions[2].competencies[0].anchors[0].text),
        (versions[0].competencies[1].anchors[0].text, versions[2].competencies[1].anchors[0].text),
    ]
    assert await changes(3, 1) == [
        {**c, "before": c["after"], "after": c["before"]} for c in both
    ], "a diff reads both ways"


async def test_effective_profiles_and_the_grid_show_where_each_competency_comes_from(
    api: FrameworkApi,
) -> None:
    """docs/domain.md §2 Deployment scopes and The grid."""
    framework = valid_framework()
    await publish(api, framework)
    role = framework.roles[-1]
    profile = await api.ok(
        "GET", f"/frameworks/{ID}/published/roles/{role.key}", headers=api.employee
    )
    origins = {q["competency"]: q["origins"] for q in profile["requirements"]}
    core = [r for r in framework.rules if r.scope == "core"]
    assert core, "the sample deploys core competencies by rule"
    for rule in core:
        assert f"core:{rule.key}" in origins[rule.competency]
    grid = await api.ok(
        "GET",
        f"/frameworks/{ID}/published/grid",
        params={"family": role.family, "track": role.track},
        headers=api.employee,
    )
    assert role.level in grid["levels"]
    assert all(role.level in grid["rows"][c] for c in origins)


async def test_files_export_and_import_back_identically(api: FrameworkApi) -> None:
    """docs/domain.md §2 Import and export: plain files without loss, a sub-skill's own
    anchors and the granularity included (the grid keeps them too)."""
    own = Anchor(track="manager", proficiency=3, text="Designs APIs others extend.", family="eng")
    apis = SubSkill(key="apis", name="Designs APIs", anchors=[*anchors("APIs", ["manager"]), own])
    framework = assessed_per_sub_skill(with_sub_skill(valid_framework(), "design", apis))
    await publish(api, framework)
    for fmt in ("yaml", "json"):
        exported = await api.response(
            "GET", f"/frameworks/{ID}/published/export", params={"format": fmt}
        )
        imported = await api.ok(
            "POST",
            f"/frameworks/{ID}-copy/draft/import",
            params={"source": f"exported.{fmt}"},
            content=exported.text,
            headers={**api.hr, "Content-Type": "text/plain"},
        )
        assert Framework.model_validate(imported["draft"]["framework"]) == framework
    grid = await api.response("GET", f"/frameworks/{ID}/published/export", params={"format": "csv"})
    assert grid.headers["content-type"].startswith("text/csv")
    imported = await api.ok(
        "POST",
        f"/frameworks/{ID}-grid/draft/import",
        params={"source": "exported.csv"},
        content=grid.text,
        headers={**api.hr, "Content-Type": "text/plain"},
    )
    from_grid = Framework.model_validate(imported["draft"]["framework"])
    assert from_grid.granularity == "sub_skill"
    design = from_grid.competency("design")
    assert design is not None
    assert design.sub_skills == [apis]


async def test_a_bad_file_is_refused_with_file_line_and_field_and_leaves_the_draft_alone(
    api: FrameworkApi,
) -> None:
    framework = valid_framework()
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=body(framework))
    text = native.dump(framework, ID, "yaml").replace("grade: 2", "grade: two", 1)
    response = await api.client.post(
        f"/frameworks/{ID}/draft/import",
        params={"source": "broken.yaml"},
        content=text,
        headers={**api.hr, "Content-Type": "text/plain"},
    )
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]["issues"]
    assert issue["file"] == "broken.yaml"
    assert (
        issue["line"]
        == text.splitlines().index(next(line for line in text.splitlines() if "grade: two" in line))
        + 1
    )
    assert issue["field"].endswith(".grade")
    draft = await api.ok("GET", f"/frameworks/{ID}/draft")
    assert Framework.model_validate(draft["framework"]) == framework


async def test_element_edits_and_pushes_are_events_of_the_draft(api: FrameworkApi) -> None:
    """docs/domain.md §2 Deployment scopes: push is a one-time assignment to explicit roles."""
    framework = valid_framework()
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=body(framework))
    competency = framework.competencies[-1]
    renamed = competency.model_copy(update={"name": competency.name + " (renamed)"})
    draft = await api.ok(
        "PUT", f"/frameworks/{ID}/draft/competencies/{competency.key}", json=body(renamed)
    )
    assert Framework.model_validate(draft["framework"]).competency(competency.key) == renamed
    await api.ok("PUT", f"/frameworks/{ID}/draft/competencies/other-key", 422, json=body(renamed))
    role = framework.roles[0]
    pushed = await api.ok(
        "POST",
        f"/frameworks/{ID}/draft/pushes",
        json={"competency": competency.key, "target": 2, "roles": [role.key]},
    )
    assert competency.key not in {q.competency for q in role.requirements}
    after = Framework.model_validate(pushed["framework"]).role(role.key)
    assert after is not None
    assert [q.origin for q in after.requirements if q.competency == competency.key] == ["push"]
    await api.ok("DELETE", f"/frameworks/{ID}/draft/roles/nobody", 404)
    types = [e.event_type for e in await api.store.read_stream(f"framework-{ID}")]
    assert types == ["FrameworkDraftReplaced", "CompetencyDefined", "CompetencyPushed"]


async def test_concurrent_edits_of_one_draft_cannot_both_land(api: FrameworkApi) -> None:
    framework = valid_framework()
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=body(framework))
    responses = await asyncio.gather(
        *(
            api.client.put(f"/frameworks/{ID}/draft", json=body(framework), headers=api.hr)
            for _ in range(8)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}
    assert 200 in statuses
    stream = await api.store.read_stream(f"framework-{ID}")
    assert len(stream) == 1 + statuses.count(200), "a refused edit wrote nothing"


async def test_published_versions_cannot_be_changed_in_the_database(
    api: FrameworkApi, database_url: str
) -> None:
    await publish(api, valid_framework())
    with (
        psycopg.connect(database_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(f"UPDATE {SCHEMA}.published_versions SET revision = 'major'")


async def test_draft_edits_stay_in_the_service_and_publications_reach_the_broker(
    api: FrameworkApi, broker: NatsBroker
) -> None:
    """Drafts are visible to hr_admin only, so their events are never relayed."""
    framework = valid_framework()
    await publish(api, framework)
    await api.ok("PATCH", f"/frameworks/{ID}/draft/settings", json={"description": "draft only"})
    relay = OutboxRelay(api.store, broker)
    while await relay.relay_once():
        pass
    js = broker.connection.jetstream()
    info = await js.stream_info(EVENT_STREAM)
    subjects = []
    sub = await js.pull_subscribe("talentledger.>", stream=EVENT_STREAM)
    for message in await sub.fetch(info.state.messages, timeout=5):
        subjects.append(message.subject)
    assert subjects[0] == "talentledger.framework.framework_published.v6"
    assert set(subjects[1:]) == {"talentledger.framework.role_profile_changed.v2"}
    assert len(subjects) == 1 + len(framework.roles)
    assert await relay.checkpoint() == (await api.store.read_log())[-1].global_position


async def test_settings_are_checked_like_the_framework_and_a_bad_edit_writes_nothing(
    api: FrameworkApi,
) -> None:
    """No edit may leave a draft that a later publication or reader cannot read."""
    framework = valid_framework()
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=body(framework))
    settings = f"/frameworks/{ID}/draft/settings"
    refused = await api.ok("PATCH", settings, 422, json={"description": "x" * 5000})
    assert refused["detail"][0]["loc"] == ["body", "description"]  # the schema states the limit
    await api.ok("PATCH", settings, 422, json={"name": None})
    changed = await api.ok("PATCH", settings, json={"scale": "1..5", "taxonomy": "Skills"})
    assert (changed["framework"]["scale"], changed["framework"]["taxonomy"]) == ("1..5", "Skills")
    types = [e.event_type for e in await api.store.read_stream(f"framework-{ID}")]
    assert types == ["FrameworkDraftReplaced", "FrameworkSettingsChanged"]


async def test_a_file_names_its_framework_when_no_id_is_given(api: FrameworkApi) -> None:
    text = native.dump(valid_framework(), "named-in-file", "yaml")
    imported = await api.ok(
        "POST",
        "/frameworks/import",
        params={"source": "whatever.yaml"},
        content=text,
        headers={**api.hr, "Content-Type": "text/plain"},
    )
    assert imported["framework_id"] == "named-in-file"
    await api.ok("GET", "/frameworks/named-in-file/draft")


async def test_anchors_calibration_found_inconsistent_wait_for_the_next_revision(
    api: FrameworkApi,
) -> None:
    """docs/domain.md §4: inconsistent anchors feed the next minor framework revision. The
    assessment service's InconsistentAnchorsFound lands in a worklist HR reads, once."""
    found = anchors_found_inconsistent(ID)
    database = Database(api.store)
    consume = database.consumer(Frameworks(api.store, database).on_inconsistent_anchors)
    for _ in range(2):  # the same finding delivered twice is recorded once
        async with api.store.transaction() as conn:
            await consume(conn, envelope(found, "calibration-autumn"), found)
    listed = await api.items(f"/frameworks/{ID}/anchor-reviews")
    assert [(r["competency"], r["share"]) for r in listed] == [("design", 0.6), ("testing", 0.2)]
    assert await api.items(f"/frameworks/{ID}/anchor-reviews?since_version=2") == []
    await api.ok("GET", f"/frameworks/{ID}/anchor-reviews", 403, headers=api.employee)


async def test_calibration_findings_become_revision_items_a_rewording_resolves(
    api: FrameworkApi,
) -> None:
    """docs/framework.md, Upkeep: the assessment service's AnchorFindingsRecorded, delivered
    twice, raises one item per anchor; the next version rewording coding's L3 anchor
    resolves its item; the health report counts it and names the unused competency."""
    await api.ok("GET", f"/frameworks/{ID}/health", 404)
    first = valid_framework()
    await publish(api, first)
    found = findings_on_version_1(ID)
    database = Database(api.store)
    consume = database.consumer(Upkeep(database).on_anchor_findings)
    for _ in range(2):  # delivered twice, recorded once
        async with api.store.transaction() as conn:
            await consume(conn, envelope(found, "calibration-autumn-eng"), found)
    await publish(
        api, reword_anchor(first, "coding", "ic", 3, "Ships a change of a few modules, tested.")
    )

    items = await api.items(f"/frameworks/{ID}/revision-items")
    assert [(i["kind"], i["anchor"]["competency"], i["resolved_in_version"]) for i in items] == [
        ("outliers", "testing", None),
        ("inconsistent_use", "coding", 2),
    ]
    resolved = await api.items(f"/frameworks/{ID}/revision-items?resolved_in=2")
    assert [i["anchor"] for i in resolved] == [
        {"competency": "coding", "track": "ic", "proficiency": 3, "family": None, "sub_skill": None}
    ]
    assert len(await api.items(f"/frameworks/{ID}/revision-items?state=open")) == 1
    report = await api.ok("GET", f"/frameworks/{ID}/health")
    assert (report["campaign_id"], report["framework_version"]) == ("autumn", 1)
    assert (report["anchors_revised"], report["open_items"], report["resolved_items"]) == (
        1,
        1,
        1,
    )
    assert report["no_gap_data"][0]["competency"] == "testing"
    assert report["not_relevant"][0]["marked"] == 6
    await api.ok("GET", f"/frameworks/{ID}/health?campaign_id=spring", 404)
    await api.ok("GET", f"/frameworks/{ID}/health?campaign_id=Not%20a%20slug", 422)
    for route in ("health", "revision-items"):
        await api.ok("GET", f"/frameworks/{ID}/{route}", 403, headers=api.employee)
