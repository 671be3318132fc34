"""Campaign-wide tables kept in the same transaction as the campaign's events.

Revision ID: assessment_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "assessment_0002"
down_revision = "assessment_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The latest submission per (campaign, subject, rater): aggregation and calibration read a
    # whole campaign in one query instead of replaying one stream per subject.
    op.create_table(
        "submissions",
        sa.Column("campaign_id", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("rater", sa.Text, primary_key=True),
        sa.Column("rater_group", sa.Text, nullable=False),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("answers", JSONB, nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
    )
    # Peer nominations as they stand: whom a peer rates, without reading every subject.
    op.create_table(
        "peer_nominations",
        sa.Column("campaign_id", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("peer", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_index("peer_nominations_by_peer", "peer_nominations", ["campaign_id", "peer"])
