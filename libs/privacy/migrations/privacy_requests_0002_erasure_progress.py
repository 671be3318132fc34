"""How far each erasure request went, as a service erasing a person knows it: when the
promotion service cleared it (`ErasureCleared`) and how it ended (`PersonErased`). Kept
apart from the requests themselves, since each event may arrive before the request's.

Revision ID: privacy_requests_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "privacy_requests_0002"
down_revision = "privacy_requests_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_progress",
        sa.Column("request_ref", sa.Text, primary_key=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.Text),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("outcome IN ('erased', 'refused')", name="erasure_outcome"),
    )
    op.create_index("erasure_requests_by_employee", "erasure_requests", ["employee_id"])
