"""Criteria versions and calibrated scores never change: refuse TRUNCATE as well as UPDATE and
DELETE, as the event log and the decision log do.

A decision names the criteria version and the calibration it relied on; rewriting either
would change what a recorded decision appears to have been based on.

Revision ID: promotion_0003
"""

from alembic import op

revision = "promotion_0003"
down_revision = "promotion_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TRIGGER criteria_versions_refuse_truncate BEFORE TRUNCATE ON criteria_versions "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
    for table in ("calibrations", "calibrated_scores"):
        op.execute(
            f"CREATE TRIGGER {table}_refuse_update_delete BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
        )
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC")
