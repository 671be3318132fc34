"""A person erased gets no key again, and destroying keys counts the request's, not the call's.

Before this, sealing for a person whose keys were destroyed made them a fresh key: an event
about them admitted late from the HRIS, or any later append, was sealed under it and read in
clear again. Now every erasure is recorded per person (even one who had no key yet) and
`claim_data_keys` makes and returns no key for anyone recorded; the caller seals their
fields as erased (docs/privacy.md, Erasure by destroying keys).

Claiming and destroying hold a per-person advisory lock to the end of their transaction,
and read only once they hold it, on a fresh snapshot: a claim running while a person's keys
are destroyed cannot slip a new key in after the destroy, and two claims for a new person
agree on the key the first made. A person missing from a claim's answer is thus erased, and
the caller no longer asks again (privacy_0001's claims could miss a key made concurrently).

Revision ID: privacy_0002
"""

from alembic import op

revision = "privacy_0002"
down_revision = "privacy_0001"
branch_labels = None
depends_on = None

# The first key of the two-key advisory locks on a person's keys, apart from the service
# schemas' single-key locks (hashtext of a schema or an aggregate id).
_LOCKS = 7_404_001


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE erased_people (
            person_id   text NOT NULL,
            request_ref text NOT NULL,
            actor       text NOT NULL,
            erased_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (person_id, request_ref)
        )
        """
    )
    op.execute(
        "CREATE TRIGGER erased_people_refuse_update_delete BEFORE UPDATE OR DELETE ON "
        "erased_people FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER erased_people_refuse_truncate BEFORE TRUNCATE ON erased_people "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )
    op.execute("REVOKE ALL ON erased_people FROM PUBLIC")
    # People erased before this revision are those whose keys were destroyed.
    op.execute(
        """
        INSERT INTO erased_people (person_id, request_ref, actor, erased_at)
        SELECT person_id, request_ref, min(actor), min(destroyed_at) FROM destroyed_keys
        GROUP BY person_id, request_ref
        """
    )
    schema = op.get_context().version_table_schema
    path = f'SET search_path = "{schema}", pg_temp'
    # VOLATILE (the default): each statement reads on a fresh snapshot, so the insert sees
    # what was committed while this call waited for its locks. Taken in the order of their
    # keys, so two claims for overlapping people never wait on each other in a cycle.
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION claim_data_keys(
            people text[], key_ids text[], master_key_ids text[], wrapped bytea[])
        RETURNS TABLE (person_id text, key_id text, master_key_id text, wrapped bytea)
        LANGUAGE sql SECURITY DEFINER
        {path}
        AS $$
            SELECT pg_advisory_xact_lock({_LOCKS}, h)
            FROM (SELECT DISTINCT hashtext(p) AS h FROM unnest(people) AS u(p) ORDER BY h) AS l;

            WITH made AS (
                INSERT INTO data_keys (person_id, key_id, master_key_id, wrapped)
                SELECT n.p, n.k, n.m, n.w
                FROM unnest(people, key_ids, master_key_ids, wrapped) AS n(p, k, m, w)
                WHERE NOT EXISTS (SELECT 1 FROM erased_people e WHERE e.person_id = n.p)
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
    # Returns the keys destroyed under the request, so that a retry reports what the first
    # call did rather than nothing.
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION destroy_data_keys(person text, request_ref text, actor text)
        RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER
        {path}
        AS $$
        DECLARE destroyed integer;
        BEGIN
            PERFORM pg_advisory_xact_lock({_LOCKS}, hashtext(person));
            INSERT INTO erased_people (person_id, request_ref, actor)
            VALUES (person, destroy_data_keys.request_ref, destroy_data_keys.actor)
            ON CONFLICT DO NOTHING;
            INSERT INTO destroyed_keys (key_id, person_id, request_ref, actor)
            SELECT d.key_id, d.person_id, destroy_data_keys.request_ref, destroy_data_keys.actor
            FROM data_keys d WHERE d.person_id = person;
            DELETE FROM data_keys d WHERE d.person_id = person;
            SELECT count(*) INTO destroyed FROM destroyed_keys k
            WHERE k.person_id = person AND k.request_ref = destroy_data_keys.request_ref;
            RETURN destroyed;
        END
        $$
        """
    )
