"""Goals (docs/domain.md §5, Goals): each goal as its events left it, for the routes, the
calibration's verdicts and access and erasure requests.

Revision ID: development_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "development_0003"
down_revision = "development_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "goals",
        sa.Column("goal_id", sa.Text, primary_key=True),
        sa.Column("employee_id", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        # The `Goal` model (services/development/domain/goals.py), text in clear: erasure
        # scrubs it (erase_goal_text).
        sa.Column("goal", JSONB, nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
    )
    op.create_index("goals_by_employee", "goals", ["employee_id", "due"])
