"""Finding legal holds and a person's own acts in the decision log (docs/privacy.md, Legal
holds and Requests): a hold is looked up by its id when it is lifted, and an access request
lists the entries a person recorded on other people's cases.

Revision ID: promotion_0005
"""

from alembic import op

revision = "promotion_0005"
down_revision = "promotion_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX decision_log_holds ON decision_log ((payload->>'hold_id'), sequence) "
        "WHERE kind IN ('legal_hold', 'legal_hold_lifted')"
    )
    op.create_index("decision_log_by_actor", "decision_log", ["actor", "sequence"])
