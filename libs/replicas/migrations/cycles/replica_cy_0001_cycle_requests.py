"""The review cycles HR started through the cycles API, as a service running their activities
knows them.

Revision ID: replica_cy_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "replica_cy_0001"
down_revision = None
branch_labels = ("cycle_requests",)
depends_on = "events_0001"


def upgrade() -> None:
    op.create_table(
        "cycle_requests",
        sa.Column("series_id", sa.Text, primary_key=True),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("grant_sha256", sa.Text, nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
