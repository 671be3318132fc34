"""The context that recorded an event, when it is not the log's own: an outside system's
event admitted from the intake (libs/events/intake.py) keeps its source, so that the relay
publishes it on that system's subjects and consumers read it as that system's.

NULL, on every event a service appended itself: the log's own context.

Revision ID: events_0005
"""

from alembic import op

revision = "events_0005"
down_revision = "events_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE events ADD COLUMN source text")
