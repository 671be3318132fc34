"""The tamper-evident decision log (docs/domain.md §6).

Revision ID: promotion_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID

revision = "promotion_0001"
down_revision = None
branch_labels = ("promotion",)
depends_on = "events_0001"


def upgrade() -> None:
    # `body` holds the exact canonical bytes `hash` was computed over; the other columns are
    # there to be queried, and a verifier checks each against the body.
    op.create_table(
        "decision_log",
        sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("entry_id", UUID, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("employee_id", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("previous_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("body", BYTEA, nullable=False),
    )
    op.create_index("decision_log_by_case", "decision_log", ["case_id", "sequence"])
    op.create_index("decision_log_by_employee", "decision_log", ["employee_id", "sequence"])
    # The database itself refuses changes (refuse_change comes with the event log).
    op.execute(
        "CREATE TRIGGER decision_log_refuse_update_delete BEFORE UPDATE OR DELETE ON "
        "decision_log FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER decision_log_refuse_truncate BEFORE TRUNCATE ON decision_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON decision_log FROM PUBLIC")
