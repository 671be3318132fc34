"""Published framework versions, as a consuming service knows them.

Revision ID: replica_fv_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "replica_fv_0001"
down_revision = None
branch_labels = ("framework_versions",)
depends_on = "events_0001"


def upgrade() -> None:
    op.create_table(
        "framework_versions",
        sa.Column("framework_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("revision", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("levels", sa.Integer, nullable=False),
        sa.Column("competencies", sa.Integer, nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
