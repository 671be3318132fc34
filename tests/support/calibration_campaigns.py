"""A campaign in the assessment service's HTTP API with real raters, for calibration tests:
subjects under one manager and peers from another department, nominated and approved
through the API, then rating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.events.schemas.hris import EmployeeHired
from tests.support.assessment_api import AssessmentApi
from tests.support.replica_seeding import hired

MANAGER = "emp-lead"
SUBJECTS = ["emp-a", "emp-b", "emp-c", "emp-d", "emp-e"]
PEERS = ["emp-p1", "emp-p2", "emp-p3"]
LENIENT = "emp-kind"
# What each subject deserves, per competency index, as the fair peers see it.
BASE = {"emp-a": 2, "emp-b": 3, "emp-c": 1, "emp-d": 2, "emp-e": 3}


def staff() -> list[EmployeeHired]:
    """The subjects, their manager, and peers who work elsewhere: they rate the subjects only
    once nominated and approved."""
    return [
        hired(MANAGER, None, "manager", "M1"),
        *(hired(s, MANAGER, "ic", "L3") for s in SUBJECTS),
        hired("emp-other-lead", None, "manager", "M2", department="Insights"),
        *(hired(p, "emp-other-lead", "ic", "L3", department="Insights") for p in [*PEERS, LENIENT]),
    ]


async def open_campaign(
    api: AssessmentApi, campaign: str, subjects: list[str], peers: list[str]
) -> list[str]:
    """Open a campaign, nominate and approve `peers` for every subject; the items asked."""
    await api.ok(
        "POST",
        "/campaigns",
        201,
        json={
            "id": campaign,
            "framework_id": "eng",
            "framework_version": 1,
            "closes_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "employee_ids": subjects,
            "settings": {"peers": {"minimum": 2, "maximum": 5}},
        },
    )
    manager = api.as_(MANAGER, "manager")
    for subject in subjects:
        for peer in peers:
            by = api.as_(subject, "employee")
            nomination = {"subject": subject, "peer": peer}
            await api.ok(
                "POST", f"/campaigns/{campaign}/nominations", 201, json=nomination, headers=by
            )
            await api.ok(
                "POST",
                f"/campaigns/{campaign}/nominations/{subject}/{peer}",
                json={"approve": True},
                headers=manager,
            )
    form = await api.ok(
        "GET", f"/campaigns/{campaign}/questionnaires/{subjects[0]}", headers=manager
    )
    return [item["id"] for item in form["items"]]


async def rate(
    api: AssessmentApi,
    campaign: str,
    subject: str,
    rater: str,
    values: dict[str, int | None],
    comment: str | None = None,
) -> None:
    answers = [{"item": i, "value": v, "comment": comment} for i, v in values.items()]
    await api.ok(
        "PUT",
        f"/campaigns/{campaign}/submissions/{subject}",
        json={"answers": answers, "final": True},
        headers=api.as_(rater, "employee"),
    )
