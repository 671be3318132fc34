"""Plan and goal progress by department, for HR's reports (docs/domain.md §5). The counts
come aggregated from the database, a row per department and kind or state; this module says
what they mean.

- Plan actions in force, per department and action kind, over each person's latest plan:
  how many people have such actions, how many actions, and how many are completed. An action
  is completed when it is done as its plan tracks it (plan_ownership: the employee marked it
  done with evidence, or the LMS's completion of its course on or after the plan's day did,
  whether it came before the action was in force or after). Nothing else counts, so a
  plan's actions done here are exactly those of its own progress (plan_ownership.completion)
  and of its team's.
- Goals, per department: how many are in each state, and in all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.development import ActionKind
from services.development.domain.goals import GoalState


class PlanProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    department: str
    kind: ActionKind
    people: int
    actions: int
    completed: int
    share_completed: float | None = Field(description="completed / actions; null for none")


def plan_progress(counts: Iterable[tuple[str, ActionKind, int, int, int]]) -> list[PlanProgress]:
    """`counts`: (department, kind, people, actions, completed), by department then kind."""
    rows = []
    for department, kind, people, actions, completed in sorted(counts):
        rows.append(
            PlanProgress(
                department=department,
                kind=kind,
                people=people,
                actions=actions,
                completed=completed,
                share_completed=completed / actions if actions else None,
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
