"""Data keys in PostgreSQL, wrapped under the master keys of the configuration.

The database holds each person's key only wrapped (AES-256-GCM under a master key, bound to
the person and the key id), so a copy of the database alone opens nothing; the processes hold
the master keys. Services reach the keys only through the schema's functions
(`migrations/`): they may make and read keys; only the cycles service's role may destroy a
person's keys, for an erasure request (docs/privacy.md, Requests;
talentledger/stack/database.py). A person erased is never given a key again.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from libs.personal.keyring import KeyRing, KeyRingError
from libs.personal.sealing import DataKey

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "privacy"
_NONCE = 12
# How long an opened key is used without asking the database again: an erasure reaches a
# running process within this time even if nothing tells it.
CACHE_SECONDS = 60.0


class MasterKeyError(KeyRingError):
    """The master key file is missing or malformed, or lacks a key a data key is wrapped in."""


class MasterKeys(KeyRing):
    """The keys every data key is wrapped in (`KeyRing`'s file format and rotation)."""

    description = "personal data master keys"
    when_missing = (
        "run `talentledger up` (it generates them) or set TALENTLEDGER_PERSONAL_DATA_KEYS_FILE "
        "to a file of one line `<key id> <base64 of 32 random bytes>`; a service never runs "
        "without them, since it would have to store personal fields in clear"
    )
    error = MasterKeyError


class PostgresDataKeys:
    """`libs.personal.sealing.DataKeys` in the privacy schema, with a short-lived cache."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], master: MasterKeys, schema: str = SCHEMA
    ) -> None:
        self._pool = pool
        self._master = master
        self._schema = sql.Identifier(schema)
        self._by_person: dict[str, tuple[float, DataKey]] = {}
        self._by_id: dict[str, tuple[float, bytes]] = {}

    async def for_people(self, people: Collection[str]) -> Mapping[str, DataKey]:
        found = {p: k for p in people if (k := self._cached(self._by_person, p)) is not None}
        missing = [p for p in dict.fromkeys(people) if p not in found]
        if not missing:
            return found
        made = [_new_key() for _ in missing]
        # The function answers every key it made or found, none for a person erased.
        for person, key_id, master_key_id, wrapped in await self._call(
            "claim_data_keys",
            missing,
            [k.key_id for k in made],
            [self._master.current] * len(made),
            [self._wrap(p, k) for p, k in zip(missing, made, strict=True)],
        ):
            key = DataKey(key_id, self._unwrap(person, key_id, master_key_id, wrapped))
            found[person] = key
            self._remember(person, key)
        return found

    async def by_ids(self, key_ids: Collection[str]) -> Mapping[str, bytes]:
        found = {k: key for k in key_ids if (key := self._cached(self._by_id, k)) is not None}
        wanted = [k for k in dict.fromkeys(key_ids) if k not in found]
        if wanted:
            for person, key_id, master_key_id, wrapped in await self._call(
                "data_keys_by_id", wanted
            ):
                key = DataKey(key_id, self._unwrap(person, key_id, master_key_id, wrapped))
                found[key_id] = key.key
                self._remember(person, key)
        return found

    def forget(self, person: str) -> None:
        """Drop `person`'s key from the cache now (their key was destroyed)."""
        entry = self._by_person.pop(person, None)
        if entry is not None:
            self._by_id.pop(entry[1].key_id, None)

    async def _call(self, function: str, *arrays: list[Any]) -> list[tuple[Any, ...]]:
        query = sql.SQL("SELECT * FROM {}.{}({})").format(
            self._schema,
            sql.Identifier(function),
            sql.SQL(", ").join(sql.Placeholder() * len(arrays)),
        )
        async with self._pool.connection() as conn:
            return await _fetch(conn, query, arrays)

    def _wrap(self, person: str, key: DataKey) -> bytes:
        nonce = os.urandom(_NONCE)
        master = AESGCM(self._master.keys[self._master.current])
        return nonce + master.encrypt(nonce, key.key, _bound(person, key.key_id))

    def _unwrap(self, person: str, key_id: str, master_key_id: str, wrapped: bytes) -> bytes:
        master = self._master.keys.get(master_key_id)
        if master is None:
            raise MasterKeyError(
                f"data keys are wrapped in master key {master_key_id!r}, which is not in the "
                "master key file: add it back (after the current key)"
            )
        wrapped = bytes(wrapped)
        return AESGCM(master).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _bound(person, key_id))

    def _remember(self, person: str, key: DataKey) -> None:
        until = time.monotonic() + CACHE_SECONDS
        self._by_person[person] = (until, key)
        self._by_id[key.key_id] = (until, key.key)

    @staticmethod
    def _cached(cache: dict[str, tuple[float, Any]], name: str) -> Any:
        entry = cache.get(name)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del cache[name]
            return None
        return entry[1]


async def destroy_keys(
    conn: AsyncConnection[Any], person: str, request_ref: str, actor: str, schema: str = SCHEMA
) -> int:
    """Destroy every data key of `person`, recording the request and who made it; return how
    many keys of theirs were destroyed under `request_ref` (a repeat counts the same).
    Everything sealed under them reads as erased from now on, and no key is made for them
    again."""
    cur = await conn.execute(
        sql.SQL("SELECT {}.destroy_data_keys(%s, %s, %s)").format(sql.Identifier(schema)),
        (person, request_ref, actor),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _fetch(
    conn: AsyncConnection[Any], query: sql.Composed, params: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    cur = await conn.execute(query, params)
    return await cur.fetchall()


def _bound(person: str, key_id: str) -> bytes:
    # A wrapped key moved to another person's row, or relabelled, no longer unwraps.
    return f"{person}\x00{key_id}".encode()


def grant_statements(
    sealing: Collection[str], erasing: str | None = None, schema: str = SCHEMA
) -> list[sql.Composed]:
    """SQL, run by the schema's owner, that lets `sealing` roles make and read keys and the
    `erasing` role alone destroy them (none: only the owner). Nobody gets the key tables;
    every role may read the schema's migration version, to tell that it is up to date."""
    s = sql.Identifier(schema)
    claim = sql.SQL("{}.claim_data_keys(text[], text[], text[], bytea[])").format(s)
    read = sql.SQL("{}.data_keys_by_id(text[])").format(s)
    destroy = sql.SQL("{}.destroy_data_keys(text, text, text)").format(s)
    grants = [(role, [claim, read]) for role in sealing]
    if erasing is not None:
        grants.append((erasing, [claim, read, destroy]))
    statements = []
    for role, functions in grants:
        r = sql.Identifier(role)
        statements += [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
            sql.SQL("GRANT SELECT ON {}.alembic_version TO {}").format(s, r),
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(", ").join(functions), r),
        ]
    return statements


def _new_key() -> DataKey:
    return DataKey(secrets.token_hex(16), AESGCM.generate_key(bit_length=256))
