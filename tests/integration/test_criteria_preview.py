"""Criteria before they are used (docs/domain.md §6), on PostgreSQL through the promotion
service's HTTP API: HR previews a stricter draft on the newest calibrated population and
sees fewer people eligible than under the version in force, as counted by hand.

Calibrations, protected attributes, the org chart and the framework arrive through the
service's own handlers, as its consumers deliver them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from libs.events.schemas.assessment import CalibrationCompleted, SubjectScores
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.application import reactions
from services.promotion.service import build
from tests.support.envelopes import envelope
from tests.support.promotion_api import AUDITOR, LEAD, SCHEMA, STRONG, WEAK, Stack, seeded
from tests.support.replica_seeding import hire, hired
from tests.support.service_api import ServiceApi, in_process

ALL_4 = dict.fromkeys(STRONG, 4.0)
ALL_4_5 = dict.fromkeys(STRONG, 4.5)
# Scores as coding, testing, collaboration, ownership, communication; the defaults ask an
# average of 3.5 and nothing below 3, the draft an average of 4 and nothing below 3.5.
#   p1 L3 STRONG (4 4 3.5 3 3, avg 3.5)  group a   in force yes  draft no
#   p2 L3 all 4                          group a   yes           yes
#   p3 L3 all 4.5                        group a   yes           yes
#   p4 L3 WEAK (coding 2.5, avg 2.9)     group a   no            no
#   p5 L3 STRONG                         group a   yes           no
#   p6 L3 all 4                          group b   yes           yes
#   p7 L2 all 4                          group b   yes           yes
#   p8 L2 STRONG                         group b   yes           no
# In force: L3 -> L4 5 of 6, L2 -> L3 2 of 2: 7 of 8. Draft: 3 of 6 and 1 of 2: 4 of 8.
# Group a (5 people): 4 eligible in force (rate 0.8), 2 under the draft (0.4), the reference
# both times. Group b has 3 people, below the fairness report's 5: no figures.
POPULATION: list[tuple[str, str, dict[str, float], str]] = [
    ("emp-p1", "L3", STRONG, "a"),
    ("emp-p2", "L3", ALL_4, "a"),
    ("emp-p3", "L3", ALL_4_5, "a"),
    ("emp-p4", "L3", WEAK, "a"),
    ("emp-p5", "L3", STRONG, "a"),
    ("emp-p6", "L3", ALL_4, "b"),
    ("emp-p7", "L2", ALL_4, "b"),
    ("emp-p8", "L2", STRONG, "b"),
]
STRICTER = {"default": {"minimum_average": 4, "competency_floor": 3.5}}


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    migrations = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, MIGRATIONS]
    async with in_process(ServiceApi, build, SCHEMA, migrations, database_url, tmp_path) as api:
        stack = Stack(api, await seeded(api))
        await hire(api.store, *(hired(p, LEAD, "ic", level) for p, level, _, _ in POPULATION))
        await stack.calibrate(
            CalibrationCompleted(
                session_id="s1",
                campaign_id="campaign-s1",
                framework_id="eng",
                framework_version=1,
                scores=[
                    SubjectScores(subject=p, position=("eng", "ic", level), scores=scores)
                    for p, level, scores, _ in POPULATION
                ],
                adjustments=[],
            )
        )
        async with stack.promotion.uow.transaction() as tx:
            for person, _, _, group in POPULATION:
                recorded = ProtectedAttributeRecorded(
                    employee_id=person, effective_on=date(2026, 1, 1), attribute="sex", value=group
                )
                await reactions.on_protected_attribute(
                    tx, envelope(recorded, f"employee-{person}"), recorded
                )
        yield stack


def counts(eligibility: dict[str, Any]) -> dict[str, Any]:
    return {
        "all": (eligibility["people"], eligibility["eligible"]),
        **{
            f"{t['from_level']}->{t['to_level']}": (t["people"], t["eligible"])
            for t in eligibility["targets"]
        },
        **{g["group"]: (g["people"], g["eligible"]) for g in eligibility["groups"]},
    }


async def test_a_stricter_draft_shows_fewer_eligible_people_than_the_version_in_force(
    stack: Stack,
) -> None:
    found = await stack.call("POST", "/criteria/preview?attribute=sex", **STRICTER)
    assert found["session_id"] == "s1"
    assert found["in_force"]["criteria_version"] == 1
    assert found["draft"]["criteria_version"] is None
    # (people, eligible) in force and under the draft, by the hand count above.
    expected = {
        "all": [(8, 7), (8, 4)],
        "L2->L3": [(2, 2), (2, 1)],
        "L3->L4": [(6, 5), (6, 3)],
        "a": [(5, 4), (5, 2)],
        "b": [(None, None), (None, None)],
    }
    for n, version in enumerate(("in_force", "draft")):
        assert counts(found[version]) == {k: v[n] for k, v in expected.items()}, version
    groups = {g["group"]: g for g in found["draft"]["groups"]}
    assert found["draft"]["reference_group"] == "a"
    assert groups["a"]["rate"] == pytest.approx(0.4)
    assert groups["a"]["impact_ratio"] == pytest.approx(1.0)
    assert groups["b"]["too_small"] is True
    assert groups["b"]["rate"] is None
    # What only a case shows is named, not counted against anyone.
    assert found["judged"] == ["average", "competency_floor"]
    assert found["draft"]["targets"][0]["not_judged"] == [
        "time_at_level",
        "endorsement",
        "calibration_confirmation",
    ]
    assert found["left_out"] == {}
    assert not any(p in str(found) for p, _, _, _ in POPULATION), "groups only, never people"

    # The same people, one by one, through their own readiness under the version in force.
    met = 0
    for person, _, _, _ in POPULATION:
        readiness = await stack.call("GET", f"/people/{person}/readiness")
        scored = [r for r in readiness["results"] if r["kind"] in ("average", "competency_floor")]
        met += all(r["met"] for r in scored)
    assert met == 7

    # Nothing was published; once it is, the preview compares the other way round.
    assert (await stack.call("GET", "/criteria"))["version"] == 1
    await stack.call("POST", "/criteria", 201, **STRICTER)
    after = await stack.call("POST", "/criteria/preview", default={})
    assert after["in_force"]["criteria_version"] == 2
    assert (after["in_force"]["eligible"], after["draft"]["eligible"]) == (4, 7)
    assert after["attribute"] is None
    assert after["draft"]["groups"] == []


async def test_a_preview_is_for_hr_and_bad_input_is_a_typed_refusal(stack: Stack) -> None:
    for who in (AUDITOR, LEAD, "emp-p1"):
        await stack.call("POST", "/criteria/preview", 403, who=who, **STRICTER)
    too_high = await stack.call("POST", "/criteria/preview", 422, default={"minimum_average": 6})
    assert "minimum_average" in str(too_high["detail"])
    off_scale = await stack.call(
        "POST", "/criteria/preview", 422, scale="1..5", default={"competency_floor": 0.5}
    )
    assert "outside the scale 1..5" in off_scale["detail"]
    unknown = await stack.call("POST", "/criteria/preview?session_id=s9", 404, **STRICTER)
    assert "s9" in unknown["detail"]
