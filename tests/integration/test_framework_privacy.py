"""Requests about a person to the framework service (docs/privacy.md, Requests): it holds
only what they changed and published, gives it to a privacy officer, and keeps it when they
are erased (the record of who changed a framework)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from libs.privacy.requests import NOT_AUTHORISED
from libs.workflows.messages import ErasureOrder
from services.framework.service import build
from tests.support.framework_api import framework_api
from tests.support.privacy import GRANT, OFFICER, erasure_of, erasure_requested
from tests.support.sample_frameworks import valid_framework

HR = "hannah-hr"  # who `api.hr` signs in as


async def test_a_privacy_officer_reads_what_a_person_changed_and_erasure_keeps_it(
    database_url: str, tmp_path: Path
) -> None:
    async with framework_api(database_url, tmp_path / "keys") as api:
        framework = valid_framework().model_dump(mode="json")
        await api.ok("PUT", "/frameworks/eng/draft", json=framework)
        await api.ok("POST", "/frameworks/eng/versions", 201, json={})
        path = f"/privacy/people/{HR}"
        officer = api.as_(OFFICER, "privacy_officer")
        records = await api.ok("GET", path, headers=officer)
        sections = {s["topic"]: s["items"] for s in records["sections"]}
        changes = sections["framework changes they made"]
        assert {c["framework_id"] for c in changes} == {"eng"}
        assert "FrameworkPublished" in {c["change"] for c in changes}
        [published] = sections["framework versions they published"]
        assert (published["framework_id"], published["version"]) == ("eng", 1)
        nobody = await api.ok("GET", f"/privacy/people/{OFFICER}", headers=officer)
        assert all(not s["items"] for s in nobody["sections"])
        for caller in (api.hr, api.as_(HR, "employee")):
            await api.ok("GET", path, 403, headers=caller)

        erase = erasure_of(build, api.store)
        await erasure_requested(api.store, "req-1", HR)
        order = ErasureOrder(request_ref="req-1", employee_id=HR, grant=GRANT)
        with pytest.raises(ApplicationError) as refused:
            await erase(order.model_copy(update={"grant": "guessed"}))
        assert refused.value.type == NOT_AUTHORISED
        for _ in range(2):
            done = await erase(order)
            assert (done.service, done.erased) == ("framework", {})
        assert await api.ok("GET", path, headers=officer) == records


async def test_a_raters_calibration_ratings_are_theirs_to_read(
    database_url: str, tmp_path: Path
) -> None:
    """Calibration before launch (docs/framework.md): the ratings a rater gave, revisions
    included, are in what the service holds of them, and of no one else."""
    async with framework_api(database_url, tmp_path / "keys") as api:
        framework = valid_framework().model_dump(mode="json")
        await api.ok("PUT", "/frameworks/eng/draft", json=framework)
        example = {"key": "ex-1", "competency": "coding", "track": "ic", "text": "Fixed it."}
        opening = {"id": "pre", "examples": [example], "raters": ["r-1", "r-2", "r-3"]}
        await api.ok("POST", "/frameworks/eng/prelaunch-calibrations", 201, json=opening)
        rating = "/frameworks/eng/prelaunch-calibrations/pre/examples/ex-1/rating"
        for value in (2, "cannot_tell"):
            await api.ok("PUT", rating, json={"rating": value}, headers=api.as_("r-1", "manager"))
        await api.ok("PUT", rating, json={"rating": 4}, headers=api.as_("r-2", "manager"))
        officer = api.as_(OFFICER, "privacy_officer")
        records = await api.ok("GET", "/privacy/people/r-1", headers=officer)
        sections = {s["topic"]: s["items"] for s in records["sections"]}
        given = sections["ratings they gave in calibrations before launch"]
        assert [(r["framework_id"], r["exercise_id"], r["example"]) for r in given] == [
            ("eng", "pre", "ex-1")
        ] * 2
        assert [r["rating"] for r in given] == [2, "cannot_tell"]
        hr = await api.ok("GET", f"/privacy/people/{HR}", headers=officer)
        assert not {s["topic"]: s["items"] for s in hr["sections"]}[
            "ratings they gave in calibrations before launch"
        ], "opening an exercise is a change HR made, not a rating"


async def test_what_someone_wrote_on_a_draft_is_theirs_to_read(
    database_url: str, tmp_path: Path
) -> None:
    """Co-authoring and review (docs/framework.md): a contributor's comments and a
    reviewer's verdicts, with what they wrote, are in what the service holds of them."""
    async with framework_api(database_url, tmp_path / "keys") as api:
        framework = valid_framework().model_dump(mode="json")
        await api.ok("PUT", "/frameworks/eng/draft", json=framework)
        invitation = {"contributor": "mia", "section": {"family": "eng"}}
        await api.ok("POST", "/frameworks/eng/draft/contributors", 201, json=invitation)
        reviewers = {"reviewers": ["rita", "rob", "ravi"]}
        await api.ok("POST", "/frameworks/eng/draft/review-rounds", 201, json=reviewers)
        note = {"element": "roles[eng-l1]", "text": "Scope reads small."}
        await api.ok(
            "POST",
            "/frameworks/eng/draft/comments",
            201,
            json=note,
            headers=api.as_("mia", "manager"),
        )
        rita = api.as_("rita", "manager")
        read = await api.ok("GET", "/frameworks/eng/draft", headers=rita)
        verdict = {"verdict": "request_changes", "comment": "L1 too wide.", "draft_version": 1}
        verdict["draft_version"] = read["stream_version"]
        await api.ok(
            "POST", "/frameworks/eng/draft/review/verdicts", 201, json=verdict, headers=rita
        )
        officer = api.as_(OFFICER, "privacy_officer")
        wrote = "comments and review verdicts they wrote on drafts"
        for person, expected in (
            ("mia", [("FrameworkDraftCommented", "roles[eng-l1]", None, "Scope reads small.")]),
            ("rita", [("FrameworkReviewVerdictGiven", None, "request_changes", "L1 too wide.")]),
        ):
            records = await api.ok("GET", f"/privacy/people/{person}", headers=officer)
            sections = {s["topic"]: s["items"] for s in records["sections"]}
            assert [
                (r["kind"], r["element"], r["verdict"], r["text"]) for r in sections[wrote]
            ] == (expected)
            changes = sections["framework changes they made"]
            assert [(c["framework_id"], c["change"]) for c in changes] == [("eng", expected[0][0])]
        named = "drafts whose authoring named them"
        for person, expected_mentions in (
            ("mia", [("FrameworkContributorInvited", "contributor")]),
            ("rob", [("FrameworkReviewRoundOpened", "reviewer")]),
        ):
            records = await api.ok("GET", f"/privacy/people/{person}", headers=officer)
            sections = {s["topic"]: s["items"] for s in records["sections"]}
            assert [(m["kind"], m["named_as"]) for m in sections[named]] == expected_mentions
        hr = await api.ok("GET", f"/privacy/people/{HR}", headers=officer)
        hr_changes = {s["topic"]: s["items"] for s in hr["sections"]}["framework changes they made"]
        assert {c["change"] for c in hr_changes} >= {
            "FrameworkContributorInvited",
            "FrameworkReviewRoundOpened",
        }
