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
