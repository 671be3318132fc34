"""Calibration findings reach the framework's upkeep across real services (docs/domain.md §2,
Upkeep; docs/framework.md, Upkeep after each cycle; docs/assessment.md, Findings for the
framework).

The framework and assessment services run in-process with their consumers and outbox relays,
each as its own NATS identity, on the session's PostgreSQL and JetStream: the framework HR
publishes reaches the assessment service only through the broker, and so do the findings its
calibration records. The org chart is seeded as its HRIS consumer would apply it.

Five engineers at eng IC L3 (targets: coding 3, testing 3, collaboration, ownership and
communication 2) are rated by their manager and three peers (scores weigh the manager 0.4 and
the peers' mean 0.3, renormalised: (0.4 m + 0.3 p) / 0.7; the manager alone when the peers
are not visible):

| competency | subjects a, b, c | subjects d, e | score a-c / d-e |
| --- | --- | --- | --- |
| coding | manager 1, peers 4 4 4 | manager 3, peers 3 3 3 | 2.29 / 3 |
| testing | manager 5, peers 5 5 4 | the same | 4.86 |
| collaboration | manager 1, peers 1 2 2 | the same | 1.29 |
| ownership | nobody observes it | manager 2, peers 1 1 1 | unscored / 1.57 |
| communication | manager 1, peers: not relevant | manager 3, peers: not relevant | 1 / 3 |

Over each anchor's items with two or more observed ratings (5 for coding, testing and
collaboration; ownership's 2 and communication's none are too few to report on): coding's L3
anchor is used inconsistently (a, b, c's raters 3 points apart: 3 of 5 items); testing's
clusters on the top of the scale (15 of its 20 ratings are 5); nobody's raters are 1.5 points
apart elsewhere, and 5 subjects cannot hold an outlier (at most 4/sqrt(5) = 1.79 deviations
out). Ownership is mostly not observed (3 of 5 unscored), testing has everyone at target (5
of 5); coding (2 at target), collaboration (0) and communication (2) show gaps. The peers
marked communication not relevant: 15 of the 20 answers other than self.

Version 2 rewords coding's IC anchor at 3 and nothing else: coding's item is resolved there,
testing's stays open, and 1 of the 90 anchors (9 competencies, 2 tracks, 5 proficiencies) is
revised: below the 10-20% guidance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from faststream.nats import NatsBroker

from libs.events.schemas.framework import Framework
from libs.personal.vault import MasterKeys
from tests.support.assessment_api import AssessmentApi, assessment_api
from tests.support.backbone import eventually
from tests.support.calibration_campaigns import MANAGER, PEERS, SUBJECTS, open_campaign, staff
from tests.support.framework_api import FrameworkApi, framework_api
from tests.support.sample_frameworks import reword_anchor, valid_framework
from tests.support.servers import Nats

FRAMEWORK = "eng"
CAMPAIGN = "autumn"
ROLE = {"family": "eng", "track": "ic", "level": "L3"}
REWORDED = "Ships a change spanning a few modules, with its tests, unaided."

# Per competency: the manager's value and the peers' answers (None: not observed), for
# subjects a, b, c and for d, e; NOT_RELEVANT: marked not relevant to the role.
NOT_RELEVANT = "not relevant"
Answers = tuple[int | None, list[int | str | None]]
RATINGS: dict[str, tuple[Answers, Answers]] = {
    "coding": ((1, [4, 4, 4]), (3, [3, 3, 3])),
    "testing": ((5, [5, 5, 4]), (5, [5, 5, 4])),
    "collaboration": ((1, [1, 2, 2]), (1, [1, 2, 2])),
    "ownership": ((None, [None, None, None]), (2, [1, 1, 1])),
    "communication": ((1, [NOT_RELEVANT] * 3), (3, [NOT_RELEVANT] * 3)),
}


@dataclass
class Services:
    framework: FrameworkApi
    assessment: AssessmentApi


@pytest.fixture
async def services(
    database_url: str, tmp_path: Path, nats: Nats, broker: NatsBroker
) -> AsyncIterator[Services]:
    """Both services on one database, as deployed; `broker` made the streams afresh."""
    master = MasterKeys.generate()
    keys = tmp_path / "keys"
    async with (
        framework_api(database_url, keys, nats, master) as framework,
        assessment_api(database_url, keys, nats, master) as assessment,
    ):
        yield Services(framework, assessment)


def answer(item: str, given: int | str | None) -> dict[str, Any]:
    if given == NOT_RELEVANT:
        return {"item": item, "value": None, "not_relevant": True}
    return {"item": item, "value": given}


async def submit(api: AssessmentApi, subject: str) -> None:
    """The manager's and the peers' final submissions on `subject`, as RATINGS says."""
    first_three = subject in SUBJECTS[:3]
    for n, rater in enumerate([MANAGER, *PEERS]):
        answers = []
        for competency, cases in RATINGS.items():
            manager, peers = cases[0] if first_three else cases[1]
            answers.append(answer(competency, manager if rater == MANAGER else peers[n - 1]))
        await api.ok(
            "PUT",
            f"/campaigns/{CAMPAIGN}/submissions/{subject}",
            json={"answers": answers, "final": True},
            headers=api.as_(rater, "manager" if rater == MANAGER else "employee"),
        )


async def publish(api: FrameworkApi, framework: Framework) -> None:
    await api.ok("PUT", f"/frameworks/{FRAMEWORK}/draft", json=framework.model_dump(mode="json"))
    await api.ok("POST", f"/frameworks/{FRAMEWORK}/versions", 201, json={})


def role_profiles_held(database_url: str) -> int:
    """The role profiles the assessment service's replica holds (the questionnaires' source)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM assessment.role_profiles").fetchone()
    return row[0] if row else 0


def l3_anchor(framework: Framework, competency: str) -> str:
    """The wording eng IC L3 is measured against: the IC anchor at its target, 3."""
    found = framework.competency(competency)
    assert found is not None
    return next(a.text for a in found.anchors if (a.track, a.proficiency) == ("ic", 3))


def summary(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            i["kind"],
            i["anchor"],
            i["text"],
            (i["family"], i["track"], i["level"]),
            i["items"],
            i["flagged"],
            i["resolved_in_version"],
        )
        for i in items
    ]


async def test_calibration_findings_become_revision_items_and_the_health_report(
    services: Services, database_url: str
) -> None:
    framework, assessment = services.framework, services.assessment
    first = valid_framework()
    await publish(framework, first)

    async def framework_arrived() -> bool:
        known = await assessment.items("/framework-versions")
        held = [(v["framework_id"], v["version"]) for v in known]
        return held == [(FRAMEWORK, 1)] and role_profiles_held(database_url) == len(first.roles)

    await eventually(
        framework_arrived,
        30,
        "version 1 and its role profiles in the assessment service",
        progress=lambda: role_profiles_held(database_url),
    )
    await assessment.hire(*staff())
    items = await open_campaign(assessment, CAMPAIGN, SUBJECTS, PEERS)
    assert sorted(items) == sorted(RATINGS), "the L3 profile: 2 functional, 3 core"
    for subject in SUBJECTS:
        await submit(assessment, subject)
    await assessment.ok("POST", f"/campaigns/{CAMPAIGN}/close")
    session = {"id": "autumn-eng", "campaign_id": CAMPAIGN}
    await assessment.ok("POST", "/calibrations", 201, json=session)
    await assessment.ok("POST", "/calibrations/autumn-eng/complete")

    coding = {
        "competency": "coding",
        "track": "ic",
        "proficiency": 3,
        "family": None,
        "sub_skill": None,
    }
    testing = {
        "competency": "testing",
        "track": "ic",
        "proficiency": 3,
        "family": None,
        "sub_skill": None,
    }
    role = tuple(ROLE.values())
    coding_text, testing_text = (l3_anchor(first, c) for c in ("coding", "testing"))

    async def revision_items() -> list[dict[str, Any]]:
        return await framework.items(f"/frameworks/{FRAMEWORK}/revision-items")

    found = await eventually(revision_items, 30, "revision items in the framework service")
    # Worst share first: testing's 15 of 20, then coding's 3 of 5.
    assert summary(found) == [
        ("leniency_clustering", testing, testing_text, role, 20, 15, None),
        ("inconsistent_use", coding, coding_text, role, 5, 3, None),
    ]

    await publish(framework, reword_anchor(first, "coding", "ic", 3, REWORDED))
    after = await revision_items()
    assert summary(after) == [
        ("leniency_clustering", testing, testing_text, role, 20, 15, None),
        ("inconsistent_use", coding, coding_text, role, 5, 3, 2),
    ]
    resolved = await framework.items(f"/frameworks/{FRAMEWORK}/revision-items?resolved_in=2")
    assert [i["anchor"] for i in resolved] == [coding]
    still_open = await framework.items(f"/frameworks/{FRAMEWORK}/revision-items?state=open")
    assert [i["anchor"] for i in still_open] == [testing]

    report = await framework.ok("GET", f"/frameworks/{FRAMEWORK}/health")
    assert report == {
        "campaign_id": CAMPAIGN,
        "framework_version": 1,
        "latest_version": 2,
        "anchors": 90,
        "anchors_revised": 1,
        "revised_share": pytest.approx(1 / 90),
        "revised_guidance": [0.1, 0.2],
        "revised_verdict": "below",
        "no_gap_data": [
            {
                "competency": "ownership",
                "reason": "mostly not observed",
                "subjects": 5,
                "unscored": 3,
                "at_target": 0,
            },
            {
                "competency": "testing",
                "reason": "everyone at target",
                "subjects": 5,
                "unscored": 0,
                "at_target": 5,
            },
        ],
        "not_relevant": [{"competency": "communication", **ROLE, "marked": 15, "answered": 20}],
        "open_items": 1,
        "resolved_items": 1,
    }
    same = await framework.ok("GET", f"/frameworks/{FRAMEWORK}/health?campaign_id={CAMPAIGN}")
    assert same == report
