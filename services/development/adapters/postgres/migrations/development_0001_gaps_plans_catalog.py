"""Calibrated scores, gaps, plans, the course catalog and completions.

Revision ID: development_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "development_0001"
down_revision = None
branch_labels = ("development",)
depends_on = "events_0001"


def upgrade() -> None:
    # One row per calibration received: its presence makes a repeated CalibrationCompleted
    # (a new event id for the same session) a no-op, beyond what the inbox catches.
    op.create_table(
        "calibrations",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("campaign_id", sa.Text, nullable=False),
        sa.Column("framework_id", sa.Text, nullable=False),
        sa.Column("framework_version", sa.Integer, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "scores",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column("competency", sa.Text, primary_key=True),
        sa.Column("score", sa.Float),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("scores_by_employee", "scores", ["employee_id", "completed_at"])
    op.create_table(
        "gaps",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column("competency", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("nature", sa.Text, nullable=False),
        sa.Column("target", sa.Integer, nullable=False),
        sa.Column("current", sa.Float),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("gaps_by_employee", "gaps", ["employee_id", "completed_at"])
    op.create_table(
        "plans",
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("employee_id", sa.Text, nullable=False),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("actions", JSONB, nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("plans_by_employee", "plans", ["employee_id", "completed_at"])
    op.create_table(
        "courses",
        sa.Column("course_id", sa.Text, primary_key=True),
        sa.Column("course", JSONB, nullable=False),
        # When the LMS made the update that set it: a late-delivered older one never wins.
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "completions",
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column("course_id", sa.Text, primary_key=True),
        sa.Column("completed_on", sa.Date, nullable=False),
    )
