"""Who approved each published version in review (services/framework/domain/authoring.py):
versions published before review rounds existed carry none.

Revision ID: framework_0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "framework_0004"
down_revision = "framework_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: existing rows read it without being rewritten (the table refuses
    # UPDATE).
    op.add_column(
        "published_versions",
        sa.Column(
            "approvals", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
    )
