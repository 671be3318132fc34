"""360 campaigns through the assessment service's HTTP API, on PostgreSQL (docs/domain.md §3).

Opening a campaign on a framework version the service holds, raters from the org chart,
submissions recorded once and refused with every problem named, closing, and results the
subject sees without any rater being identifiable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from libs.events.schemas.hris import EmployeeLeft, EmployeeManagerChanged, EmployeeRoleChanged
from tests.support.assessment_api import AssessmentApi, assessment_api
from tests.support.replica_seeding import change, hired
from tests.support.sample_frameworks import valid_framework

CAMPAIGN = "spring-360"
BOSS, SUBJECT, REPORT_1, REPORT_2, OUTSIDER = "emp-boss", "emp-mgr", "emp-r1", "emp-r2", "emp-x"
ITEMS = ["design", "collaboration", "ownership", "communication", "coaching"]


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[AssessmentApi]:
    async with assessment_api(database_url, tmp_path / "keys") as api:
        await api.publish("eng", 1, valid_framework())
        await api.hire(
            hired(BOSS, None, "manager", "M2"),
            hired(SUBJECT, BOSS, "manager", "M1"),
            hired(REPORT_1, SUBJECT, "ic", "L2"),
            hired(REPORT_2, SUBJECT, "ic", "L3"),
            hired(OUTSIDER, BOSS, "ic", "L1", department="Insights"),
            hired("emp-odd", BOSS, "ic", "L9"),  # a level the framework does not have
        )
        yield api


def new_campaign(**population: Any) -> dict[str, Any]:
    closes_at = datetime.now(UTC) + timedelta(days=14)
    return {
        "id": CAMPAIGN,
        "framework_id": "eng",
        "framework_version": 1,
        "closes_at": closes_at.isoformat(),
        **population,
    }


def answers(value: int | None, comment: str | None = None) -> dict[str, Any]:
    return {"answers": [{"item": i, "value": value, "comment": comment} for i in ITEMS]}


async def submit(
    api: AssessmentApi, rater: str, body: dict[str, Any], status: int = 200, subject: str = SUBJECT
) -> Any:
    path = f"/campaigns/{CAMPAIGN}/submissions/{subject}"
    return await api.ok("PUT", path, status, json=body, headers=api.as_(rater, "employee"))


async def test_raters_submit_once_and_the_subject_sees_small_groups_suppressed(
    api: AssessmentApi,
) -> None:
    employee = api.as_(REPORT_1, "employee")
    await api.ok("POST", "/campaigns", 403, json=new_campaign(), headers=employee)
    opened = await api.ok("POST", "/campaigns", 201, json=new_campaign(department="Platform"))
    assert opened["population"] == sorted([BOSS, SUBJECT, REPORT_1, REPORT_2, "emp-odd"])

    mine = await api.items(f"/campaigns/{CAMPAIGN}/assignments/mine", headers=employee)
    assert {(a["subject"], a["group"]) for a in mine} == {
        (REPORT_1, "self"),
        (SUBJECT, "direct_report"),
    }
    asked = await api.ok("GET", f"/campaigns/{CAMPAIGN}/questionnaires/{SUBJECT}", headers=employee)
    assert [i["id"] for i in asked["items"]] == ITEMS
    assert asked["role"] == "eng-m1"
    outsider = api.as_(OUTSIDER, "employee")
    await api.ok("GET", f"/campaigns/{CAMPAIGN}/questionnaires/{SUBJECT}", 403, headers=outsider)

    assert (await submit(api, BOSS, answers(4, "boss says clear")))["recorded"] is True
    assert (await submit(api, REPORT_1, answers(1, "report one's remark")))["recorded"] is True
    assert (await submit(api, REPORT_1, answers(1, "report one's remark")))["recorded"] is False
    await submit(api, REPORT_2, answers(5, "report two's remark") | {"final": True})
    stream = await api.store.read_stream(f"campaign-{CAMPAIGN}:subject-{SUBJECT}")
    recorded = [e for e in stream if e.event_type == "SubmissionRecorded"]
    assert len(recorded) == 3, "the same submission twice is recorded once"
    assert [e.actor for e in recorded] == [BOSS, REPORT_1, REPORT_2], "who submitted"
    announced = [e.model_dump_json() for e in stream if e.event_type == "AssessmentSubmitted"]
    assert len(announced) == 3
    assert not [e for e in announced if REPORT_1 in e or REPORT_2 in e], (
        "the public event, envelope included, names no rater"
    )
    publics = [e for e in stream if e.event_type == "AssessmentSubmitted"]
    assert {e.actor for e in publics} == {"service:assessment"}
    assert [e.causation_id for e in publics] == [e.event_id for e in recorded]

    me = api.as_(SUBJECT, "manager")
    await api.ok("GET", f"/campaigns/{CAMPAIGN}/results/me", 409, headers=me)
    await api.ok("GET", f"/campaigns/{CAMPAIGN}/non-responders", 403, headers=employee)
    waiting = await api.items(f"/campaigns/{CAMPAIGN}/non-responders")
    assert {(a["subject"], a["rater"]) for a in waiting} >= {(SUBJECT, BOSS), (SUBJECT, REPORT_1)}
    assert (SUBJECT, REPORT_2) not in {(a["subject"], a["rater"]) for a in waiting}
    await api.ok("POST", f"/campaigns/{CAMPAIGN}/close", 403, headers=employee)
    closed = await api.ok("POST", f"/campaigns/{CAMPAIGN}/close")
    assert closed["submissions"] == 3

    late = await submit(api, REPORT_1, answers(3), 422)
    assert any("closed" in p for p in late["problems"]), late

    response = await api.client.get(f"/campaigns/{CAMPAIGN}/results/me", headers=me)
    assert response.status_code == 200, response.text
    for rater in (BOSS, REPORT_1, REPORT_2):
        assert rater not in response.text, "no rater id anywhere in the subject's results"
    assert "report one" not in response.text
    assert "report two" not in response.text
    results = response.json()["items"]
    assert [r["competency"] for r in results] == sorted(ITEMS)
    for result in results:
        groups = {g["group"]: g for g in result["groups"]}
        assert groups["manager"]["mean"] == 4
        assert groups["manager"]["comments"] == ["boss says clear"]
        reports = groups["direct_report"]
        assert reports == {
            "group": "direct_report",
            "suppressed": True,
            "mean": None,
            "responses": None,
            "comments": [],
            "suppressed_because": None,
        }, "2 direct reports are below the threshold of 3; the subject is not told why"
        assert result["overall"] == 4, "the suppressed group does not count in the overall"


async def test_refused_submissions_and_campaigns_name_the_problem(api: AssessmentApi) -> None:
    unknown_version = new_campaign(employee_ids=[SUBJECT]) | {"framework_version": 9}
    refused = await api.ok("POST", "/campaigns", 422, json=unknown_version)
    assert "version 9" in refused["detail"]
    refused = await api.ok("POST", "/campaigns", 422, json=new_campaign(employee_ids=["nobody"]))
    assert "nobody" in refused["detail"]
    await api.ok("POST", "/campaigns", 201, json=new_campaign(employee_ids=[SUBJECT, "emp-odd"]))
    again = await api.ok("POST", "/campaigns", 409, json=new_campaign(employee_ids=[SUBJECT]))
    assert "already open" in again["detail"]

    stranger = await submit(api, OUTSIDER, answers(3), 422)
    assert stranger["problems"] == [f"{OUTSIDER!r} is not an assigned rater of {SUBJECT!r}"]

    body = answers(3)
    body["answers"][0]["value"] = 7
    body["answers"].append({"item": "juggling", "value": 2})
    wrong = await submit(api, REPORT_1, body, 422)
    assert len(wrong["problems"]) == 2, "every problem at once"
    assert "'design': 7 is off the scale 0..5" in wrong["problems"][0]
    assert "unknown item 'juggling'" in wrong["problems"][1]

    no_profile = await submit(api, "emp-odd", answers(3), 422, subject="emp-odd")
    assert "no role profile" in no_profile["detail"]
    assert "eng/ic/L9" in no_profile["detail"]
    await submit(api, REPORT_1, answers(3), 404, subject=OUTSIDER)
    assert not [
        e
        for subject in (SUBJECT, "emp-odd")
        for e in await api.store.read_stream(f"campaign-{CAMPAIGN}:subject-{subject}")
        if e.event_type == "SubmissionRecorded"
    ], "nothing refused was recorded"


async def test_populations_by_job_family_and_reminders_to_those_who_owe(api: AssessmentApi) -> None:
    """docs/domain.md §3: a cycle runs for a department, a job family, a pilot group or everyone;
    reminders go to the non-responders, naming no one they rate."""
    await api.hire(hired("emp-ds", BOSS, "ic", "L2", department="Insights", job_family="data"))
    eng = await api.ok("POST", "/campaigns", 201, json=new_campaign(job_family="eng"))
    assert "emp-ds" not in eng["population"]
    assert OUTSIDER in eng["population"], "the job family spans departments"
    narrow = new_campaign(job_family="eng", department="Insights") | {"id": "insights-eng"}
    assert (await api.ok("POST", "/campaigns", 201, json=narrow))["population"] == [OUTSIDER]
    nobody = new_campaign(job_family="sales") | {"id": "sales"}
    assert "job family 'sales'" in (await api.ok("POST", "/campaigns", 422, json=nobody))["detail"]
    both = new_campaign(employee_ids=[SUBJECT], department="Platform") | {"id": "both"}
    await api.ok("POST", "/campaigns", 422, json=both)

    await submit(api, REPORT_1, answers(3) | {"final": True})
    await api.ok("POST", f"/campaigns/{CAMPAIGN}/reminders", 403, headers=api.employee)
    sent = await api.ok("POST", f"/campaigns/{CAMPAIGN}/reminders")
    owed = {r["rater"]: r["pending"] for r in sent["raters"]}
    assert REPORT_1 in owed, "still owes their self-assessment"
    assert owed[REPORT_1] == 1, "the finalised one is not owed"
    assert owed[SUBJECT] == 4, "themself, their two reports and their own manager"
    [event] = [
        e
        for e in await api.store.read_stream(f"campaign-{CAMPAIGN}")
        if e.event_type == "RemindersSent"
    ]
    assert event.actor == "hannah-hr"


async def test_a_campaign_keeps_the_positions_it_opened_with_and_counts_current_raters(
    api: AssessmentApi,
) -> None:
    """docs/domain.md §3: the questionnaire comes from the role profile the person is assessed
    in; a move during the campaign changes neither it nor the scores' role. A former
    manager's submission stops counting once another manager rates: the manager group is
    one person."""

    def ic_answers(value: int) -> dict[str, Any]:
        items = ["coding", "testing", "collaboration", "ownership", "communication"]
        return {"answers": [{"item": i, "value": value} for i in items]}

    await api.ok("POST", "/campaigns", 201, json=new_campaign(employee_ids=[REPORT_1]))
    await api.hire(hired("emp-newboss", BOSS, "manager", "M1"))
    await submit(api, SUBJECT, ic_answers(1), subject=REPORT_1)
    on = date(2026, 5, 1)
    await change(
        api.store,
        2,
        EmployeeRoleChanged(
            employee_id=REPORT_1,
            effective_on=on,
            department="Platform",
            job_family="eng",
            track="ic",
            level="L4",
        ),
        EmployeeManagerChanged(employee_id=REPORT_1, effective_on=on, manager_id="emp-newboss"),
    )
    asked = await api.ok(
        "GET", f"/campaigns/{CAMPAIGN}/questionnaires/{REPORT_1}", headers=api.as_(REPORT_1)
    )
    assert asked["role"] == "eng-l2", "assessed in the position the campaign opened with"
    former = await submit(api, SUBJECT, ic_answers(1) | {"final": True}, 422, subject=REPORT_1)
    assert former["problems"] == [f"{SUBJECT!r} is not an assigned rater of {REPORT_1!r}"]
    await submit(api, "emp-newboss", ic_answers(4), subject=REPORT_1)
    await api.ok("POST", f"/campaigns/{CAMPAIGN}/close")
    [subject] = await api.items(f"/campaigns/{CAMPAIGN}/results?subject={REPORT_1}")
    assert subject["subject"] == REPORT_1
    managers = [g for r in subject["competencies"] for g in r["groups"] if g["group"] == "manager"]
    assert {(g["mean"], g["responses"]) for g in managers} == {(4, 1)}


async def test_deciding_a_peer_is_refused_to_others_before_anything_is_revealed(
    api: AssessmentApi,
) -> None:
    """docs/domain.md §3, Anonymity: nobody but the manager learns whom the subject may be rated
    by, not even from which refusal they get."""
    await api.ok("POST", "/campaigns", 201, json=new_campaign(department="Platform"))
    nomination = {"subject": REPORT_1, "peer": REPORT_2}
    path = f"/campaigns/{CAMPAIGN}/nominations"
    await api.ok("POST", path, 201, json=nomination, headers=api.as_(SUBJECT, "manager"))
    for peer in (REPORT_2, "emp-odd"):  # pending, and never nominated: the same answer
        decided = await api.ok(
            "POST",
            f"{path}/{REPORT_1}/{peer}",
            403,
            json={"approve": True},
            headers=api.as_(OUTSIDER),
        )
        assert "only the manager" in decided["detail"]
    mine = await api.items(f"{path}/{REPORT_1}", headers=api.as_(REPORT_1))
    assert mine == [], "the subject sees only the nominations they made"


async def test_a_report_who_leaves_after_the_close_changes_no_view_of_the_results(
    api: AssessmentApi,
) -> None:
    """The leaver attack (docs/domain.md §3, Anonymity), through the API on PostgreSQL: were
    groups recomputed from the org chart, the manager's manager would read the direct-report
    mean with and without the leaver and learn the leaver's own ratings. Every view (the
    subject's, their manager's, HR's) reads the same before and after."""
    await api.hire(hired("emp-r3", SUBJECT, "ic", "L2"))
    await api.ok("POST", "/campaigns", 201, json=new_campaign(employee_ids=[SUBJECT]))
    for rater, value in ((REPORT_1, 1), (REPORT_2, 4), ("emp-r3", 5)):
        await submit(api, rater, answers(value, f"comment of {rater}") | {"final": True})
    await api.ok("POST", f"/campaigns/{CAMPAIGN}/close")

    async def every_view() -> list[Any]:
        return [
            await api.items(f"/campaigns/{CAMPAIGN}/results/me", headers=api.as_(SUBJECT)),
            await api.items(
                f"/campaigns/{CAMPAIGN}/results/{SUBJECT}", headers=api.as_(BOSS, "manager")
            ),
            await api.items(f"/campaigns/{CAMPAIGN}/results?subject={SUBJECT}"),
        ]

    before = await every_view()
    reports = [g for v in before[0] for g in v["groups"] if g["group"] == "direct_report"]
    assert [(g["mean"], g["responses"]) for g in reports] == [(pytest.approx(10 / 3), 3)] * len(
        reports
    )
    await change(api.store, 2, EmployeeLeft(employee_id=REPORT_1, effective_on=date(2026, 6, 1)))
    assert await every_view() == before


# Who rates the two managers of the Platform department (asked about `ITEMS`): each
# themself, their manager and their reports.
MANAGERS_RATED = [
    (SUBJECT, SUBJECT),
    (SUBJECT, BOSS),
    (SUBJECT, REPORT_1),
    (SUBJECT, REPORT_2),
    (BOSS, BOSS),
    (BOSS, SUBJECT),
]


async def test_raters_of_one_subject_submitting_at_once_are_each_recorded_once(
    api: AssessmentApi,
) -> None:
    """Commands about one subject race for its stream: each loser decides again on fresh
    state, so every revision lands once, in a stream without gaps."""
    await api.ok("POST", "/campaigns", 201, json=new_campaign(department="Platform"))
    raters = [SUBJECT, BOSS, REPORT_1, REPORT_2]
    for value in (2, 4, 5):
        sent = [submit(api, rater, answers(value)) for rater in raters]
        assert [r["recorded"] for r in await asyncio.gather(*sent)] == [True] * len(raters)
    stream = await api.store.read_stream(f"campaign-{CAMPAIGN}:subject-{SUBJECT}")
    assert [e.stream_version for e in stream] == list(range(1, len(stream) + 1))
    recorded = [e for e in stream if e.event_type == "SubmissionRecorded"]
    assert sorted((e.actor, e.payload["submission"]["answers"][0]["value"]) for e in recorded) == [
        (rater, value) for rater in sorted(raters) for value in (2, 4, 5)
    ]
    assert sum(e.event_type == "AssessmentSubmitted" for e in stream) == len(recorded)
    closed = await api.ok("POST", f"/campaigns/{CAMPAIGN}/close")
    assert closed["submissions"] == len(raters), "one latest submission a rater"


async def test_a_close_racing_submissions_counts_exactly_those_it_let_through(
    api: AssessmentApi,
) -> None:
    """A submission either commits before the close, and is counted, or reads the campaign
    closed and is refused: none lands after it, none is lost."""
    await api.ok("POST", "/campaigns", 201, json=new_campaign(department="Platform"))
    half = len(MANAGERS_RATED) // 2

    async def send(subject: str, rater: str) -> httpx.Response:
        path = f"/campaigns/{CAMPAIGN}/submissions/{subject}"
        headers = api.as_(rater, "employee")
        return await api.client.put(path, json=answers(3), headers=headers)

    submissions = [send(subject, rater) for subject, rater in MANAGERS_RATED]
    close = api.response("POST", f"/campaigns/{CAMPAIGN}/close")
    *before, closing, after = await asyncio.gather(
        *submissions[:half], close, asyncio.gather(*submissions[half:])
    )
    answered = [*before, *after]
    assert {r.status_code for r in answered} <= {200, 422}, [r.text for r in answered]
    refused = [r.json() for r in answered if r.status_code == 422]
    assert all(any("closed" in p for p in r["problems"]) for r in refused), refused
    let_through = len(answered) - len(refused)
    assert closing.json()["submissions"] == let_through
    recorded = [
        e
        for subject in {s for s, _ in MANAGERS_RATED}
        for e in await api.store.read_stream(f"campaign-{CAMPAIGN}:subject-{subject}")
        if e.event_type == "SubmissionRecorded"
    ]
    assert len(recorded) == let_through
