"""A calibration session's inputs, computed once when it opens (docs/domain.md §4,
Calibration at scale): the items it scores, each with its aggregated score, and its signals.
The campaign is closed, so its ratings no longer change: review, adjustment and completion
read these rows instead of aggregating every rating again.

Revision ID: assessment_0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "assessment_0006"
down_revision = "assessment_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In the order the session lists them (`ordinal`): by subject, competency, sub-skill.
    op.create_table(
        "calibration_items",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("ordinal", sa.Integer, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("competency", sa.Text, nullable=False),
        sa.Column("sub_skill", sa.Text, nullable=True),
        sa.Column("aggregated", sa.Float, nullable=True),
    )
    op.create_index("calibration_items_by_subject", "calibration_items", ["session_id", "subject"])
    # Written after every item: a session with a row here has all of its items.
    op.create_table(
        "calibration_signals",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("signals", JSONB, nullable=False),
    )
