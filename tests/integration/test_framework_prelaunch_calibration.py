"""Calibration before launch through the framework service's API on PostgreSQL
(docs/framework.md, Calibration before launch): five raters over twelve examples flag
exactly the anchors seeded with disagreement, with the agreement values worked out by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libs.events.registry import registry
from libs.events.schemas.framework import SubSkill
from services.framework.application.prelaunch_calibrations import exercise_stream
from tests.support.framework_api import FrameworkApi, framework_api
from tests.support.sample_frameworks import (
    anchors,
    assessed_per_sub_skill,
    valid_framework,
    with_sub_skill,
)

ID, EXERCISE = "eng", "pre-launch"
PATH = f"/frameworks/{ID}/prelaunch-calibrations"
RATERS = ["mgr-1", "mgr-2", "mgr-3", "ic-senior-4", "ic-senior-5"]
# Each example's ratings, rater by rater in RATERS' order ("?" is "cannot tell").
SEEDED: dict[str, tuple[str, list[int | str]]] = {
    # collaboration: agreed
    "ex-01": ("collaboration", [2, 2, 2, 2, 2]),
    "ex-02": ("collaboration", [3, 3, 3, 3, 4]),
    "ex-03": ("collaboration", [4, 4, 4, 4, 4]),
    # ownership: seeded split between levels 2 and 3 on ex-04
    "ex-04": ("ownership", [2, 2, 2, 3, 3]),
    "ex-05": ("ownership", [1, 1, 1, 1, 1]),
    "ex-06": ("ownership", [4, 4, 4, 4, "?"]),
    # communication: seeded wide disagreement on ex-07, whose consensus is level 3
    "ex-07": ("communication", [1, 3, 3, 3, 5]),
    "ex-08": ("communication", [2, 2, 2, 2, 2]),
    "ex-09": ("communication", [4, 4, 4, 4, 5]),
    # testing and coding: too few examples for alpha
    "ex-10": ("testing", [1, 1, 1, 1, 2]),
    "ex-11": ("testing", [5, 5, 5, 5, 5]),
    "ex-12": ("coding", [3, 3, 3, 3, 3]),
}


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[FrameworkApi]:
    async with framework_api(database_url, tmp_path / "keys") as api:
        await api.ok("PUT", f"/frameworks/{ID}/draft", json=valid_framework().model_dump())
        yield api


def rater(api: FrameworkApi, who: str) -> dict[str, str]:
    return api.as_(who, "manager" if who.startswith("mgr") else "employee")


def opening() -> dict[str, Any]:
    return {
        "id": EXERCISE,
        "raters": RATERS,
        "examples": [
            {
                "key": key,
                "competency": competency,
                "track": "ic",
                "level": "L3",
                "text": f"Over a quarter, did what {key} describes for {competency}.",
            }
            for key, (competency, _) in SEEDED.items()
        ],
    }


async def test_five_raters_over_twelve_examples_flag_exactly_the_seeded_anchors(
    api: FrameworkApi,
) -> None:
    opened = await api.ok("POST", PATH, 201, json=opening())
    assert opened["rated"] == dict.fromkeys(RATERS, 0)

    async def rates(who: str, key: str, given: int | str) -> None:
        rating = "cannot_tell" if given == "?" else given
        path = f"{PATH}/{EXERCISE}/examples/{key}/rating"
        await api.ok("PUT", path, json={"rating": rating}, headers=rater(api, who))

    # The five raters rate each example at once: their ratings race for the one stream.
    for key, (_, ratings) in SEEDED.items():
        await asyncio.gather(*(rates(who, key, r) for who, r in zip(RATERS, ratings, strict=True)))
    # Read while open, the report is refused: ratings may still change.
    await api.ok("GET", f"{PATH}/{EXERCISE}/report", 409)
    closed = await api.ok("POST", f"{PATH}/{EXERCISE}/close")
    report = await api.ok("GET", f"{PATH}/{EXERCISE}/report")
    assert report == closed
    agreement = {c["competency"]: c for c in report["competencies"]}

    # Krippendorff's ordinal alpha, from the coincidence matrix. Five values per example, so
    # each ordered pair of values from two raters adds 1/(5-1) = 1/4 (1/3 for ex-06's four).
    # collaboration: [2,2,2,2,2] [3,3,3,3,4] [4,4,4,4,4]
    #   o22 = 20/4 = 5; o33 = 12/4 = 3; o34 = o43 = 4/4 = 1; o44 = 5
    #   n2 = 5, n3 = 4, n4 = 6, n = 15
    #   delta(2,3) = (9 - 4.5)^2 = 20.25; delta(3,4) = (10 - 5)^2 = 25;
    #   delta(2,4) = (15 - 5.5)^2 = 90.25
    #   observed 2 * 1 * 25 = 50; expected 2 * (5*4*20.25 + 5*6*90.25 + 4*6*25) = 7425
    #   alpha = 1 - 14 * 50 / 7425 = 269/297 = 0.906
    # ownership: [2,2,2,3,3] [1,1,1,1,1] [4,4,4,4] (cannot tell is a missing value)
    #   o22 = 6/4 = 1.5; o33 = 2/4 = 0.5; o23 = o32 = 6/4 = 1.5; o11 = 5; o44 = 12/3 = 4
    #   n1 = 5, n2 = 3, n3 = 2, n4 = 4, n = 14; delta(2,3) = (5 - 2.5)^2 = 6.25
    #   observed 2 * 1.5 * 6.25 = 18.75
    #   expected 2 * (5*3*16 + 5*2*42.25 + 5*4*90.25 + 3*2*6.25 + 3*4*30.25 + 2*4*9) = 5880
    #   alpha = 1 - 13 * 18.75 / 5880 = 0.959: the examples are told apart well overall,
    #   the 2/3 boundary is what the anchor flags catch
    # communication: [1,3,3,3,5] [2,2,2,2,2] [4,4,4,4,5]
    #   o13 = o31 = 3/4; o35 = o53 = 3/4; o15 = o51 = 1/4; o33 = 6/4; o22 = 5;
    #   o44 = 12/4 = 3; o45 = o54 = 1
    #   n1 = 1, n2 = 5, n3 = 3, n4 = 4, n5 = 2, n = 15
    #   delta(1,3) = (9 - 2)^2 = 49; delta(3,5) = (9 - 2.5)^2 = 42.25;
    #   delta(1,5) = (15 - 1.5)^2 = 182.25; delta(4,5) = (6 - 3)^2 = 9
    #   observed 2 * (0.75*49 + 0.75*42.25 + 0.25*182.25 + 1*9) = 246
    #   expected 2 * (45 + 147 + 441 + 364.5 + 240 + 1125 + 1102.5 + 147 + 253.5 + 72) = 7875
    #   alpha = 1 - 14 * 246 / 7875 = 4431/7875 = 0.563
    assert agreement["collaboration"]["alpha"] == pytest.approx(269 / 297)
    assert agreement["ownership"]["alpha"] == pytest.approx(1 - 13 * 18.75 / 5880)
    assert agreement["communication"]["alpha"] == pytest.approx(4431 / 7875)
    assert {c: a["method"] for c, a in agreement.items()} == {
        "collaboration": "alpha",
        "ownership": "alpha",
        "communication": "alpha",
        "testing": "spread",
        "coding": "spread",
    }
    # Two examples (10 pairable ratings) and one: the widest range given to one example.
    assert (agreement["testing"]["spread"], agreement["coding"]["spread"]) == (1, 0)
    assert (agreement["ownership"]["ratings"], agreement["ownership"]["cannot_tell"]) == (14, 1)

    flagged = {(a["competency"], a["track"], a["level"]): a for a in report["flagged"]}
    assert sorted(flagged) == [
        ("communication", "ic", 3),  # ex-07: mean distance (2+0+0+0+2)/5 = 0.8 > 0.5
        ("ownership", "ic", 2),  # ex-04: 3 has 2 of 5 ratings (40%): a split of 2 and 3
        ("ownership", "ic", 3),
    ]
    assert flagged["communication", "ic", 3]["mean_deviation"] == pytest.approx(0.8)
    assert flagged["ownership", "ic", 2]["split_with"] == [3]
    assert flagged["ownership", "ic", 2]["mean_deviation"] == pytest.approx(0.4)
    assert all(a["reasons"] for a in flagged.values())
    # ex-02 and ex-09 each had one rater a level off: not flagged
    calm = {(a["competency"], a["level"]): a for a in report["anchors"] if not a["reasons"]}
    assert calm["collaboration", 3]["mean_deviation"] == pytest.approx(0.2)
    assert calm["communication", 4]["mean_deviation"] == pytest.approx(0.2)

    # Every step is a private event of the framework service's log, by whom it was taken.
    log = await api.store.read_stream(exercise_stream(ID, EXERCISE))
    kinds = [e.event_type for e in log]
    assert kinds[0] == "PrelaunchCalibrationOpened"
    assert kinds[-1] == "PrelaunchCalibrationClosed"
    assert kinds.count("PrelaunchExampleRated") == 5 * 12
    assert all(registry.is_private(kind) for kind in set(kinds))
    assert {e.actor for e in log[1:-1]} == set(RATERS)


async def test_a_rater_sees_the_examples_and_only_their_own_ratings(api: FrameworkApi) -> None:
    await api.ok("POST", PATH, 201, json=opening())
    first, second = rater(api, RATERS[0]), rater(api, RATERS[1])
    await api.ok(
        "PUT", f"{PATH}/{EXERCISE}/examples/ex-01/rating", json={"rating": 2}, headers=first
    )
    await api.ok(
        "PUT", f"{PATH}/{EXERCISE}/examples/ex-01/rating", json={"rating": 3}, headers=first
    )
    view = await api.ok("GET", f"{PATH}/{EXERCISE}/examples", headers=second)
    assert [e["key"] for e in view["examples"]] == list(SEEDED)
    assert all(e["your_rating"] is None for e in view["examples"])
    anchors = view["examples"][0]["anchors"]
    assert [a["proficiency"] for a in anchors] == [1, 2, 3, 4, 5]
    assert all(a["track"] == "ic" for a in anchors)
    text = str(view)
    assert not any(r in text for r in RATERS), "a rater never learns who else rates"
    assert "hannah-hr" not in text, "nor who wrote the examples"
    mine = await api.ok("GET", f"{PATH}/{EXERCISE}/examples", headers=first)
    assert mine["examples"][0]["your_rating"] == 3, "the revision replaced the first rating"
    progress = await api.ok("GET", f"{PATH}/{EXERCISE}")
    assert progress["rated"][RATERS[0]] == 1


async def test_refusals_say_what_is_wrong_with_typed_statuses(api: FrameworkApi) -> None:
    await api.ok("POST", "/frameworks/no-such/prelaunch-calibrations", 404, json=opening())
    await api.ok("POST", PATH, 201, json=opening())
    await api.ok("POST", PATH, 409, json=opening())  # the id is taken
    two = {**opening(), "id": "too-few", "raters": RATERS[:2]}
    await api.ok("POST", PATH, 422, json=two)
    rating = f"{PATH}/{EXERCISE}/examples/ex-01/rating"
    outsider = api.as_("mgr-9", "manager")
    refused = await api.ok("PUT", rating, 403, json={"rating": 2}, headers=outsider)
    assert "not invited" in refused["detail"]
    await api.ok("GET", f"{PATH}/{EXERCISE}/examples", 403, headers=outsider)
    await api.ok("GET", f"{PATH}/{EXERCISE}/examples", 403, headers=api.hr)  # HR rates nothing
    mine = rater(api, RATERS[0])
    off_scale = await api.ok("PUT", rating, 422, json={"rating": 0}, headers=mine)
    assert "level 0 has no anchor" in off_scale["detail"]
    for not_a_level in (True, 2.5, "2"):
        await api.ok("PUT", rating, 422, json={"rating": not_a_level}, headers=mine)
    await api.ok(
        "PUT", f"{PATH}/{EXERCISE}/examples/ex-99/rating", 404, json={"rating": 2}, headers=mine
    )
    await api.ok("GET", f"{PATH}/nothing-here/report", 404)
    await api.ok("PUT", rating, json={"rating": 2}, headers=mine)
    await api.ok("POST", f"{PATH}/{EXERCISE}/close")
    late = await api.ok("PUT", rating, 409, json={"rating": 3}, headers=mine)
    assert "closed" in late["detail"]
    await api.ok("POST", f"{PATH}/{EXERCISE}/close", 409)


async def test_an_example_aimed_at_a_sub_skill_calibrates_its_own_anchors(
    api: FrameworkApi,
) -> None:
    """Where the draft assesses per sub-skill, an example may aim at a sub-skill: raters see
    its own anchors, and the report gives its agreement and flags its anchors apart."""
    credit = SubSkill(key="credit", name="Gives credit", anchors=anchors("Credit", ["ic"], [2, 3]))
    aimed = {
        "key": "ex-s1",
        "competency": "collaboration",
        "sub_skill": "credit",
        "track": "ic",
        "text": "Named the two people whose work the release rested on.",
    }
    body = {"id": "sub-skills", "raters": RATERS[:3], "examples": [aimed]}
    refused = await api.ok("POST", PATH, 422, json=body)
    assert "the draft assesses per competency" in refused["detail"]
    draft = assessed_per_sub_skill(with_sub_skill(valid_framework(), "collaboration", credit))
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=draft.model_dump(mode="json"))
    await api.ok("POST", PATH, 201, json=body)
    view = await api.ok("GET", f"{PATH}/sub-skills/examples", headers=rater(api, RATERS[0]))
    [seen] = view["examples"]
    assert (seen["sub_skill"], seen["sub_skill_name"]) == ("credit", "Gives credit")
    assert [a["text"] for a in seen["anchors"]] == [a.text for a in credit.anchors]
    for who, level in zip(RATERS[:3], [2, 3, 3], strict=True):
        rating = {"rating": level}
        await api.ok(
            "PUT", f"{PATH}/sub-skills/examples/ex-s1/rating", json=rating, headers=rater(api, who)
        )
    report = await api.ok("POST", f"{PATH}/sub-skills/close")
    [agreement] = report["competencies"]
    assert (agreement["competency"], agreement["sub_skill"]) == ("collaboration", "credit")
    assert (agreement["method"], agreement["spread"]) == ("spread", 1)
    [anchor] = report["anchors"]
    assert (anchor["sub_skill"], anchor["level"], anchor["examples"]) == ("credit", 3, ["ex-s1"])
    assert anchor["mean_deviation"] == pytest.approx(1 / 3)
