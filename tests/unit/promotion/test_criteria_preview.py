"""Criteria before they are used (docs/domain.md §6): a draft and the version in force counted
on one calibrated population, per move and per group, with hand-computed counts; and the
attacks on a person's protected attribute that the preview's figures must not allow.

The sample framework (tests/support/sample_frameworks.py) judges L2 -> L3 and L3 -> L4 on
coding, testing and the three core competencies, each person as their own readiness would.
Scores are given in that order: coding, testing, collaboration, ownership, communication.
The fairness minimum group size k is 5 throughout.
"""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from libs.events.registry import registry
from services.promotion.domain.criteria import Criteria, CriteriaSet
from services.promotion.domain.criteria_preview import (
    DRAFT_GROUPS_WITHHELD,
    LEFT,
    MOVED,
    NO_NEXT_LEVEL,
    NO_POSITION,
    NO_PROFILE,
    NOT_IN_ORG_CHART,
    CriteriaPreview,
    CriteriaPreviewed,
    GroupShare,
    PreviewRefused,
    Scored,
    draft_hash,
    preview,
    targets,
    too_few_people,
    too_few_per_group,
)
from services.promotion.domain.decision_log import canonical
from tests.support.calibrated_population import FRAMEWORK, profiles, scored

AS_OF = date(2026, 3, 2)
IN_FORCE = CriteriaSet(version=1)  # docs/domain.md §6: average 3.5, floor 3
# Stricter: average 4, floor 3.5, and a named piece of scope evidence.
DRAFT = CriteriaSet(
    version=2,
    default=Criteria(
        minimum_average=4, competency_floor=3.5, evidence=("led a cross-team project",)
    ),
)


def run(
    population: list[Scored],
    draft: CriteriaSet = DRAFT,
    attributes: dict[str, str | None] | None = None,
) -> CriteriaPreview:
    return preview(
        draft,
        IN_FORCE,
        FRAMEWORK,
        population,
        profiles(),
        as_of=AS_OF,
        attribute=None if attributes is None else "sex",
        attributes=attributes,
    )


# In force / draft, by hand:
#   p1 L3 all 4                       avg 4,   min 4:    yes / yes
#   p2 L3 4 4 3.5 3 3                 avg 3.5, min 3:    yes / no (average and floor)
#   p3 L3 5 5 4 4 3                   avg 4.2, min 3:    yes / no (floor)
#   p4 L3 2.5 3 3 3 3                 avg 2.9:           no  / no
#   p5 L3 4 4 4 4 not observed        floor not shown:   no  / no
#   p6 L2 all 4                       avg 4,   min 4:    yes / yes
#   p7 L2 3 3 4 4 4                   avg 3.6, min 3:    yes / no
#   p8 L4: top of the IC track, p9: no position; both left out.
#   p10 left since, p11 now at L4 in the org chart, p12 unknown to it: left out, all 4.
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
    scored("p10", (4,) * 5, left=True),
    scored("p11", (4,) * 5, now=("eng", "ic", "L4")),
    scored("p12", (4,) * 5, now=None),
]
LEFT_OUT = {LEFT: 1, MOVED: 1, NOT_IN_ORG_CHART: 1, NO_NEXT_LEVEL: 1, NO_POSITION: 1}


def test_a_stricter_draft_counts_fewer_people_per_move_than_the_version_in_force() -> None:
    """L2 -> L3 holds 2 people, fewer than k: its counts are withheld and not in the
    totals, so the totals minus L3 -> L4 give nothing away."""
    found = run(POPULATION)
    counts = {(t.from_level, t.to_level): (t.people, t.eligible) for t in found.in_force.targets}
    assert counts == {("L2", "L3"): (None, None), ("L3", "L4"): (5, 3)}
    assert found.in_force.targets[0].withheld == too_few_people(5)
    assert found.in_force.targets[1].withheld is None
    assert (found.in_force.people, found.in_force.eligible) == (5, 3)
    assert found.in_force.moves_withheld == 1
    assert found.in_force.criteria_version == 1
    counts = {(t.from_level, t.to_level): (t.people, t.eligible) for t in found.draft.targets}
    assert counts == {("L2", "L3"): (None, None), ("L3", "L4"): (5, 1)}
    assert (found.draft.people, found.draft.eligible, found.draft.moves_withheld) == (5, 1, 1)
    assert found.draft.criteria_version is None, "a draft has no version"
    assert found.left_out == LEFT_OUT
    assert (found.session_id, found.framework_id, found.framework_version) == ("s1", "eng", 1)


def test_leavers_and_people_moved_since_the_calibration_are_not_judged() -> None:
    """p10, p11 and p12 score all 4, which both versions find eligible: counted, they would
    have made L3 -> L4 8 people."""
    found = run(POPULATION)
    assert found.in_force.targets[1].people == 5
    moved_up = scored("p13", (4,) * 5, level="L2", now=("eng", "ic", "L3"))
    assert run([moved_up]).left_out == {MOVED: 1}, "judged neither at L2 nor at L3"
    gone_and_moved = scored("p14", (4,) * 5, now=("eng", "ic", "L4"), left=True)
    assert run([gone_and_moved]).left_out == {LEFT: 1}


def test_what_a_case_shows_is_named_per_move_and_not_counted_against_anyone() -> None:
    """Nobody has a case, so nobody is endorsed, confirmed or dated at the next level; p1
    still counts as eligible, and each move names what was not judged."""
    found = run(POPULATION)
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
    assert "level start the HRIS gives for the person's current level" in found.not_judged_here
    assert "next level" not in found.not_judged_here


def test_a_move_without_its_role_profile_leaves_its_people_out() -> None:
    assert targets(FRAMEWORK, POPULATION) == {("eng", "ic", "L3"), ("eng", "ic", "L4")}
    only_l3 = {k: v for k, v in profiles().items() if k == ("eng", "ic", "L3")}
    found = preview(DRAFT, IN_FORCE, FRAMEWORK, POPULATION, only_l3, as_of=AS_OF)
    assert found.left_out == {**LEFT_OUT, NO_PROFILE: 5}
    assert [(t.to_level, t.people) for t in found.in_force.targets] == [("L3", None)]
    assert (found.in_force.people, found.in_force.moves_withheld) == (0, 1)


ALL_4, ALL_3 = (4,) * 5, (3,) * 5


def group(
    name: str, eligible: int, not_eligible: int, start: int = 0
) -> tuple[list[Scored], dict[str, str | None]]:
    """`eligible` people scoring all 4 (eligible under both versions) and `not_eligible`
    scoring all 3 (under neither), at L3, all in group `name`."""
    people = [
        scored(f"{name}{n}", ALL_4 if n < start + eligible else ALL_3)
        for n in range(start, start + eligible + not_eligible)
    ]
    return people, {p.scores.subject: name for p in people}


def grouped(*groups: tuple[str, int, int]) -> tuple[list[Scored], dict[str, str | None]]:
    population: list[Scored] = []
    attributes: dict[str, str | None] = {}
    for name, eligible, not_eligible in groups:
        people, values = group(name, eligible, not_eligible)
        population += people
        attributes |= values
    return population, attributes


def test_groups_show_a_rounded_share_and_the_four_fifths_flag_for_the_version_in_force() -> None:
    """Group a: 10 of 15 eligible, 0.667 -> 0.7; group b: 5 of 11, 0.455 -> 0.5. The ratio
    (5/11) / (10/15) = 0.68 is below four fifths: b is flagged."""
    population, attributes = grouped(("a", 10, 5), ("b", 5, 6))
    found = run(population, attributes=attributes)
    (move,) = found.in_force.targets
    assert (move.people, move.eligible) == (26, 15)
    assert move.groups == (
        GroupShare(group="a", share=0.7, adverse_impact=False),
        GroupShare(group="b", share=0.5, adverse_impact=True),
    )
    assert move.groups_withheld is None
    assert set(GroupShare.model_fields) == {"group", "share", "adverse_impact"}, "no counts"
    (drafted,) = found.draft.targets
    assert (drafted.groups, drafted.groups_withheld) == ((), DRAFT_GROUPS_WITHHELD)
    assert (found.share_step, found.min_group_size, found.threshold) == (0.1, 5, 0.8)


@pytest.mark.parametrize(
    "groups",
    [
        [("a", 10, 5), ("b", 4, 6)],  # b: 4 eligible
        [("a", 10, 5), ("b", 6, 4)],  # b: 4 not eligible
        [("a", 10, 5), ("b", 11, 0)],  # b: everyone eligible, each of them shown to be
        [("a", 10, 5), ("b", 1, 0)],  # a group of one
    ],
)
def test_a_move_with_any_small_group_shows_no_group_at_all(
    groups: list[tuple[str, int, int]],
) -> None:
    """The attack: were a shown beside a move count, b would be the count minus a. So no
    group of the move is named, and the reason is the same whichever group failed and how."""
    population, attributes = grouped(*groups)
    (move,) = run(population, attributes=attributes).in_force.targets
    assert move.groups == ()
    assert move.groups_withheld == too_few_per_group(5)


def test_undisclosed_people_are_a_group_that_must_be_large_enough_too() -> None:
    population, attributes = grouped(("a", 5, 5), ("b", 5, 5))
    population.append(scored("u0", ALL_4))
    (move,) = run(population, attributes=attributes).in_force.targets
    assert (move.groups, move.groups_withheld) == ((), too_few_per_group(5))
    (move,) = run(population[:-1], attributes=attributes).in_force.targets
    assert [(g.group, g.share) for g in move.groups] == [("a", 0.5), ("b", 0.5)]


def test_two_drafts_a_tenth_apart_do_not_tell_which_group_the_flipped_person_is_in() -> None:
    """The attack: HR knows t scores all 3.9, everyone else all 4 or all 3, so a minimum
    average of 3.9 finds t eligible and 4.0 does not. The groups are of exactly 2k (the
    smallest that can be shown), where a share to 0.1 moves one step per person: any group
    figure of a draft would point at t's group. Whichever group t is in, the drafts' halves
    of the previews are the same, so comparing them shows nothing but t's flip, which HR
    knew."""
    population, attributes = grouped(("a", 5, 5), ("b", 5, 4))
    target = scored("t", (3.9,) * 5)
    lenient, strict = (
        CriteriaSet(version=2, default=Criteria(minimum_average=m)) for m in (3.9, 4.0)
    )
    seen = {}
    for t_group in ("a", "b"):
        world = {**attributes, "t": t_group}
        found = [run([*population, target], d, world) for d in (lenient, strict)]
        assert found[0].in_force == found[1].in_force, "no draft changes the version in force"
        seen[t_group] = [f.draft for f in found]
    assert seen["a"] == seen["b"]
    (lenient_move,), (strict_move,) = (e.targets for e in seen["a"])
    assert (lenient_move.eligible, strict_move.eligible) == (11, 10), "t flips"
    assert lenient_move.groups_withheld == DRAFT_GROUPS_WITHHELD


def test_without_an_attribute_there_are_no_groups() -> None:
    population, _ = grouped(("a", 5, 5), ("b", 5, 5))
    found = run(population)
    assert found.attribute is None
    (move,) = found.draft.targets
    assert (move.groups, move.groups_withheld) == ((), None)


def test_a_draft_hash_is_the_documents_whatever_its_number_or_spelling() -> None:
    """SHA-256 of the canonical JSON without the version: a draft later published as any
    version hashes the same, and 4 and 4.0 are the same number."""
    as_draft = CriteriaSet(version=2, default=Criteria(minimum_average=4))
    published = CriteriaSet(version=7, default=Criteria(minimum_average=4.0))
    body = as_draft.model_dump(mode="json", exclude={"version"})
    assert draft_hash(as_draft) == draft_hash(published)
    assert draft_hash(as_draft) == hashlib.sha256(canonical(body)).hexdigest()
    assert draft_hash(as_draft) != draft_hash(CriteriaSet(version=2))


def test_the_preview_record_is_private_and_holds_no_figures() -> None:
    assert registry.is_private("CriteriaPreviewed")
    assert set(CriteriaPreviewed.model_fields) == {
        "previewed_by",
        "draft_hash",
        "in_force_version",
        "session_id",
        "attribute",
    }


def test_criteria_on_a_scale_the_scores_leave_are_refused() -> None:
    one_to_five = CriteriaSet(version=2, scale="1..5")
    low = [scored("p1", (0, 4, 4, 4, 4))]
    with pytest.raises(PreviewRefused, match=r"outside the scale 1\.\.5"):
        preview(one_to_five, IN_FORCE, FRAMEWORK, low, profiles(), as_of=AS_OF)
