"""Indexes for the questions an access or erasure request asks about one person
(services/assessment/adapters/postgres/campaign_records.py): the submissions they made or
that rate them, the calibrations of them, the campaigns assessing them and the peer
nominations naming them. The last two read the log's payloads, which hold these ids in
clear; partial, they index only those events.

Revision ID: assessment_0005
"""

from alembic import op

revision = "assessment_0005"
down_revision = "assessment_0004"
branch_labels = None
depends_on = None

# The parties of a peer nomination, as `nominations_involving` asks for them.
NOMINATION_PARTIES = (
    "(ARRAY[payload->>'subject', payload->>'peer', payload->>'nominated_by', "
    "payload->>'decided_by'])"
)


def upgrade() -> None:
    op.create_index("submissions_by_rater", "submissions", ["rater"])
    op.create_index("submissions_by_subject", "submissions", ["subject"])
    op.create_index("calibration_subjects_by_subject", "calibration_subjects", ["subject"])
    op.execute(
        "CREATE INDEX events_campaign_populations ON events USING gin ((payload->'population')) "
        "WHERE event_type = 'CampaignOpened'"
    )
    op.execute(
        f"CREATE INDEX events_nomination_parties ON events USING gin ({NOMINATION_PARTIES}) "
        "WHERE event_type IN ('PeerNominated', 'PeerNominationDecided')"
    )
