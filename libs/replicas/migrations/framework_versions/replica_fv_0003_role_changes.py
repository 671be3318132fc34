"""How many role profile changes each version published, to know when all have arrived.

Revision ID: replica_fv_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "replica_fv_0003"
down_revision = "replica_fv_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for versions published before the count travelled with them: unknown, not zero.
    op.add_column("framework_versions", sa.Column("role_changes", sa.Integer))
    # Counting a version's role profile rows, on every read of a version.
    op.create_index("role_profiles_by_version", "role_profiles", ["framework_id", "version"])
