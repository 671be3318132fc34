"""Anchors calibration found raters reading differently: the next minor revision's worklist.

Revision ID: framework_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "framework_0002"
down_revision = "framework_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anchor_reviews",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("competency", sa.Text, primary_key=True),
        sa.Column("framework_id", sa.Text, nullable=False),
        sa.Column("framework_version", sa.Integer, nullable=False),
        sa.Column("flagged_items", sa.Integer, nullable=False),
        sa.Column("compared_items", sa.Integer, nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("anchor_reviews_by_framework", "anchor_reviews", ["framework_id"])
