"""Each person's data key, wrapped under a master key, and the record of keys destroyed.

Nobody reads or writes the tables directly: services seal and open through two functions
that run as the owner, and only the erasing role may call the third, which destroys a
person's keys and records under which request (docs/architecture.md, personal data).

Revision ID: privacy_0001
"""

from alembic import op

revision = "privacy_0001"
down_revision = None
branch_labels = ("privacy",)
depends_on = "events_0001"  # refuse_change()


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE data_keys (
            person_id     text PRIMARY KEY,
            key_id        text NOT NULL UNIQUE,
            master_key_id text NOT NULL,
            wrapped       bytea NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # A key is made once and destroyed once: rewriting one in place would erase a person
    # with no record of it.
    op.execute(
        "CREATE TRIGGER data_keys_refuse_update BEFORE UPDATE ON data_keys "
        "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        """
        CREATE TABLE destroyed_keys (
            key_id       text PRIMARY KEY,
            person_id    text NOT NULL,
            destroyed_at timestamptz NOT NULL DEFAULT now(),
            request_ref  text NOT NULL,
            actor        text NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX destroyed_keys_person ON destroyed_keys (person_id)")
    op.execute(
        "CREATE TRIGGER destroyed_keys_refuse_update_delete BEFORE UPDATE OR DELETE ON "
        "destroyed_keys FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER destroyed_keys_refuse_truncate BEFORE TRUNCATE ON destroyed_keys "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
    op.execute("REVOKE ALL ON data_keys, destroyed_keys FROM PUBLIC")
    # Functions that run as the owner name their schema and put pg_temp last, so that a
    # caller's temporary table can never stand in for one of these.
    schema = op.get_context().version_table_schema
    path = f'SET search_path = "{schema}", pg_temp'
    # Keys already there win: two processes sealing for the same new person at once agree
    # on one key. A key made concurrently by another transaction is not in this statement's
    # snapshot; the caller asks again for anyone missing from the answer.
    op.execute(
        f"""
        CREATE FUNCTION claim_data_keys(
            people text[], key_ids text[], master_key_ids text[], wrapped bytea[])
        RETURNS TABLE (person_id text, key_id text, master_key_id text, wrapped bytea)
        LANGUAGE sql SECURITY DEFINER
        {path}
        AS $$
            WITH made AS (
                INSERT INTO data_keys (person_id, key_id, master_key_id, wrapped)
                SELECT * FROM unnest(people, key_ids, master_key_ids, wrapped)
                ON CONFLICT (person_id) DO NOTHING
                RETURNING person_id, key_id, master_key_id, wrapped
            )
            SELECT * FROM made
            UNION ALL
            SELECT d.person_id, d.key_id, d.master_key_id, d.wrapped FROM data_keys d
            WHERE d.person_id = ANY (people)
        $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION data_keys_by_id(key_ids text[])
        RETURNS TABLE (person_id text, key_id text, master_key_id text, wrapped bytea)
        LANGUAGE sql STABLE SECURITY DEFINER
        {path}
        AS $$
            SELECT person_id, key_id, master_key_id, wrapped FROM data_keys
            WHERE key_id = ANY (key_ids)
        $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION destroy_data_keys(person text, request_ref text, actor text)
        RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER
        {path}
        AS $$
        DECLARE destroyed integer;
        BEGIN
            INSERT INTO destroyed_keys (key_id, person_id, request_ref, actor)
            SELECT d.key_id, d.person_id, request_ref, actor FROM data_keys d
            WHERE d.person_id = person;
            DELETE FROM data_keys d WHERE d.person_id = person;
            GET DIAGNOSTICS destroyed = ROW_COUNT;
            RETURN destroyed;
        END
        $$
        """
    )
    for function in (
        "claim_data_keys(text[], text[], text[], bytea[])",
        "data_keys_by_id(text[])",
        "destroy_data_keys(text, text, text)",
    ):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
