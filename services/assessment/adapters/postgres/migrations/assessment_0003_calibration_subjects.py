"""Which calibration session calibrates each subject of a campaign: one session each, so two
sessions can never publish conflicting calibrated scores for the same person.

Revision ID: assessment_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "assessment_0003"
down_revision = "assessment_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibration_subjects",
        sa.Column("campaign_id", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("session_id", sa.Text, nullable=False),
    )
