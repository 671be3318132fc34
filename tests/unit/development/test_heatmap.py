"""The gap heatmap (services/development/domain/heatmap.py): per department and competency,
the people a target applies to, the observed, the mean gap and the share below target."""

from __future__ import annotations

from services.development.domain.heatmap import GapRow, HeatmapCell, HeatmapTally, heatmap


def test_cells_match_hand_computed_values() -> None:
    rows = [
        # Platform testing, target 3: gaps 2, 0.5, -1 and one not observed.
        GapRow("Platform", "testing", 3, 1.0),
        GapRow("Platform", "testing", 3, 2.5),
        GapRow("Platform", "testing", 3, 4.0),
        GapRow("Platform", "testing", 3, None),
        # Platform coding: targets 3 and 4 (two roles), scores 3 and 2: gaps 0 and 2.
        GapRow("Platform", "coding", 3, 3.0),
        GapRow("Platform", "coding", 4, 2.0),
        # Insights testing: nobody observed.
        GapRow("Insights", "testing", 3, None),
    ]
    assert heatmap(rows) == [
        HeatmapCell(
            department="Insights",
            competency="testing",
            people=1,
            observed=0,
            mean_gap=None,
            below_target=0,
            share_below_target=None,
        ),
        HeatmapCell(
            department="Platform",
            competency="coding",
            people=2,
            observed=2,
            mean_gap=1.0,  # (0 + 2) / 2
            below_target=1,  # at target is not below it
            share_below_target=0.5,
        ),
        HeatmapCell(
            department="Platform",
            competency="testing",
            people=4,
            observed=3,
            mean_gap=0.5,  # (2 + 0.5 - 1) / 3: the strength pulls the mean down
            below_target=2,
            share_below_target=2 / 3,  # of the observed, not of everyone
        ),
    ]


def test_rows_tallied_one_at_a_time_give_the_same_cells_in_any_order() -> None:
    rows = [
        GapRow("B", "x", 2, 1.0),
        GapRow("A", "y", 5, 4.5),
        GapRow("B", "x", 2, 3.0),
        GapRow("A", "y", 5, None),
    ]
    tally = HeatmapTally()
    for row in reversed(rows):
        tally.add(row)
    assert tally.cells() == heatmap(rows)
    assert [(c.department, c.competency, c.mean_gap) for c in tally.cells()] == [
        ("A", "y", 0.5),
        ("B", "x", 0.0),  # (1 + -1) / 2
    ]


def test_no_rows_no_cells() -> None:
    assert heatmap([]) == []
