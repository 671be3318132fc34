"""Each published framework whole, and every role profile as each version left it.

Revision ID: replica_fv_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "replica_fv_0002"
down_revision = "replica_fv_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows received before this column existed stay without it: they predate whole documents.
    op.add_column("framework_versions", sa.Column("framework", postgresql.JSONB))
    # A version announces only the roles it changed: a role's profile at version N is its
    # row with the highest version not above N (none, or a removal, means no such role).
    op.create_table(
        "role_profiles",
        sa.Column("framework_id", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("change", sa.Text, nullable=False),
        sa.Column("family", sa.Text, nullable=False),
        sa.Column("track", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("profile", postgresql.JSONB, nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
    )
    op.create_index(
        "role_profiles_by_position",
        "role_profiles",
        ["framework_id", "family", "track", "level", "version"],
    )
