"""Criteria before they are used (docs/domain.md §6), on PostgreSQL through the promotion
service's HTTP API: HR previews a stricter draft on the newest calibrated population and
sees fewer people eligible than under the version in force, as counted by hand; group
figures only where they reveal nobody's group; leavers and people moved since the
calibration left out; and the preview recorded in the service's own log.

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
from libs.events.schemas.hris import EmployeeLeft, ProtectedAttributeRecorded
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.application import reactions
from services.promotion.domain.criteria import CriteriaSet
from services.promotion.domain.criteria_preview import (
    DRAFT_GROUPS_WITHHELD,
    LEFT,
    MOVED,
    CriteriaPreviewed,
    draft_hash,
    too_few_people,
)
from services.promotion.service import build
from tests.support.envelopes import envelope
from tests.support.promotion_api import AUDITOR, LEAD, SCHEMA, STRONG, WEAK, Stack, seeded
from tests.support.replica_seeding import change, hire, hired, role_changed
from tests.support.service_api import ServiceApi, in_process

ALL_4 = dict.fromkeys(STRONG, 4.0)
# Scores as coding, testing, collaboration, ownership, communication; the defaults ask an
# average of 3.5 and nothing below 3, the draft an average of 4 and nothing below 3.5.
#   ALL_4                        in force yes  draft yes
#   STRONG (4 4 3.5 3 3, avg 3.5)          yes        no
#   WEAK (coding 2.5, avg 2.9)             no         no
# At L3 (L3 -> L4):
#   group a: 10 ALL_4, 5 WEAK          in force 10 of 15 (share 0.7)   draft 10
#   group b: 5 STRONG, 6 WEAK          in force 5 of 11 (share 0.5)    draft 0
#   in force 15 of 26, draft 10 of 26; b's ratio (5/11) / (10/15) = 0.68: flagged.
# At L2 (L2 -> L3): one ALL_4 and one STRONG of group b, 2 people: no counts.
# Also calibrated at L3, ALL_4, group a, and not judged: emp-gone has left since, emp-up
# is at L4 in the HRIS now.
STRICTER = {"default": {"minimum_average": 4, "competency_floor": 3.5}}
HR = "hannah-hr"  # who `ServiceApi.hr` calls as


def people() -> list[tuple[str, str, dict[str, float], str]]:
    a = [(f"emp-a{n}", "L3", ALL_4 if n < 10 else WEAK, "a") for n in range(15)]
    b = [(f"emp-b{n}", "L3", STRONG if n < 5 else WEAK, "b") for n in range(11)]
    l2 = [("emp-c0", "L2", ALL_4, "b"), ("emp-c1", "L2", STRONG, "b")]
    gone = [("emp-gone", "L3", ALL_4, "a"), ("emp-up", "L3", ALL_4, "a")]
    return [*a, *b, *l2, *gone]


POPULATION = people()


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
        await change(
            api.store,
            2,
            EmployeeLeft(employee_id="emp-gone", effective_on=date(2026, 2, 27)),
            role_changed("emp-up", date(2026, 2, 1), "L4"),
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
        "all": (eligibility["people"], eligibility["eligible"], eligibility["moves_withheld"]),
        **{
            f"{t['from_level']}->{t['to_level']}": (t["people"], t["eligible"])
            for t in eligibility["targets"]
        },
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
        "all": [(26, 15, 1), (26, 10, 1)],
        "L2->L3": [(None, None), (None, None)],
        "L3->L4": [(26, 15), (26, 10)],
    }
    for n, version in enumerate(("in_force", "draft")):
        assert counts(found[version]) == {k: v[n] for k, v in expected.items()}, version
    l2, l3 = found["in_force"]["targets"]
    assert l2["withheld"] == too_few_people(5)
    assert l2["groups"] == []
    assert l3["groups"] == [
        {"group": "a", "share": 0.7, "adverse_impact": False},
        {"group": "b", "share": 0.5, "adverse_impact": True},
    ]
    assert l3["groups_withheld"] is None
    for move in found["draft"]["targets"]:
        assert (move["groups"], move["groups_withheld"]) == ([], DRAFT_GROUPS_WITHHELD)
    # What only a case shows is named, not counted against anyone.
    assert found["judged"] == ["average", "competency_floor"]
    assert found["in_force"]["targets"][0]["not_judged"] == [
        "time_at_level",
        "endorsement",
        "calibration_confirmation",
    ]
    assert found["left_out"] == {LEFT: 1, MOVED: 1}
    assert not any(p in str(found) for p, _, _, _ in POPULATION), "groups only, never people"

    # The same people, one by one, through their own readiness under the version in force.
    met = 0
    for person, level, _, _ in POPULATION:
        if level != "L3" or person in ("emp-gone", "emp-up"):
            continue
        readiness = await stack.call("GET", f"/people/{person}/readiness")
        scored = [r for r in readiness["results"] if r["kind"] in ("average", "competency_floor")]
        met += all(r["met"] for r in scored)
    assert met == 15

    # Nothing was published; once it is, the preview compares the other way round.
    assert (await stack.call("GET", "/criteria"))["version"] == 1
    await stack.call("POST", "/criteria", 201, **STRICTER)
    after = await stack.call("POST", "/criteria/preview", default={})
    assert after["in_force"]["criteria_version"] == 2
    assert (after["in_force"]["eligible"], after["draft"]["eligible"]) == (10, 15)
    assert after["attribute"] is None
    assert after["draft"]["targets"][1]["groups"] == []


async def test_each_preview_is_recorded_in_the_services_own_log(stack: Stack) -> None:
    await stack.call("POST", "/criteria/preview?attribute=sex", **STRICTER)
    await stack.call("POST", "/criteria/preview?session_id=s1", default={})
    store = stack.api.store
    recorded = [e for e in await store.read_log() if e.event_type == "CriteriaPreviewed"]
    assert [e.actor for e in recorded] == [HR] * 2
    stricter = CriteriaSet.model_validate({**STRICTER, "version": 2})
    assert [await store.decode(e) for e in recorded] == [
        CriteriaPreviewed(
            previewed_by=HR,
            draft_hash=draft_hash(stricter),
            in_force_version=1,
            session_id="s1",
            attribute="sex",
        ),
        CriteriaPreviewed(
            previewed_by=HR,
            draft_hash=draft_hash(CriteriaSet(version=2)),
            in_force_version=1,
            session_id="s1",
            attribute=None,
        ),
    ]


async def test_a_preview_is_for_hr_and_bad_input_is_a_typed_refusal(stack: Stack) -> None:
    for who in (AUDITOR, LEAD, "emp-a1"):
        await stack.call("POST", "/criteria/preview", 403, who=who, **STRICTER)
    too_high = await stack.call("POST", "/criteria/preview", 422, default={"minimum_average": 6})
    assert "minimum_average" in str(too_high["detail"])
    off_scale = await stack.call(
        "POST", "/criteria/preview", 422, scale="1..5", default={"competency_floor": 0.5}
    )
    assert "outside the scale 1..5" in off_scale["detail"]
    unknown = await stack.call("POST", "/criteria/preview?session_id=s9", 404, **STRICTER)
    assert "s9" in unknown["detail"]
    log = await stack.api.store.read_log()
    assert not [e for e in log if e.event_type == "CriteriaPreviewed"], "a refusal records nothing"
