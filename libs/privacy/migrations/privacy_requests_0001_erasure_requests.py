"""The erasure requests privacy officers made through the cycles API, as a service erasing
a person knows them.

Revision ID: privacy_requests_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "privacy_requests_0001"
down_revision = None
branch_labels = ("erasure_requests",)
depends_on = "events_0001"


def upgrade() -> None:
    op.create_table(
        "erasure_requests",
        sa.Column("request_ref", sa.Text, primary_key=True),
        sa.Column("employee_id", sa.Text, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("grant_sha256", sa.Text, nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
