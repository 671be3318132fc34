"""A campaign at sub-skill granularity end to end (docs/domain.md §2, Granularity; §4,
Roll-up; §5, Gaps; §6, Criteria): the framework, assessment, development and promotion
services run in-process with their consumers and outbox relays, each as its own NATS
identity, on the session's PostgreSQL and JetStream; the framework reaches the others and the
calibration reaches development and promotion only through the broker.

Framework eng, granularity `sub_skill` (every competency has sub-skills): coding asked as
two sub-skills (reviews, refactoring), every other competency as its one sub-skill, basics.
eng IC L3 targets coding 3, testing 3, collaboration, ownership and communication 2. Emp-a
and emp-b are rated by their manager and three peers (weights manager 0.4, peers' mean 0.3,
renormalised; a peer group is shown from 3 observed ratings, else the manager alone counts):

| item | emp-a: manager, peers | score | emp-b: manager, peers | score |
| --- | --- | --- | --- | --- |
| coding/reviews | 2, 2 2 2 | 2 | nobody observes it; calibration sets 3 | 3 |
| coding/refactoring | 4, 4 - - (peers hidden) | 4 | 2, 2 2 2 | 2 |
| coding (roll-up) | (2 + 4) / 2 | 3 | (3 + 2) / 2, after the adjustment | 2.5 |
| testing, collaboration, ownership, communication | 4, 4 4 4 | 4 | 3, 3 3 3 | 3 |

The last row is each competency's basics, and its roll-up. (Averaging each rater's
sub-skills first, as a competency item, would give emp-a's coding (0.4 x 3 + 0.3 x 7/3) / 0.7
= 2.71: the roll-up is of the calibrated sub-skill scores.)

Calibration adjusts emp-b's coding/reviews, a sub-skill; coding itself, which rolls up from
its sub-skills, is refused. Gaps (target - score): emp-a coding/reviews 1 (open),
coding/refactoring -1 (a strength); emp-b coding/reviews 0, coding/refactoring 1 (open),
testing 0. Emp-a's plan works on coding/reviews alone; emp-b's on coding/refactoring alone.
The heatmap is per competency: coding's cell rolls each person's sub-skills up, mean gap
((3 - 3) + (3 - 2.5)) / 2 = 0.25.

Promotion judges L3 -> L4 per competency on the rolled-up scores: emp-a's average over
coding, testing and the three core competencies is (3 + 4 x 4) / 5 = 3.8 (at least 3.5) and
nothing is below 3 (coding 3, though its reviews sub-skill scored 2); emp-b's coding 2.5
fails the floor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from faststream.nats import NatsBroker

from libs.events.envelope import EventMetadata
from libs.events.schemas.framework import Framework
from libs.personal.vault import MasterKeys
from libs.platform.runtime import ServiceDefinition
from services.assessment.application import calibration
from services.assessment.domain.calibration import Adjustment
from services.assessment.domain.calibration_sessions import ScoreAdjusted
from services.assessment.service import definition as assessment_definition
from services.development.service import definition as development_definition
from services.framework.service import definition as framework_definition
from services.promotion.service import definition as promotion_definition
from tests.support.assessment_api import AssessmentApi, assessment_api
from tests.support.backbone import eventually
from tests.support.calibration_campaigns import MANAGER, PEERS, open_campaign, staff
from tests.support.framework_api import FrameworkApi
from tests.support.replica_seeding import hire
from tests.support.sample_frameworks import valid_framework
from tests.support.servers import Nats
from tests.support.service_api import Api, ServiceApi, in_process

FRAMEWORK = "eng"
CAMPAIGN = "spring"
SESSION = "spring-eng"
ANN, BOB = "emp-a", "emp-b"
WHOLE = ("testing", "collaboration", "ownership", "communication")
# Per item: the manager's value and the peers' (None: not observed).
Answers = dict[str, tuple[int | None, list[int | None]]]
RATINGS: dict[str, Answers] = {
    ANN: {
        "coding/reviews": (2, [2, 2, 2]),
        "coding/refactoring": (4, [4, None, None]),
        **{f"{c}/basics": (4, [4, 4, 4]) for c in WHOLE},
    },
    BOB: {
        "coding/reviews": (None, [None, None, None]),
        "coding/refactoring": (2, [2, 2, 2]),
        **{f"{c}/basics": (3, [3, 3, 3]) for c in WHOLE},
    },
}


def sub_skill_framework() -> Framework:
    data = valid_framework().model_dump(mode="json")
    data["granularity"] = "sub_skill"
    for competency in data["competencies"]:
        competency["sub_skills"] = [{"key": "basics", "name": f"Shows {competency['name']}"}]
    coding = next(c for c in data["competencies"] if c["key"] == "coding")
    coding["sub_skills"] = [
        {"key": "reviews", "name": "Reviews others' changes to the point"},
        {"key": "refactoring", "name": "Refactors to keep the next change cheap"},
    ]
    return Framework.model_validate(data)


@dataclass
class Services:
    framework: FrameworkApi
    assessment: AssessmentApi
    development: ServiceApi
    promotion: ServiceApi


@pytest.fixture
async def services(
    database_url: str, tmp_path: Path, nats: Nats, broker: NatsBroker
) -> AsyncIterator[Services]:
    """The four services on one database, each with its consumers and relay on the broker
    (which made the streams afresh), sharing the personal data master keys, as deployed."""
    master = MasterKeys.generate()

    def serving(api: type[Api], service: ServiceDefinition) -> AbstractAsyncContextManager[Api]:
        return in_process(
            api,
            service.build,
            service.name,
            service.migrations,
            database_url,
            tmp_path / "keys",
            nats=nats,
            master=master,
        )

    async with (
        serving(FrameworkApi, framework_definition) as framework,
        serving(AssessmentApi, assessment_definition) as assessment,
        serving(ServiceApi, development_definition) as development,
        serving(ServiceApi, promotion_definition) as promotion,
    ):
        yield Services(framework, assessment, development, promotion)


async def submit(api: AssessmentApi, subject: str) -> None:
    for n, rater in enumerate([MANAGER, *PEERS]):
        answers = [
            {"item": item, "value": manager if rater == MANAGER else peers[n - 1]}
            for item, (manager, peers) in RATINGS[subject].items()
        ]
        await api.ok(
            "PUT",
            f"/campaigns/{CAMPAIGN}/submissions/{subject}",
            json={"answers": answers, "final": True},
            headers=api.as_(rater, "manager" if rater == MANAGER else "employee"),
        )


def rounded(value: float | None) -> float | None:
    """Scores are means of whole numbers: 3.0000000000000004 reads 3."""
    return None if value is None else round(value, 9)


def scores_of(scored: dict[str, Any], field: str) -> dict[str, float | None]:
    return {key: rounded(score) for key, score in scored[field].items()}


def rows(found: dict[str, Any]) -> list[tuple[str, str | None, float | None, float | None]]:
    return [
        (g["competency"], g["sub_skill"], rounded(g["current"]), rounded(g["gap"]))
        for g in found["gaps"]
    ]


def role_profiles_held(database_url: str, api: ServiceApi) -> int:
    """The role profiles the service's replica holds: a version is used once whole."""
    schema = api.client.base_url.host
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {schema}.role_profiles").fetchone()
    return row[0] if row else 0


async def test_sub_skill_gaps_and_actions_and_a_promotion_judged_per_competency(
    services: Services, database_url: str
) -> None:
    framework = sub_skill_framework()
    await services.framework.ok(
        "PUT", f"/frameworks/{FRAMEWORK}/draft", json=framework.model_dump(mode="json")
    )
    await services.framework.ok("POST", f"/frameworks/{FRAMEWORK}/versions", 201, json={})
    for api in (services.assessment, services.development, services.promotion):

        async def arrived(api: ServiceApi = api) -> bool:
            known = await api.items("/framework-versions")
            held = [(v["framework_id"], v["version"]) for v in known] == [(FRAMEWORK, 1)]
            return held and role_profiles_held(database_url, api) == len(framework.roles)

        await eventually(arrived, 30, "framework version 1 and its role profiles everywhere")
    for api in (services.assessment, services.development, services.promotion):
        await hire(api.store, *staff())

    assessment = services.assessment
    items = await open_campaign(assessment, CAMPAIGN, [ANN, BOB], PEERS)
    assert sorted(items) == sorted(RATINGS[ANN])
    for subject in (ANN, BOB):
        await submit(assessment, subject)
    await assessment.ok("POST", f"/campaigns/{CAMPAIGN}/close")
    await assessment.ok("POST", "/calibrations", 201, json={"id": SESSION, "campaign_id": CAMPAIGN})
    adjustments = f"/calibrations/{SESSION}/adjustments"
    adjustment = {"subject": BOB, "new_value": 3, "justification": "Reviews in the write-ups"}
    refused = await assessment.client.post(
        adjustments, json={**adjustment, "competency": "coding"}, headers=assessment.hr
    )
    assert refused.status_code == 422, refused.text
    assert "adjust one of ['coding/refactoring', 'coding/reviews']" in refused.text
    await assessment.ok(
        "POST", adjustments, 201, json={**adjustment, "competency": "coding/reviews"}
    )
    await assessment.ok("POST", f"/calibrations/{SESSION}/complete")
    completed = (await assessment.completed(SESSION)).model_dump(mode="json")
    scores = {s["subject"]: s for s in completed["scores"]}
    basics = [f"{c}/basics" for c in WHOLE]
    assert scores_of(scores[ANN], "sub_skills") == {
        "coding/refactoring": 4.0,
        "coding/reviews": 2.0,
        **dict.fromkeys(basics, 4.0),
    }
    assert scores_of(scores[ANN], "scores") == {"coding": 3.0, **dict.fromkeys(WHOLE, 4.0)}
    assert scores_of(scores[BOB], "sub_skills") == {
        "coding/refactoring": 2.0,
        "coding/reviews": 3.0,
        **dict.fromkeys(basics, 3.0),
    }
    assert scores_of(scores[BOB], "scores") == {"coding": 2.5, **dict.fromkeys(WHOLE, 3.0)}

    development = services.development

    async def gaps_of(subject: str) -> dict[str, Any] | None:
        answer = await development.client.get(f"/gaps/{subject}", headers=development.hr)
        return answer.json() if answer.status_code == 200 else None

    ann = await eventually(lambda: gaps_of(ANN), 30, "emp-a's gaps in development")
    assert rows(ann) == [
        ("coding", "reviews", 2.0, 1.0),
        ("coding", "refactoring", 4.0, -1.0),
        ("testing", "basics", 4.0, -1.0),
        ("collaboration", "basics", 4.0, -2.0),
        ("ownership", "basics", 4.0, -2.0),
        ("communication", "basics", 4.0, -2.0),
    ]
    bob = await gaps_of(BOB)
    assert bob is not None
    assert rows(bob)[:3] == [
        ("coding", "reviews", 3.0, 0.0),
        ("coding", "refactoring", 2.0, 1.0),
        ("testing", "basics", 3.0, 0.0),
    ]
    for subject, sub_skill in ((ANN, "coding/reviews"), (BOB, "coding/refactoring")):
        plan = await development.ok("GET", f"/plans/{subject}", headers=development.hr)
        on_the_job = [a for a in plan["actions"] if a["kind"] == "on_the_job"]
        assert len(on_the_job) == 7
        assert {a["competency"] for a in plan["actions"]} == {"coding"}
        assert all(sub_skill in a["description"] for a in plan["actions"])
    heatmap = await development.ok("GET", "/reports/gaps?format=json", headers=development.hr)
    coding = next(c for c in heatmap["cells"] if c["competency"] == "coding")
    assert (coding["people"], coding["observed"], rounded(coding["mean_gap"])) == (2, 2, 0.25)
    assert not any("/" in c["competency"] for c in heatmap["cells"])

    promotion = services.promotion

    async def readiness_of(subject: str) -> dict[str, Any] | None:
        answer = await promotion.client.get(f"/people/{subject}/readiness", headers=promotion.hr)
        return answer.json() if answer.status_code == 200 else None

    ready = await eventually(lambda: readiness_of(ANN), 30, "emp-a's scores in promotion")
    results = {r["name"]: r for r in ready["results"]}
    assert (results["average"]["met"], rounded(results["average"]["actual"])) == (True, 3.8)
    floors = {k: (r["met"], rounded(r["actual"])) for k, r in results.items() if "floor" in k}
    # Per competency, on the roll-up: coding 3 meets the floor, its reviews' 2 is not judged.
    assert floors == {
        "competency_floor:coding": (True, 3.0),
        **{f"competency_floor:{c}": (True, 4.0) for c in WHOLE},
    }
    not_ready = await readiness_of(BOB)
    assert not_ready is not None
    floor = next(r for r in not_ready["results"] if r["name"] == "competency_floor:coding")
    assert (floor["met"], rounded(floor["actual"])) == (False, 2.5)


async def test_a_session_adjusted_on_a_competency_before_sub_skills_were_scored_completes(
    database_url: str, tmp_path: Path
) -> None:
    """Upgrade: a session at sub-skill granularity whose stream holds an adjustment of
    emp-a's coding on its own key, appended as sessions made them before sub-skills were
    scored. It sets coding's rolled-up score, 2 instead of (2 + 4) / 2 = 3 (docs/domain.md
    §4, Roll-up): the session reviews, completes and exports; a new adjustment of coding
    stays refused."""
    async with assessment_api(database_url, tmp_path / "keys") as assessment:
        await assessment.publish(FRAMEWORK, 1, sub_skill_framework())
        await assessment.hire(*staff())
        await open_campaign(assessment, CAMPAIGN, [ANN, BOB], PEERS)
        for subject in (ANN, BOB):
            await submit(assessment, subject)
        await assessment.ok("POST", f"/campaigns/{CAMPAIGN}/close")
        await assessment.ok(
            "POST", "/calibrations", 201, json={"id": SESSION, "campaign_id": CAMPAIGN}
        )
        stream = calibration.stream_of(SESSION)
        store = assessment.store
        stored = Adjustment(
            subject=ANN,
            competency="coding",
            old_value=2.71,
            new_value=2,
            justification="Agreed before the upgrade",
            actor="hr-hana",
        )
        await store.append(
            stream,
            len(await store.read_stream(stream)),
            [ScoreAdjusted(session_id=SESSION, adjustment=stored, adjusted_at=datetime.now(UTC))],
            EventMetadata(actor="hr-hana"),
        )

        review = await assessment.ok("GET", f"/calibrations/{SESSION}/scores?subject={ANN}")
        scored = {s["competency"]: s for s in review["items"][0]["scores"]}
        assert (rounded(scored["coding"]["aggregated"]), scored["coding"]["calibrated"]) == (
            3.0,
            2.0,
        )
        assert scored["coding/reviews"]["calibrated"] == 2.0
        refused = await assessment.client.post(
            f"/calibrations/{SESSION}/adjustments",
            json={"subject": ANN, "competency": "coding", "new_value": 3, "justification": "j"},
            headers=assessment.hr,
        )
        assert refused.status_code == 422, refused.text

        await assessment.ok("POST", f"/calibrations/{SESSION}/complete")
        completed = (await assessment.completed(SESSION)).model_dump(mode="json")
        ann = next(s for s in completed["scores"] if s["subject"] == ANN)
        assert scores_of(ann, "scores") == {"coding": 2.0, **dict.fromkeys(WHOLE, 4.0)}
        assert scores_of(ann, "sub_skills")["coding/refactoring"] == 4.0
        assert [a["competency"] for a in completed["adjustments"]] == ["coding"]
        assert (await assessment.ok("GET", f"/calibrations/{SESSION}"))["completed"]
        officer = assessment.as_("olga-privacy", "privacy_officer")
        found = await assessment.ok("GET", f"/privacy/people/{ANN}", headers=officer)
        [section] = [s for s in found["sections"] if s["topic"] == "calibration"]
        coding = next(i for i in section["items"] if i["competency"] == "coding")
        assert (coding["calibrated"], coding["adjustments"][0]["justification"]) == (
            2.0,
            "Agreed before the upgrade",
        )
