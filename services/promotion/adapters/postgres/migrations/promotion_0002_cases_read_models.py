"""What promotion cases are judged on: calibrated scores, criteria versions, and the
separately protected attribute fairness monitoring compares groups on.

Revision ID: promotion_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "promotion_0002"
down_revision = "promotion_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("campaign_id", sa.Text, nullable=False),
        sa.Column("framework_id", sa.Text, nullable=False),
        sa.Column("framework_version", sa.Integer, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    )
    # One row per subject of a session: the scores exactly as CalibrationCompleted carried
    # them, and the position they were assessed in.
    op.create_table(
        "calibrated_scores",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column("position", JSONB),
        sa.Column("scores", JSONB, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "calibrated_scores_by_employee", "calibrated_scores", ["employee_id", "completed_at"]
    )
    # Criteria versions are immutable once published: a decision names the version it used.
    op.create_table(
        "criteria_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("criteria", JSONB, nullable=False),
        sa.Column("published_by", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "CREATE TRIGGER criteria_versions_refuse_update_delete BEFORE UPDATE OR DELETE ON "
        "criteria_versions FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON criteria_versions FROM PUBLIC")
    op.create_table(
        "protected_attributes",
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column("attribute", sa.Text, primary_key=True),
        sa.Column("value", sa.Text),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
    )
