"""Index the outside systems' events by the employee they are about, for access requests
(services/cycles/adapters/personal_data.py): every one names them in `employee_id`.

Partial: only admitted events (`source` set) are in it, so the logs of services that admit
none keep an empty index. Built in the migration's transaction.

Revision ID: events_0006
"""

from alembic import op

revision = "events_0006"
down_revision = "events_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX events_outside_by_employee ON events ((payload->>'employee_id')) "
        "WHERE source IS NOT NULL"
    )
