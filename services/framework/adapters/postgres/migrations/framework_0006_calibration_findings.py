"""What each calibration found about a framework version's anchors and role profiles (the
assessment service's AnchorFindingsRecorded), kept whole: revision items and the health
report are computed from them and the published versions (services/framework/domain/upkeep.py).

Revision ID: framework_0006 (it follows framework_0004; there is no framework_0005)
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "framework_0006"
down_revision = "framework_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibration_findings",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("campaign_id", sa.Text, nullable=False),
        sa.Column("framework_id", sa.Text, nullable=False),
        sa.Column("framework_version", sa.Integer, nullable=False),
        sa.Column("findings", JSONB, nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "calibration_findings_by_framework",
        "calibration_findings",
        ["framework_id", "found_at"],
    )
