"""The personal text of decision-log entries, held beside the log so that it can be erased
(docs/privacy.md, The decision log).

An entry of payload version 2 commits to each personal text field (SHA-256 of salt and text);
the salt and the text are rows of `decision_log_personal`. The service appends them with the
entry (SELECT and INSERT, as on every append-only table: `refuse_change` refuses UPDATE and
TRUNCATE, to the owner too). A row is deleted only when an erasure entry of the log names it:
a trigger refuses any other DELETE, the owner's included, and the service, which holds no
DELETE, reaches it only through `erase_decision_log_personal`, which removes exactly what a
hash-checked erasure entry names. So every removal is recorded in the chain, with its request.

Revision ID: promotion_0004
"""

from alembic import op

revision = "promotion_0004"
down_revision = "promotion_0003"
branch_labels = None
depends_on = None

# The (entry, field) pairs an intact erasure entry names, read from its hashed body.
_NAMED = """
    SELECT x.entry_id, x.field
    FROM decision_log e,
         jsonb_to_recordset(convert_from(e.body, 'UTF8')::jsonb -> 'payload' -> 'erased')
             AS x(entry_id uuid, field text)
    WHERE e.kind = 'erasure' AND encode(sha256(e.body), 'hex') = e.hash
"""


def upgrade() -> None:
    # No foreign key to the log: it would make TRUNCATE of the log fail on the key before
    # its trigger refuses it as append-only; a row for no entry is read by nothing.
    op.execute(
        """
        CREATE TABLE decision_log_personal (
            entry_id uuid NOT NULL,
            field    text NOT NULL,
            salt     bytea NOT NULL CHECK (octet_length(salt) = 32),
            text     text NOT NULL,
            PRIMARY KEY (entry_id, field)
        )
        """
    )
    op.execute(
        "CREATE INDEX decision_log_erasures ON decision_log (sequence) WHERE kind = 'erasure'"
    )
    op.execute(
        "CREATE TRIGGER decision_log_personal_refuse_update BEFORE UPDATE ON "
        "decision_log_personal FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER decision_log_personal_refuse_truncate BEFORE TRUNCATE ON "
        "decision_log_personal FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
    # Functions name their schema and put pg_temp last, so that no caller's table can stand
    # in for the log.
    schema = op.get_context().version_table_schema
    path = f'SET search_path = "{schema}", pg_temp'
    op.execute(
        f"""
        CREATE FUNCTION decision_log_personal_erasable() RETURNS trigger
        LANGUAGE plpgsql {path}
        AS $$
        BEGIN
            IF EXISTS (SELECT FROM ({_NAMED}) named
                       WHERE named.entry_id = OLD.entry_id AND named.field = OLD.field) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '%.% is erased only under an erasure entry of the decision log: '
                'DELETE of entry % field % is refused', TG_TABLE_SCHEMA, TG_TABLE_NAME,
                OLD.entry_id, OLD.field
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'erase a person through the promotion service''s erasure';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER decision_log_personal_refuse_delete BEFORE DELETE ON "
        "decision_log_personal FOR EACH ROW EXECUTE FUNCTION decision_log_personal_erasable()"
    )
    op.execute(
        f"""
        CREATE FUNCTION erase_decision_log_personal(erasure uuid) RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER {path}
        AS $$
        DECLARE erased integer;
        BEGIN
            IF NOT EXISTS (SELECT FROM decision_log e WHERE e.entry_id = erasure
                           AND e.kind = 'erasure' AND encode(sha256(e.body), 'hex') = e.hash)
            THEN
                RAISE EXCEPTION 'entry % is not an intact erasure entry of the decision log',
                    erasure USING ERRCODE = 'insufficient_privilege';
            END IF;
            DELETE FROM decision_log_personal p
            USING decision_log e,
                  jsonb_to_recordset(convert_from(e.body, 'UTF8')::jsonb -> 'payload' -> 'erased')
                      AS x(entry_id uuid, field text)
            WHERE e.entry_id = erasure AND p.entry_id = x.entry_id AND p.field = x.field;
            GET DIAGNOSTICS erased = ROW_COUNT;
            RETURN erased;
        END
        $$
        """
    )
    # EXECUTE stays with PUBLIC: only roles that may use the schema reach the function, that
    # is its owner and the service's role (libs/events/migrations/roles.py), and it removes
    # nothing an erasure entry in the log does not name.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON decision_log_personal FROM PUBLIC")
