"""Announce appends after commit, from the store, instead of from a trigger inside it.

A notifying commit takes PostgreSQL's cluster-wide notify lock and holds it through its WAL
flush, serialising every writer; `libs.events.store.CommitNotifier` notifies afterwards.

Revision ID: events_0002
"""

from alembic import op

revision = "events_0002"
down_revision = "events_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER events_notify ON events")
    op.execute("DROP FUNCTION notify_events()")
