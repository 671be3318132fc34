"""Who counted for each subject when the campaign closed: results are computed from these
assignments ever after, so a later change to the org chart (a report who leaves, a new
manager) changes no group of a closed campaign and singles out no rater (docs/domain.md §3,
Anonymity). Written once at close, never changed.

Revision ID: assessment_0004
"""

from alembic import op

revision = "assessment_0004"
down_revision = "assessment_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE frozen_campaigns (campaign_id text PRIMARY KEY, "
        "frozen_at timestamptz NOT NULL DEFAULT now())"
    )
    op.execute(
        # Written in the same transaction as its frozen_campaigns row (the one that says
        # the campaign was frozen, even with no assignment at all).
        "CREATE TABLE frozen_assignments (campaign_id text NOT NULL, subject text NOT NULL, "
        "rater text NOT NULL, PRIMARY KEY (campaign_id, subject, rater))"
    )
    for table in ("frozen_campaigns", "frozen_assignments"):
        op.execute(
            f"CREATE TRIGGER {table}_refuse_update_delete BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
        )
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC")
