"""Plan and goal progress by department (services/development/domain/progress.py)."""

from __future__ import annotations

from services.development.domain.progress import (
    GoalStates,
    PlanProgress,
    goal_states,
    plan_progress,
)


def test_every_kind_counts_its_completed_actions() -> None:
    counts = [
        ("Platform", "on_the_job", 3, 6, 2),
        ("Platform", "course", 3, 4, 1),
        ("Insights", "course", 1, 0, 0),
    ]
    assert plan_progress(counts) == [  # type: ignore[arg-type]
        PlanProgress(
            department="Insights",
            kind="course",
            people=1,
            actions=0,
            completed=0,
            share_completed=None,  # no action: no share
        ),
        PlanProgress(
            department="Platform",
            kind="course",
            people=3,
            actions=4,
            completed=1,
            share_completed=0.25,
        ),
        PlanProgress(
            department="Platform",
            kind="on_the_job",
            people=3,
            actions=6,
            completed=2,  # marked done by the employees
            share_completed=2 / 6,
        ),
    ]


def test_goal_states_one_row_per_department_every_state_counted() -> None:
    counts = [("Platform", "open", 2), ("Insights", "met", 1), ("Platform", "dropped", 1)]
    assert goal_states(counts) == [  # type: ignore[arg-type]
        GoalStates(department="Insights", met=1, total=1),
        GoalStates(department="Platform", open=2, dropped=1, total=3),
    ]
