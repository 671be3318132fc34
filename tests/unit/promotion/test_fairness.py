"""Fairness monitoring (docs/domain.md §6, legal context: Title VII covers promotions and vague
criteria draw disparate-impact scrutiny): promotion rates per group of an optional protected
attribute, and the adverse-impact ratio per cycle under the four-fifths rule."""

from __future__ import annotations

import pytest

from services.promotion.domain.fairness import (
    DEFAULT_MIN_GROUP_SIZE,
    UNDISCLOSED,
    CycleFairness,
    Decision,
    GroupRate,
    adverse_impact,
)


def scripted(
    cycle: str, group: str | None, approved: int, denied: int, deferred: int = 0
) -> tuple[list[Decision], dict[str, str | None]]:
    """People of one group in one cycle with the given outcome counts."""
    decisions: list[Decision] = []
    attributes: dict[str, str | None] = {}
    outcomes = ["approve"] * approved + ["deny"] * denied + ["defer"] * deferred
    for i, outcome in enumerate(outcomes):
        person = f"{cycle}-{group}-{i}"
        decisions.append(Decision(person=person, cycle=cycle, outcome=outcome))  # type: ignore[arg-type]
        attributes[person] = group
    return decisions, attributes


def combine(
    *parts: tuple[list[Decision], dict[str, str | None]],
) -> tuple[list[Decision], dict[str, str | None]]:
    decisions: list[Decision] = []
    attributes: dict[str, str | None] = {}
    for d, a in parts:
        decisions += d
        attributes |= a
    return decisions, attributes


def group(cycle: CycleFairness, label: str) -> GroupRate:
    (found,) = [g for g in cycle.groups if g.group == label]
    return found


def test_the_scripted_data_set_matches_the_hand_computation() -> None:
    """Hand computation: group A 40 of 100 promoted, rate 0.40; group B 12 of 50, rate 0.24;
    B's ratio 0.24 / 0.40 = 0.60 < 0.80: adverse impact on B. B's 50 include 8 deferrals,
    counted as not selected. The 3 undisclosed people (2 promoted, rate 0.67, the highest)
    are below the minimum size of 5: reported, not judged, not the reference."""
    decisions, attributes = combine(
        scripted("2025-h1", "A", approved=40, denied=60),
        scripted("2025-h1", "B", approved=12, denied=30, deferred=8),
        scripted("2025-h1", None, approved=2, denied=1),
    )
    (cycle,) = adverse_impact(decisions, attributes)

    assert cycle.cycle == "2025-h1"
    assert cycle.reference_group == "A"
    assert (cycle.threshold, cycle.min_group_size) == (0.8, DEFAULT_MIN_GROUP_SIZE)
    assert [g.group for g in cycle.groups] == ["A", "B", UNDISCLOSED]
    a, b, undisclosed = cycle.groups
    assert (a.considered, a.selected, a.rate, a.impact_ratio) == (100, 40, 0.40, 1.0)
    assert not a.adverse_impact
    assert (b.considered, b.selected, b.rate) == (50, 12, 0.24)
    assert b.impact_ratio == pytest.approx(0.60)
    assert b.adverse_impact
    assert (undisclosed.considered, undisclosed.selected) == (3, 2)
    assert undisclosed.rate == pytest.approx(2 / 3)
    assert undisclosed.too_small
    assert not undisclosed.adverse_impact
    assert cycle.flagged == ["B"]


def test_exactly_four_fifths_is_not_flagged_and_just_under_is() -> None:
    """A: 10/20 = 0.50. B: 8/20 = 0.40, ratio exactly 0.80 (not below). C: 7/20, ratio 0.70."""
    decisions, attributes = combine(
        scripted("c", "A", 10, 10), scripted("c", "B", 8, 12), scripted("c", "C", 7, 13)
    )
    (cycle,) = adverse_impact(decisions, attributes)
    assert group(cycle, "B").impact_ratio == 0.8
    assert not group(cycle, "B").adverse_impact
    assert group(cycle, "C").adverse_impact
    assert cycle.flagged == ["C"]


def test_each_cycle_is_judged_on_its_own() -> None:
    decisions, attributes = combine(
        scripted("2024-h2", "A", 5, 5),
        scripted("2024-h2", "B", 5, 5),
        scripted("2025-h1", "A", 6, 4),
        scripted("2025-h1", "B", 2, 8),
    )
    first, second = adverse_impact(decisions, attributes)
    assert (first.cycle, first.flagged) == ("2024-h2", [])
    assert (second.cycle, second.flagged) == ("2025-h1", ["B"])
    assert group(second, "B").impact_ratio == pytest.approx(0.2 / 0.6)


def test_people_without_the_attribute_are_undisclosed_not_dropped() -> None:
    decisions, _ = scripted("c", "A", 3, 3)
    attributes = {decisions[0].person: "A", decisions[1].person: None, decisions[2].person: " "}
    (cycle,) = adverse_impact(decisions, attributes)
    assert group(cycle, "A").considered == 1
    assert group(cycle, UNDISCLOSED).considered == 5  # None, blank and unknown people
    assert sum(g.considered for g in cycle.groups) == len(decisions)


def test_without_any_attribute_everyone_is_one_undisclosed_group() -> None:
    decisions, _ = scripted("c", "A", 4, 6)
    (cycle,) = adverse_impact(decisions)
    assert [(g.group, g.considered, g.selected) for g in cycle.groups] == [(UNDISCLOSED, 10, 4)]
    assert cycle.reference_group == UNDISCLOSED
    assert cycle.flagged == []


def test_when_no_group_is_large_enough_nothing_is_judged() -> None:
    decisions, attributes = combine(scripted("c", "A", 3, 1), scripted("c", "B", 0, 4))
    (cycle,) = adverse_impact(decisions, attributes)
    assert cycle.reference_group is None
    assert all(g.too_small and g.impact_ratio is None for g in cycle.groups)
    assert cycle.flagged == []
    (smaller,) = adverse_impact(decisions, attributes, min_group_size=4)
    assert smaller.flagged == ["B"]


def test_when_nobody_is_promoted_there_is_no_ratio() -> None:
    decisions, attributes = combine(scripted("c", "A", 0, 10), scripted("c", "B", 0, 0, 10))
    (cycle,) = adverse_impact(decisions, attributes)
    assert cycle.reference_group is None
    assert [g.impact_ratio for g in cycle.groups] == [None, None]
    assert cycle.flagged == []


def test_the_last_decision_per_person_and_cycle_counts() -> None:
    """An appeal outcome replaces the decision it appealed: a person counts once."""
    decisions, attributes = scripted("c", "A", 0, 5)
    appeal = Decision(person=decisions[0].person, cycle="c", outcome="approve")
    (cycle,) = adverse_impact([*decisions, appeal], attributes)
    assert (group(cycle, "A").considered, group(cycle, "A").selected) == (5, 1)


def test_outputs_name_groups_never_people() -> None:
    decisions, attributes = combine(scripted("c", "A", 4, 6), scripted("c", "B", 1, 9))
    text = "".join(c.model_dump_json() for c in adverse_impact(decisions, attributes))
    assert not any(d.person in text for d in decisions)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        adverse_impact([], threshold=0)
    with pytest.raises(ValueError, match="min_group_size"):
        adverse_impact([], min_group_size=0)
    assert adverse_impact([]) == []


def test_lateral_moves_are_reported_apart_from_promotions() -> None:
    """docs/domain.md §6, Lateral moves: a cycle's lateral moves get rates of their own.
    Promotions: A 4 of 10 approved. Lateral moves: A 1 of 2, B 0 of 1; one person of A was
    decided on both, and counts once in each."""
    promotions, attributes = scripted("c", "A", 4, 6)
    lateral = [
        Decision(person=promotions[0].person, cycle="c", outcome="approve", move_kind="lateral"),
        Decision(person="c-A-lateral", cycle="c", outcome="deny", move_kind="lateral"),
        Decision(person="c-B-lateral", cycle="c", outcome="defer", move_kind="lateral"),
    ]
    attributes |= {"c-A-lateral": "A", "c-B-lateral": "B"}
    promoted, moved = adverse_impact([*lateral, *promotions], attributes)
    assert (promoted.cycle, promoted.move_kind) == ("c", "promotion")
    assert [(g.group, g.considered, g.selected) for g in promoted.groups] == [("A", 10, 4)]
    assert (moved.cycle, moved.move_kind) == ("c", "lateral")
    assert [(g.group, g.considered, g.selected) for g in moved.groups] == [
        ("A", 2, 1),
        ("B", 1, 0),
    ]
    assert Decision(person="p", cycle="c", outcome="deny").move_kind == "promotion"
