"""Indexes for an access request about a person (services/framework/application/
personal_data.py): the changes of the log they made and the versions they published.

Revision ID: framework_0003
"""

from alembic import op

revision = "framework_0003"
down_revision = "framework_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("events_by_actor", "events", ["actor", "global_position"])
    op.create_index("published_versions_by_actor", "published_versions", ["actor"])
