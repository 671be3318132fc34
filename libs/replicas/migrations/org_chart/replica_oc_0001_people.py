"""The org chart as the HRIS reports it: people, their positions and reporting lines.

Revision ID: replica_oc_0001

The assessment service created this table in its own branch before the org chart became a
shared replica; `if_not_exists` lets its databases take this branch without losing data.
"""

import sqlalchemy as sa
from alembic import op

revision = "replica_oc_0001"
down_revision = None
branch_labels = ("org_chart",)
depends_on = "events_0001"


def upgrade() -> None:
    # Each aspect keeps the stream version of the HRIS event that last set it: the events
    # of one employee arrive through several consumers, so a late one must not win.
    op.create_table(
        "people",
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("hired_on", sa.Date),
        sa.Column("department", sa.Text),
        sa.Column("job_family", sa.Text),
        sa.Column("track", sa.Text),
        sa.Column("level", sa.Text),
        sa.Column("role_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("manager_id", sa.Text),
        sa.Column("manager_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("left_on", sa.Date),
        if_not_exists=True,
    )
    op.create_index("people_by_manager", "people", ["manager_id"], if_not_exists=True)
    op.create_index("people_by_department", "people", ["department"], if_not_exists=True)
