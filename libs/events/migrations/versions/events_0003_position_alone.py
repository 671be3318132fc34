"""The position alone carries the writing transaction: drop the derivable xid column.

`global_position >> 16` is the transaction id (see libs.events.store). The ordinal in the
low 16 bits runs 1..65535 and positions within a transaction are consecutive, so a
transaction writing a 65,536th event would need ordinal 0: refusing ordinal 0 refuses any
overflow into the next transaction's range.

Revision ID: events_0003
"""

from alembic import op

revision = "events_0003"
down_revision = "events_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE events DROP COLUMN transaction_id")
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT events_ordinal_in_range "
        "CHECK (global_position & 65535 <> 0)"
    )
