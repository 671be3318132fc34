"""Index the inbox by when each row was written, for pruning (`libs.events.pruning`).

`handled_at` has recorded when each row was written since events_0001, so existing rows
keep their own age. Built in the migration's transaction: consumers wait on it while it builds.

Revision ID: events_0004
"""

from alembic import op

revision = "events_0004"
down_revision = "events_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX inbox_handled_at ON inbox (handled_at)")
