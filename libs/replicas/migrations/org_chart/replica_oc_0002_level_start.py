"""The day each person's current level began, and the role facts it is found from.

Revision ID: replica_oc_0002

People received before this revision had no role fact, so the first one after it became
their whole history; replica_oc_0003 keeps their position as a fact and finds every level
start again.
"""

import sqlalchemy as sa
from alembic import op

revision = "replica_oc_0002"
down_revision = "replica_oc_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every hiring and role change by stream version: one employee's events may arrive in
    # any order, and the start of the current level is only known from all of them.
    op.create_table(
        "role_facts",
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column("stream_version", sa.Integer, primary_key=True),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("job_family", sa.Text, nullable=False),
        sa.Column("track", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
    )
    op.add_column("people", sa.Column("level_since", sa.Date))
