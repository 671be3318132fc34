"""Published framework versions, for as-of queries and history; immutable once written.

Revision ID: framework_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "framework_0001"
down_revision = None
branch_labels = ("framework",)
depends_on = "events_0001"


def upgrade() -> None:
    op.create_table(
        "published_versions",
        sa.Column("framework_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("revision", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("framework", postgresql.JSONB, nullable=False),
    )
    op.create_index(
        "published_versions_as_of", "published_versions", ["framework_id", "published_at"]
    )
    # A published version is immutable: the same guard as the event log (events_0001).
    op.execute(
        "CREATE TRIGGER published_versions_refuse_change BEFORE UPDATE OR DELETE "
        "ON published_versions FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER published_versions_refuse_truncate BEFORE TRUNCATE ON published_versions "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
