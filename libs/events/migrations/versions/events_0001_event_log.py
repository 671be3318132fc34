"""The append-only event log, the inbox of handled events, and relay checkpoints.

Revision ID: events_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "events_0001"
down_revision = None
branch_labels = ("events",)
depends_on = None


def upgrade() -> None:
    # Written as DDL: SQLAlchemy has no xid8 type, and the CHECK and triggers are the point.
    op.execute(
        """
        CREATE TABLE events (
            global_position bigint PRIMARY KEY,
            transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
            event_id        uuid NOT NULL UNIQUE,
            event_type      text NOT NULL,
            schema_version  integer NOT NULL CHECK (schema_version >= 1),
            stream_id       text NOT NULL,
            stream_version  integer NOT NULL CHECK (stream_version >= 1),
            occurred_at     timestamptz NOT NULL,
            recorded_at     timestamptz NOT NULL DEFAULT now(),
            actor           text NOT NULL,
            correlation_id  uuid NOT NULL,
            causation_id    uuid,
            trace_context   jsonb NOT NULL DEFAULT '{}',
            payload         jsonb NOT NULL,
            UNIQUE (stream_id, stream_version),
            -- a position belongs to the transaction that wrote it (see libs.events.store)
            CHECK (global_position >> 16 = transaction_id::text::bigint)
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '%.% is append-only: % is refused',
                TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'record a new event that corrects or supersedes the old one';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_refuse_update_delete BEFORE UPDATE OR DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC")
    # Wakes the outbox relay at commit; the relay also polls, so a lost notification only delays.
    op.execute(
        """
        CREATE FUNCTION notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_TABLE_SCHEMA || '_events', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_notify AFTER INSERT ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION notify_events()"
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "relay_checkpoints",
        sa.Column("relay", sa.Text, primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
