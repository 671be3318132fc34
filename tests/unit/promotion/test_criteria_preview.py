"""Criteria before they are used (docs/domain.md §6): a draft and the version in force counted
on one calibrated population, per move and per group, with hand-computed counts.

The sample framework (tests/support/sample_frameworks.py) judges L2 -> L3 and L3 -> L4 on
coding, testing and the three core competencies, each person as their own readiness would.
Scores are given in that order: coding, testing, collaboration, ownership, communication.
"""

from __future__ import annotations

from datetime import date

import pytest

from libs.events.schemas.framework import EffectiveRoleProfile
from services.framework.domain.profiles import effective_profiles
from services.promotion.domain.criteria import Criteria, CriteriaSet
from services.promotion.domain.criteria_preview import (
    NO_NEXT_LEVEL,
    NO_POSITION,
    NO_PROFILE,
    Position,
    PreviewRefused,
    Scored,
    preview,
    targets,
)
from services.promotion.domain.readiness import CalibratedScores
from tests.support.sample_frameworks import valid_framework

FRAMEWORK = valid_framework()
KEYS = ("coding", "testing", "collaboration", "ownership", "communication")
AS_OF = date(2026, 3, 2)
IN_FORCE = CriteriaSet(version=1)  # docs/domain.md §6: average 3.5, floor 3
# Stricter: average 4, floor 3.5, and a named piece of scope evidence.
DRAFT = CriteriaSet(
    version=2,
    default=Criteria(
        minimum_average=4, competency_floor=3.5, evidence=("led a cross-team project",)
    ),
)


def scored(
    who: str, scores: tuple[float | None, ...], level: str | None = "L3", track: str = "ic"
) -> Scored:
    return Scored(
        scores=CalibratedScores(
            session_id="s1",
            framework_id="eng",
            framework_version=1,
            subject=who,
            scores=dict(zip(KEYS, scores, strict=True)),
        ),
        position=None if level is None else ("eng", track, level),
    )


def profiles() -> dict[Position, EffectiveRoleProfile]:
    return {(p.family, p.track, p.level): p for p in effective_profiles(FRAMEWORK).values()}


# In force / draft, by hand:
#   p1 L3 all 4                       avg 4,   min 4:    yes / yes
#   p2 L3 4 4 3.5 3 3                 avg 3.5, min 3:    yes / no (average and floor)
#   p3 L3 5 5 4 4 3                   avg 4.2, min 3:    yes / no (floor)
#   p4 L3 2.5 3 3 3 3                 avg 2.9:           no  / no
#   p5 L3 4 4 4 4 not observed        floor not shown:   no  / no
#   p6 L2 all 4                       avg 4,   min 4:    yes / yes
#   p7 L2 3 3 4 4 4                   avg 3.6, min 3:    yes / no
#   p8 L4: top of the IC track, p9: no position; both left out.
POPULATION = [
    scored("p1", (4, 4, 4, 4, 4)),
    scored("p2", (4, 4, 3.5, 3, 3)),
    scored("p3", (5, 5, 4, 4, 3)),
    scored("p4", (2.5, 3, 3, 3, 3)),
    scored("p5", (4, 4, 4, 4, None)),
    scored("p6", (4, 4, 4, 4, 4), level="L2"),
    scored("p7", (3, 3, 4, 4, 4), level="L2"),
    scored("p8", (5, 5, 5, 5, 5), level="L4"),
    scored("p9", (5, 5, 5, 5, 5), level=None),
]


def test_a_stricter_draft_counts_fewer_people_per_move_than_the_version_in_force() -> None:
    found = preview(DRAFT, IN_FORCE, FRAMEWORK, POPULATION, profiles(), as_of=AS_OF)
    moves = {(t.from_level, t.to_level): (t.people, t.eligible) for t in found.in_force.targets}
    assert moves == {("L2", "L3"): (2, 2), ("L3", "L4"): (5, 3)}
    assert (found.in_force.people, found.in_force.eligible) == (7, 5)
    assert found.in_force.criteria_version == 1
    moves = {(t.from_level, t.to_level): (t.people, t.eligible) for t in found.draft.targets}
    assert moves == {("L2", "L3"): (2, 1), ("L3", "L4"): (5, 1)}
    assert (found.draft.people, found.draft.eligible) == (7, 2)
    assert found.draft.criteria_version is None, "a draft has no version"
    assert found.left_out == {NO_NEXT_LEVEL: 1, NO_POSITION: 1}
    assert (found.session_id, found.framework_id, found.framework_version) == ("s1", "eng", 1)


def test_what_a_case_shows_is_named_per_move_and_not_counted_against_anyone() -> None:
    """Nobody has a case, so nobody is endorsed, confirmed or dated at the next level; p1
    still counts as eligible, and each move names what was not judged."""
    found = preview(DRAFT, IN_FORCE, FRAMEWORK, POPULATION, profiles(), as_of=AS_OF)
    assert found.judged == ("average", "competency_floor")
    judged_by_a_case = ("time_at_level", "endorsement", "calibration_confirmation")
    assert found.in_force.targets[1].not_judged == judged_by_a_case
    assert found.draft.targets[0].not_judged == (
        "time_at_level",
        "evidence:led a cross-team project",
        "endorsement",
        "calibration_confirmation",
    )
    assert "not judged here" in found.not_judged_here


def test_a_move_without_its_role_profile_leaves_its_people_out() -> None:
    assert targets(FRAMEWORK, POPULATION) == {("eng", "ic", "L3"), ("eng", "ic", "L4")}
    only_l3 = {k: v for k, v in profiles().items() if k == ("eng", "ic", "L3")}
    found = preview(DRAFT, IN_FORCE, FRAMEWORK, POPULATION, only_l3, as_of=AS_OF)
    assert found.left_out == {NO_NEXT_LEVEL: 1, NO_POSITION: 1, NO_PROFILE: 5}
    assert [(t.to_level, t.people) for t in found.in_force.targets] == [("L3", 2)]


# Ten people at L3 and two undisclosed, by hand:
#   group a (5): three all 4 (yes / yes), two all 3.5 (yes / no: average below 4)
#   group b (5): one all 4 (yes / yes), three all 3.5 (yes / no), one all 3 (no / no)
#   undisclosed (2, no value): all 4, too few to show
# In force: a 5/5 = 1 (the reference), b 4/5 = 0.8, exactly four fifths: not flagged.
# Draft:    a 3/5 = 0.6 (the reference), b 1/5 = 0.2, ratio 1/3: flagged.
GROUPS = {**{f"a{n}": "a" for n in range(5)}, **{f"b{n}": "b" for n in range(5)}}
GROUPED = [
    *(scored(f"a{n}", (4,) * 5) for n in range(3)),
    *(scored(f"a{n}", (3.5,) * 5) for n in range(3, 5)),
    scored("b0", (4,) * 5),
    *(scored(f"b{n}", (3.5,) * 5) for n in range(1, 4)),
    scored("b4", (3,) * 5),
    scored("u0", (4,) * 5),
    scored("u1", (4,) * 5),
]


def test_groups_get_the_four_fifths_ratio_and_small_groups_no_figures() -> None:
    found = preview(
        DRAFT,
        IN_FORCE,
        FRAMEWORK,
        GROUPED,
        profiles(),
        as_of=AS_OF,
        attribute="sex",
        attributes={**GROUPS, "u0": None},
    )
    assert (found.attribute, found.threshold, found.min_group_size) == ("sex", 0.8, 5)
    in_force = {g.group: g for g in found.in_force.groups}
    assert found.in_force.reference_group == "a"
    assert (in_force["a"].people, in_force["a"].eligible, in_force["a"].rate) == (5, 5, 1.0)
    assert (in_force["b"].people, in_force["b"].eligible) == (5, 4)
    assert in_force["b"].impact_ratio == pytest.approx(0.8)
    assert in_force["b"].adverse_impact is False, "exactly four fifths is not below them"
    draft = {g.group: g for g in found.draft.groups}
    assert found.draft.reference_group == "a"
    assert (draft["a"].eligible, draft["b"].eligible) == (3, 1)
    assert draft["b"].impact_ratio == pytest.approx(1 / 3)
    assert draft["b"].adverse_impact is True
    assert draft["a"].adverse_impact is False
    undisclosed = draft["undisclosed"]
    assert undisclosed.too_small is True
    assert (undisclosed.people, undisclosed.eligible, undisclosed.rate) == (None, None, None)
    assert undisclosed.impact_ratio is None
    assert undisclosed.adverse_impact is False
    assert (found.draft.people, found.draft.eligible) == (12, 6)


def test_without_an_attribute_there_are_no_groups() -> None:
    found = preview(DRAFT, IN_FORCE, FRAMEWORK, GROUPED, profiles(), as_of=AS_OF)
    assert found.attribute is None
    assert found.draft.groups == ()
    assert found.draft.reference_group is None


def test_criteria_on_a_scale_the_scores_leave_are_refused() -> None:
    one_to_five = CriteriaSet(version=2, scale="1..5")
    low = [scored("p1", (0, 4, 4, 4, 4))]
    with pytest.raises(PreviewRefused, match=r"outside the scale 1\.\.5"):
        preview(one_to_five, IN_FORCE, FRAMEWORK, low, profiles(), as_of=AS_OF)
