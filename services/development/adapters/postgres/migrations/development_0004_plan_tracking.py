"""Plans the employee owns (docs/domain.md §5, Development plans): each plan's tracks, the
state and history of every action its events touched (proposals, decisions, steps started
or done, comments), as services/development/domain/plan_ownership.py folds them; and the
role profile a plan aimed at a target position works towards.

Revision ID: development_0004
"""

from alembic import op

revision = "development_0004"
down_revision = "development_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A list of `ActionTrack`s in the order their actions were first tracked, text in clear:
    # erasure scrubs it (erase_plan_text). A plan with none has every action in force
    # approved and not started.
    op.execute("ALTER TABLE plans ADD COLUMN tracking jsonb NOT NULL DEFAULT '[]'::jsonb")
    # Null: the plan of the person's own role, as every plan before this revision.
    op.execute("ALTER TABLE plans ADD COLUMN target_role text")
