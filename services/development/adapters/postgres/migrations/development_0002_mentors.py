"""Index the plans' actions by their content, for an access request about a mentor
(services/development/adapters/postgres/records.py `held_about`): the actions of other
people's plans naming them, found by containment rather than by reading every plan.

Revision ID: development_0002
"""

from alembic import op

revision = "development_0002"
down_revision = "development_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX plans_by_action ON plans USING gin (actions jsonb_path_ops)")
