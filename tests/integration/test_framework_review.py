"""Co-authoring and review of a framework's draft on PostgreSQL through the HTTP API
(docs/domain.md §2, Authoring; docs/framework.md, Co-authoring and review): contributors
edit only their sections, anyone invited comments, a review round of 3 to 5 reviewers
approves, publishing needs the approvals the policy asks for and the version names who
approved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libs.events.registry import registry
from libs.events.schemas.framework import FrameworkPublished, SubSkill
from services.framework.application import frameworks
from tests.support.framework_api import FrameworkApi, framework_api
from tests.support.sample_frameworks import anchors, valid_framework, with_sub_skill

ID = "eng"
DRAFT = f"/frameworks/{ID}/draft"
REVIEWERS = ["rita", "rob", "ravi"]
# a sub-skill with anchors of its own on the IC track, for reviewers to comment on
REVIEWS = SubSkill(key="reviews", name="Reviews code", anchors=anchors("Reviews", ["ic"]))


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[FrameworkApi]:
    async with framework_api(database_url, tmp_path / "keys") as api:
        yield api


async def started(api: FrameworkApi) -> None:
    """A framework started in the service (asking for 3 approvals), then filled in."""
    created = await api.ok("POST", "/frameworks", 201, json={"id": ID, "name": "Engineering"})
    assert created["framework"]["policy"]["approvals_required"] == 3
    filled = with_sub_skill(valid_framework(), "coding", REVIEWS)
    silent = filled.model_dump(mode="json", exclude={"policy": {"approvals_required"}})
    replaced = await api.ok("PUT", DRAFT, json=silent)
    assert replaced["framework"]["policy"]["approvals_required"] == 3, "the body says nothing"


async def verdict(api: FrameworkApi, reviewer: str, verdict: str, status: int = 201) -> Any:
    who = api.as_(reviewer, "manager" if reviewer != "rob" else "employee")
    read = await api.ok("GET", DRAFT, headers=who)
    body = {"verdict": verdict, "comment": f"{reviewer}: {verdict}", "draft_version": 0}
    body["draft_version"] = read["stream_version"]
    return await api.ok("POST", f"{DRAFT}/review/verdicts", status, json=body, headers=who)


async def test_a_review_round_from_invitation_to_the_published_version(
    api: FrameworkApi,
) -> None:
    await started(api)
    mia, cas = api.as_("mia", "manager"), api.as_("cas", "employee")
    eve = api.as_("eve", "employee")
    invite = f"{DRAFT}/contributors"
    await api.ok("POST", invite, 201, json={"contributor": "mia", "section": {"family": "eng"}})
    section = {"competencies": ["collaboration"]}
    await api.ok("POST", invite, 201, json={"contributor": "cas", "section": section})
    await api.ok("POST", invite, 403, json={"contributor": "x", "section": section}, headers=mia)
    await api.ok("POST", invite, 404, json={"contributor": "x", "section": {"family": "sales"}})
    listed = await api.items(invite)
    assert [(c["contributor"], c["sections"]) for c in listed] == [
        ("mia", [{"family": "eng", "competencies": []}]),
        ("cas", [{"family": None, "competencies": ["collaboration"]}]),
    ], "in the order first invited"

    # A contributor edits their section, as themself; elsewhere 403 naming the section.
    framework = valid_framework()
    role = framework.roles[0].model_dump(mode="json") | {"name": "Engineer I"}
    await api.ok("PUT", f"{DRAFT}/roles/eng-l1", json=role, headers=mia)
    [collaboration] = [c for c in framework.competencies if c.key == "collaboration"]
    core = collaboration.model_dump(mode="json") | {"description": "Works with others."}
    refused = await api.ok(
        "PUT", f"{DRAFT}/competencies/collaboration", 403, json=core, headers=mia
    )
    assert refused["section"] == "competency 'collaboration'"
    assert refused["your_sections"] == ["family 'eng'"]
    assert "'mia' may edit only their sections" in refused["detail"]
    await api.ok("PUT", f"{DRAFT}/competencies/collaboration", json=core, headers=cas)
    refused = await api.ok("DELETE", f"{DRAFT}/roles/eng-l2", 403, headers=cas)
    assert refused["section"] == "family 'eng'"
    rule = framework.rules[0].model_dump(mode="json")
    await api.ok("PUT", f"{DRAFT}/rules/{rule['key']}", 403, json=rule, headers=mia)
    await api.ok("PATCH", f"{DRAFT}/settings", 403, json={"name": "x"}, headers=mia)
    await api.ok("POST", f"/frameworks/{ID}/versions", 403, json={}, headers=mia)
    # Someone not invited reads and writes nothing of the draft.
    await api.ok("GET", DRAFT, 403, headers=eve)
    await api.ok("PUT", f"{DRAFT}/roles/eng-l1", 403, json=role, headers=eve)
    await api.ok("GET", DRAFT, 403, headers=api.as_("aud", "auditor"))
    read = await api.ok("GET", DRAFT, headers=mia)
    assert read["framework"]["roles"][0]["name"] == "Engineer I"
    stream = await api.store.read_stream(f"framework-{ID}")
    assert [(e.event_type, e.actor) for e in stream[-2:]] == [
        ("RoleProfileDefined", "mia"),
        ("CompetencyDefined", "cas"),
    ], "edits carry their author"

    # Anyone invited comments on an element; the others may not.
    anchor = "competencies[coding].anchors[ic/3]"
    note = {"element": anchor, "text": "Is this L3 or L4?"}
    await api.ok("POST", f"{DRAFT}/comments", 201, json=note, headers=mia)
    await api.ok("POST", f"{DRAFT}/comments", 403, json=note, headers=eve)
    await api.ok("GET", f"{DRAFT}/comments", 403, headers=eve)
    unknown = {"element": "roles[sales-1]", "text": "?"}
    await api.ok("POST", f"{DRAFT}/comments", 404, json=unknown, headers=mia)
    bad = await api.ok("POST", f"{DRAFT}/comments", 422, json={"element": "x", "text": "?"})
    assert "competencies[KEY]" in bad["detail"]
    # A sub-skill's own anchor is named as the diff names it; one it lacks is not found.
    own = "competencies[coding].sub_skills[reviews].anchors[ic/3]"
    await api.ok("POST", f"{DRAFT}/comments", 201, json={"element": own, "text": "Too vague."})
    missing = {"element": own.replace("ic/3", "manager/3"), "text": "?"}
    refused = await api.ok("POST", f"{DRAFT}/comments", 404, json=missing, headers=cas)
    assert "sub-skill 'coding/reviews' has no anchor" in refused["detail"]
    comments = await api.items(f"{DRAFT}/comments", headers=cas)
    assert [(c["author"], c["element"], c["text"]) for c in comments] == [
        ("mia", anchor, "Is this L3 or L4?"),
        ("hannah-hr", own, "Too vague."),
    ]

    # A review round names 3 to 5 reviewers.
    for named in (REVIEWERS[:2], [*REVIEWERS, "r4", "r5", "r6"]):
        refused = await api.ok("POST", f"{DRAFT}/review-rounds", 422, json={"reviewers": named})
        assert f"names 3 to 5 reviewers; {len(named)} named" in refused["detail"]
    rounds = f"{DRAFT}/review-rounds"
    await api.ok("POST", rounds, 403, json={"reviewers": REVIEWERS}, headers=mia)
    opened = await api.ok("POST", rounds, 201, json={"reviewers": REVIEWERS})
    assert (opened["round"], opened["approvals_required"]) == (1, 3)
    assert opened["not_approved"] == REVIEWERS

    # Too few approvals: refused, naming who has not approved.
    refused = await api.ok("POST", f"/frameworks/{ID}/versions", 409, json={})
    assert refused["not_approved"] == [
        {"reviewer": r, "status": "pending", "draft_version": None, "comment": None}
        for r in REVIEWERS
    ]
    await verdict(api, "rita", "approve")
    await verdict(api, "rob", "approve")
    await verdict(api, "ravi", "request_changes")
    await verdict(api, "mia", "approve", 403)  # a contributor, not a reviewer
    refused = await api.ok("POST", f"/frameworks/{ID}/versions", 409, json={})
    assert refused["approved_by"] == ["rita", "rob"]
    assert [(m["reviewer"], m["status"]) for m in refused["not_approved"]] == [
        ("ravi", "changes_requested")
    ]
    assert "needs 3 approvals" in refused["detail"]
    assert "ravi (changes requested)" in refused["detail"]

    # An edit after approvals: they covered another draft and no longer count.
    role["name"] = "Engineer 1"
    await api.ok("PUT", f"{DRAFT}/roles/eng-l1", json=role, headers=mia)
    review = await api.ok("GET", f"{DRAFT}/review", headers=api.as_("rita", "manager"))
    assert [r["status"] for r in review["reviewers"]] == [
        "approved_earlier_draft",
        "approved_earlier_draft",
        "changes_requested",
    ]
    stale = {"verdict": "approve", "comment": "ok", "draft_version": review["draft_version"] - 1}
    who = api.as_("rita", "manager")
    await api.ok("POST", f"{DRAFT}/review/verdicts", 409, json=stale, headers=who)
    no_comment = {"verdict": "approve", "comment": " ", "draft_version": review["draft_version"]}
    await api.ok("POST", f"{DRAFT}/review/verdicts", 422, json=no_comment, headers=who)
    for reviewer in ("ravi", "rob", "rita"):
        await verdict(api, reviewer, "approve")

    published = await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={})
    assert [a["reviewer"] for a in published["approvals"]] == REVIEWERS
    version = await api.ok("GET", f"/frameworks/{ID}/published", headers=api.employee)
    assert [a["reviewer"] for a in version["approvals"]] == REVIEWERS
    [history] = await api.items(f"/frameworks/{ID}/versions")
    assert [a["reviewer"] for a in history["approvals"]] == REVIEWERS
    await api.ok("GET", f"{DRAFT}/review", 404)  # the round ended with the publication
    # What the service holds of a reviewer names the round and the approval it recorded.
    officer = api.as_("pia-privacy", "privacy_officer")
    records = await api.ok("GET", f"/privacy/people/{REVIEWERS[0]}", headers=officer)
    [named] = [s["items"] for s in records["sections"] if "named them" in s["topic"]]
    assert {m["named_as"] for m in named} == {"reviewer", "approver"}

    log = await api.store.read_stream(f"authoring-{ID}")
    assert [(e.event_type, e.actor) for e in log] == [
        ("FrameworkContributorInvited", "hannah-hr"),
        ("FrameworkContributorInvited", "hannah-hr"),
        ("FrameworkDraftCommented", "mia"),
        ("FrameworkDraftCommented", "hannah-hr"),
        ("FrameworkReviewRoundOpened", "hannah-hr"),
        ("FrameworkReviewVerdictGiven", "rita"),
        ("FrameworkReviewVerdictGiven", "rob"),
        ("FrameworkReviewVerdictGiven", "ravi"),
        ("FrameworkReviewVerdictGiven", "ravi"),
        ("FrameworkReviewVerdictGiven", "rob"),
        ("FrameworkReviewVerdictGiven", "rita"),
        ("FrameworkReviewRoundClosed", "hannah-hr"),
    ]
    assert all(registry.is_private(e.event_type) for e in log), "drafts stay in the service"
    [published_event] = [
        e
        for e in await api.store.read_stream(f"framework-{ID}")
        if e.event_type == "FrameworkPublished"
    ]
    assert published_event.schema_version == FrameworkPublished.schema_version
    assert published_event.payload["approvals"], "the version records who approved it"


async def test_a_draft_that_asks_for_no_approvals_publishes_as_before(api: FrameworkApi) -> None:
    """An imported framework says nothing of approvals: 0, so it publishes without a round;
    HR may ask for approvals in its policy, and then publishing waits for them."""
    await api.ok("PUT", DRAFT, json=valid_framework().model_dump(mode="json"))
    first = await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={})
    assert first["approvals"] == []
    asked = await api.ok("PATCH", f"{DRAFT}/settings", json={"policy": {"approvals_required": 2}})
    assert asked["framework"]["policy"]["approvals_required"] == 2
    refused = await api.ok("POST", f"/frameworks/{ID}/versions", 409, json={})
    assert "no review round is open" in refused["detail"]
    await api.ok("POST", f"{DRAFT}/review-rounds", 201, json={"reviewers": REVIEWERS})
    await verdict(api, "rob", "approve")
    await verdict(api, "ravi", "approve")
    second = await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={})
    assert [a["reviewer"] for a in second["approvals"]] == ["rob", "ravi"]
    diff = await api.ok("GET", f"/frameworks/{ID}/diff?from_version=1&to_version=2")
    assert [(c["path"], c["before"], c["after"]) for c in diff["changes"]] == [
        ("policy.approvals_required", 0, 2)
    ]


async def test_a_verdict_landing_while_publishing_refuses_the_publication(
    api: FrameworkApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approvals counted are the ones in force when the version is written: a reviewer
    who withdraws their approval meanwhile makes the publication fail (409) and write
    nothing, and the next attempt counts them as they now stand."""
    await started(api)
    await api.ok("POST", f"{DRAFT}/review-rounds", 201, json={"reviewers": REVIEWERS})
    for reviewer in REVIEWERS:
        await verdict(api, reviewer, "approve")
    load = frameworks.load_authoring
    raced = []

    async def withdrawn_meanwhile(events: Any, framework_id: str) -> Any:
        state = await load(events, framework_id)
        if not raced:
            raced.append(await verdict(api, "rita", "request_changes"))
        return state

    monkeypatch.setattr(frameworks, "load_authoring", withdrawn_meanwhile)
    refused = await api.ok("POST", f"/frameworks/{ID}/versions", 409, json={})
    assert raced
    assert "not_approved" not in refused, "refused by the append, not by the count read"
    assert f"authoring-{ID}" in refused["detail"]
    await api.ok("GET", f"/frameworks/{ID}/versions", 404)
    types = [e.event_type for e in await api.store.read_stream(f"framework-{ID}")]
    assert "FrameworkPublished" not in types
    monkeypatch.undo()
    refused = await api.ok("POST", f"/frameworks/{ID}/versions", 409, json={})
    assert [(m["reviewer"], m["status"]) for m in refused["not_approved"]] == [
        ("rita", "changes_requested")
    ]
