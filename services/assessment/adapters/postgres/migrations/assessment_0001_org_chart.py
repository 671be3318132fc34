"""Formerly the org chart, now the shared replica's `org_chart` branch (replica_oc_0001).

Revision ID: assessment_0001

Kept, empty, so that databases which applied it keep a consistent history.
"""

revision = "assessment_0001"
down_revision = None
branch_labels = ("assessment",)
depends_on = "events_0001"


def upgrade() -> None:
    """Nothing: the table is created by the org chart replica's branch."""
