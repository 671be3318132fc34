"""Each person's data key in PostgreSQL (libs/personal/vault.py), attacked as a service role
and as the owner: services make and read keys but never see the table or destroy a key; only
the erasing role destroys, and every destruction is recorded for good (docs/architecture.md,
personal data)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import psycopg
import psycopg.errors
import pytest
from cryptography.exceptions import InvalidTag
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from libs.events.migrations import migrate
from libs.events.migrations.roles import OWNER_ROLE, PasswordFile, provision, service_role
from libs.personal.sealing import ERASED, PersonalOf, seal, unseal
from libs.personal.vault import (
    MIGRATIONS,
    SCHEMA,
    MasterKeys,
    PostgresDataKeys,
    destroy_keys,
    grant_statements,
)

SEALER, ERASER = "sealer", "eraser"


class Note(BaseModel):
    author_id: str
    about_id: str
    text: Annotated[str, PersonalOf("author_id", "about_id")]


@pytest.fixture
def urls(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The privacy schema migrated by the owner; a sealing and an erasing login role."""
    passwords = PasswordFile(tmp_path / "postgres.pgpass")
    provision(database_url, [SEALER, ERASER], passwords)
    owner = passwords.url(database_url, OWNER_ROLE)
    migrate(owner, SCHEMA, MIGRATIONS)
    with psycopg.connect(owner, autocommit=True) as conn:
        for statement in grant_statements([service_role(SEALER)], service_role(ERASER)):
            conn.execute(statement)
    return {
        "owner": owner,
        SEALER: passwords.url(database_url, service_role(SEALER)),
        ERASER: passwords.url(database_url, service_role(ERASER)),
    }


@pytest.fixture
async def sealer_pool(urls: dict[str, str]) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(urls[SEALER], min_size=1, max_size=4, open=False) as pool:
        yield pool


@pytest.fixture
def master() -> MasterKeys:
    return MasterKeys.generate("m1")


async def test_sealed_under_keys_kept_in_the_database_and_opened_by_another_process(
    sealer_pool: AsyncConnectionPool[Any], master: MasterKeys, urls: dict[str, str]
) -> None:
    note = Note(author_id="emp-bo", about_id="emp-ada", text="Mentors two new hires")
    document = await seal(note, PostgresDataKeys(sealer_pool, master))
    assert "Mentors" not in str(document)
    # A fresh process: nothing cached.
    assert await unseal(Note, document, PostgresDataKeys(sealer_pool, master)) == note

    with psycopg.connect(urls["owner"]) as owner:
        rows = owner.execute(f"SELECT person_id, wrapped FROM {SCHEMA}.data_keys").fetchall()
    assert sorted(person for person, _ in rows) == ["emp-ada", "emp-bo"]
    # The database alone opens nothing: the keys are wrapped in the master key.
    with pytest.raises(InvalidTag):
        await unseal(Note, document, PostgresDataKeys(sealer_pool, MasterKeys.generate("m1")))


async def test_processes_sealing_for_a_new_person_at_once_agree_on_one_key(
    urls: dict[str, str], master: MasterKeys
) -> None:
    async def claim() -> str:
        async with AsyncConnectionPool(urls[SEALER], min_size=1, open=False) as pool:
            keys = await PostgresDataKeys(pool, master).for_people(["emp-new"])
            return keys["emp-new"].key_id

    ids = await asyncio.gather(*(claim() for _ in range(6)))
    assert len(set(ids)) == 1


async def test_a_claim_racing_the_destruction_of_keys_makes_no_key_after_it(
    sealer_pool: AsyncConnectionPool[Any], master: MasterKeys, urls: dict[str, str]
) -> None:
    await PostgresDataKeys(sealer_pool, master).for_people(["emp-ada"])
    async with await psycopg.AsyncConnection.connect(urls[ERASER]) as eraser:
        assert await destroy_keys(eraser, "emp-ada", "REQ-9", "priya-privacy") == 1
        # Uncommitted: the key row is deleted only in this transaction, so a claim now would,
        # without the lock, wait on the row and insert a fresh key once it is gone.
        claim = asyncio.create_task(PostgresDataKeys(sealer_pool, master).for_people(["emp-ada"]))
        await asyncio.sleep(0.5)
        assert not claim.done(), "the claim waits for the destruction"
        await eraser.commit()
    assert await claim == {}
    # Someone erased before anything was sealed for them gets no key either.
    async with await psycopg.AsyncConnection.connect(urls[ERASER], autocommit=True) as eraser:
        assert await destroy_keys(eraser, "emp-zed", "REQ-10", "priya-privacy") == 0
    keys = await PostgresDataKeys(sealer_pool, master).for_people(["emp-zed", "emp-bo"])
    assert keys.keys() == {"emp-bo"}
    with psycopg.connect(urls["owner"]) as owner:
        people = owner.execute(f"SELECT person_id FROM {SCHEMA}.data_keys").fetchall()
    assert people == [("emp-bo",)]


async def test_a_service_role_neither_sees_the_keys_nor_destroys_one(
    sealer_pool: AsyncConnectionPool[Any], master: MasterKeys, urls: dict[str, str]
) -> None:
    await PostgresDataKeys(sealer_pool, master).for_people(["emp-ada"])
    with psycopg.connect(urls[SEALER], autocommit=True) as conn:
        for statement in (
            f"SELECT * FROM {SCHEMA}.data_keys",
            f"DELETE FROM {SCHEMA}.data_keys",
            f"SELECT * FROM {SCHEMA}.destroyed_keys",
            f"SELECT * FROM {SCHEMA}.erased_people",
            f"SELECT {SCHEMA}.destroy_data_keys('emp-ada', 'REQ-1', 'mallory')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


async def test_a_temporary_table_cannot_stand_in_for_the_key_table(
    urls: dict[str, str], master: MasterKeys
) -> None:
    """The functions run as the owner; a caller's own `data_keys` must not capture them."""
    async with await psycopg.AsyncConnection.connect(urls[SEALER], autocommit=True) as conn:
        await conn.execute(
            "CREATE TEMP TABLE data_keys (person_id text PRIMARY KEY, key_id text, "
            "master_key_id text, wrapped bytea, created_at timestamptz)"
        )
        await conn.execute(f"SET search_path = pg_temp, {SCHEMA}")
        await conn.execute(
            f"SELECT * FROM {SCHEMA}.claim_data_keys(%s, %s, %s, %s)",
            (["emp-eve"], ["k-eve"], ["m1"], [b"\x00" * 60]),
        )
        cur = await conn.execute("SELECT count(*) FROM pg_temp.data_keys")
        assert await cur.fetchone() == (0,)
    with psycopg.connect(urls["owner"]) as owner:
        row = owner.execute(
            f"SELECT key_id FROM {SCHEMA}.data_keys WHERE person_id = 'emp-eve'"
        ).fetchone()
    assert row == ("k-eve",)


async def test_destroying_a_persons_keys_erases_what_was_sealed_for_them_and_is_recorded(
    sealer_pool: AsyncConnectionPool[Any], master: MasterKeys, urls: dict[str, str]
) -> None:
    keys = PostgresDataKeys(sealer_pool, master)
    about_ada = await seal(Note(author_id="emp-bo", about_id="emp-ada", text="Calm"), keys)
    by_ada = await seal(Note(author_id="emp-ada", about_id="emp-cy", text="Curious"), keys)
    unrelated = await seal(Note(author_id="emp-bo", about_id="emp-cy", text="Kind"), keys)

    async with await psycopg.AsyncConnection.connect(urls[ERASER], autocommit=True) as conn:
        assert await destroy_keys(conn, "emp-ada", "REQ-7", "priya-privacy") == 1
        # A retry reports what the request destroyed; another request finds nothing left.
        assert await destroy_keys(conn, "emp-ada", "REQ-7", "priya-privacy") == 1
        assert await destroy_keys(conn, "emp-ada", "REQ-8", "priya-privacy") == 0

    fresh = PostgresDataKeys(sealer_pool, master)
    assert (await unseal(Note, about_ada, fresh)).text == ERASED
    assert (await unseal(Note, by_ada, fresh)).text == ERASED
    assert (await unseal(Note, unrelated, fresh)).text == "Kind"
    # The running process learns it at once when told, else within its cache time.
    keys.forget("emp-ada")
    assert (await unseal(Note, about_ada, keys)).text == ERASED

    # Text about the person arriving later is stored erased: they get no key again.
    assert (await fresh.for_people(["emp-ada", "emp-bo"])).keys() == {"emp-bo"}
    late = await seal(Note(author_id="emp-bo", about_id="emp-ada", text="Admitted late"), fresh)
    assert late["text"] == ERASED
    assert (await unseal(Note, about_ada, fresh)).text == ERASED

    with psycopg.connect(urls["owner"], autocommit=True) as owner:
        row = owner.execute(
            f"SELECT person_id, request_ref, actor FROM {SCHEMA}.destroyed_keys"
        ).fetchone()
        assert row == ("emp-ada", "REQ-7", "priya-privacy")
        assert (
            owner.execute(
                f"SELECT person_id FROM {SCHEMA}.data_keys WHERE person_id = 'emp-ada'"
            ).fetchall()
            == []
        ), "no key made again"
        erasures = owner.execute(
            f"SELECT person_id, request_ref FROM {SCHEMA}.erased_people ORDER BY request_ref"
        ).fetchall()
        assert erasures == [("emp-ada", "REQ-7"), ("emp-ada", "REQ-8")]
        # Not even the owner rewrites the record, or swaps a key in place.
        for statement in (
            f"UPDATE {SCHEMA}.destroyed_keys SET request_ref = 'none'",
            f"DELETE FROM {SCHEMA}.destroyed_keys",
            f"TRUNCATE {SCHEMA}.destroyed_keys",
            f"UPDATE {SCHEMA}.erased_people SET request_ref = 'none'",
            f"DELETE FROM {SCHEMA}.erased_people",
            f"TRUNCATE {SCHEMA}.erased_people",
            f"UPDATE {SCHEMA}.data_keys SET wrapped = '\\x00'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                owner.execute(statement)
