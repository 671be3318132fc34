"""Plan and goal progress by department, for HR's reports (docs/domain.md §5). The counts
come aggregated from the database, a row per department and kind or state; this module says
what they mean.

- Plan actions, per department and action kind, over each person's latest plan: how many
  people have such actions, how many actions, and how many are completed. Only a course has
  a completion on record (the LMS's `CourseCompleted`, on or after the plan's day): for
  on-the-job and mentoring actions this report counts none, so it is None, not 0 (what the
  employee marks done is each plan's own progress: plan_ownership.completion).
- Goals, per department: how many are in each state, and in all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from pydantic import BaseModel, ConfigDict

from libs.events.schemas.development import ActionKind
from services.development.domain.goals import GoalState

# The action kinds whose completion is recorded.
COMPLETION_RECORDED: frozenset[str] = frozenset({"course"})


class PlanProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    department: str
    kind: ActionKind
    people: int
    actions: int
    completed: int | None
    share_completed: float | None


def plan_progress(counts: Iterable[tuple[str, ActionKind, int, int, int]]) -> list[PlanProgress]:
    """`counts`: (department, kind, people, actions, completed), by department then kind."""
    rows = []
    for department, kind, people, actions, completed in sorted(counts):
        recorded = kind in COMPLETION_RECORDED
        rows.append(
            PlanProgress(
                department=department,
                kind=kind,
                people=people,
                actions=actions,
                completed=completed if recorded else None,
                share_completed=completed / actions if recorded and actions else None,
            )
        )
    return rows


class GoalStates(BaseModel):
    model_config = ConfigDict(frozen=True)

    department: str
    proposed: int = 0
    open: int = 0
    rejected: int = 0
    met: int = 0
    missed: int = 0
    dropped: int = 0
    total: int = 0


def goal_states(counts: Iterable[tuple[str, GoalState, int]]) -> list[GoalStates]:
    """`counts`: (department, state, goals); one row per department, every state counted."""
    per: dict[str, dict[str, int]] = {}
    for department, state, goals in counts:
        found = per.setdefault(department, dict.fromkeys(get_args(GoalState), 0))
        found[state] += goals
    return [
        GoalStates(department=department, **found, total=sum(found.values()))
        for department, found in sorted(per.items())
    ]
