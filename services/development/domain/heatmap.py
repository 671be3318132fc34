"""The gap heatmap (docs/domain.md §5, Gaps): one cell per department and competency of a
calibration, saying how many people the competency's target applies to, how many were
observed, their mean gap and the share of the observed below target.

The cells are tallied one gap row at a time: memory grows with the number of cells
(departments x competencies), never with the number of people, so the rows may be streamed
from the database however many there are.

- `people`: everyone whose role profile has a target on the competency.
- `observed`: those with a calibrated score; not observed claims no gap (gaps.py), so it
  counts in neither the mean nor the share.
- `mean_gap`: mean of target - score over the observed, negative gaps (strengths) included:
  the cell says where the department stands, not only what it lacks. None when nobody was
  observed.
- `below_target`, `share_below_target`: the observed scoring under the target, and their
  share of the observed (None when nobody was).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True, slots=True)
class GapRow:
    """One person's gap on one competency, placed in their department."""

    department: str
    competency: str
    target: int
    # The calibrated score; None when nobody observed the competency.
    current: float | None


class HeatmapCell(BaseModel):
    model_config = ConfigDict(frozen=True)

    department: str
    competency: str
    people: int
    observed: int
    mean_gap: float | None
    below_target: int
    share_below_target: float | None


@dataclass(slots=True)
class _Tally:
    people: int = 0
    observed: int = 0
    gap_sum: float = 0.0
    below: int = 0


class HeatmapTally:
    """Cells built up row by row (`add`), read once all rows are in (`cells`)."""

    def __init__(self) -> None:
        self._cells: dict[tuple[str, str], _Tally] = {}

    def add(self, row: GapRow) -> None:
        tally = self._cells.get((row.department, row.competency))
        if tally is None:
            tally = self._cells[(row.department, row.competency)] = _Tally()
        tally.people += 1
        if row.current is None:
            return
        tally.observed += 1
        tally.gap_sum += row.target - row.current
        if row.current < row.target:
            tally.below += 1

    def cells(self) -> list[HeatmapCell]:
        """By department, then competency."""
        return [
            HeatmapCell(
                department=department,
                competency=competency,
                people=t.people,
                observed=t.observed,
                mean_gap=t.gap_sum / t.observed if t.observed else None,
                below_target=t.below,
                share_below_target=t.below / t.observed if t.observed else None,
            )
            for (department, competency), t in sorted(self._cells.items())
        ]


def heatmap(rows: Iterable[GapRow]) -> list[HeatmapCell]:
    tally = HeatmapTally()
    for row in rows:
        tally.add(row)
    return tally.cells()
