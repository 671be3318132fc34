"""Database roles: an owner that migrates, and one login role per service that only uses.

The owner role creates and alters every service schema; each service connects as its own
role, which is neither owner nor superuser: it cannot alter a table, disable a trigger, set
`session_replication_role`, or even see another service's schema. Its table privileges are
derived from the schema after every migration run (`sync_grants`), so they follow the
tables as migrations add them:

- a table guarded by the `refuse_change()` trigger (events, decision log, published
  versions ...) is append-only: SELECT and INSERT;
- any other table is a read model the service rewrites: SELECT, INSERT and UPDATE;
- the inbox, besides: DELETE, to prune the rows past the broker's retention
  (`libs.events.pruning`);
- `alembic_version`: SELECT, so a service can tell that its schema is up to date.

No service role holds DELETE anywhere else, or TRUNCATE anywhere: nothing else deletes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors
from sqlalchemy import Connection, text

OWNER_ROLE = "talentledger_owner"
ROLE_PREFIX = "talentledger_"
VERSION_TABLE = "alembic_version"
# Tables whose old rows the service itself deletes (see the module docstring).
PRUNED_TABLES = frozenset({"inbox"})
# The attributes each role is (re)set to, whatever it was created with.
_OWNER_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
_SERVICE_ATTRIBUTES = f"{_OWNER_ATTRIBUTES} NOINHERIT"


def service_role(service: str) -> str:
    """The login role a service connects as."""
    return f"{ROLE_PREFIX}{service}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def role_statements(
    database: str, services: Iterable[str], passwords: Mapping[str, str]
) -> list[str]:
    """SQL that creates (or corrects) the owner and service roles for `database`.

    Run, connected to `database`, by a role allowed to create roles (the superuser of the
    embedded cluster). Each statement is idempotent; `passwords` maps a role name to the
    password it gets (roles not in it keep theirs).
    """
    statements: list[str] = []
    roles = [(OWNER_ROLE, _OWNER_ATTRIBUTES)]
    roles += [(service_role(name), _SERVICE_ATTRIBUTES) for name in services]
    for role, attributes in roles:
        statements.append(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) THEN "
            f"CREATE ROLE {_ident(role)}; END IF; END $$"
        )
        password = f" PASSWORD {_literal(passwords[role])}" if role in passwords else ""
        statements.append(f"ALTER ROLE {_ident(role)} WITH {attributes}{password}")
        statements.append(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {_ident(role)}")
    # The owner creates one schema per service; nobody else creates anything.
    statements.append(f"GRANT CREATE ON DATABASE {_ident(database)} TO {_ident(OWNER_ROLE)}")
    # PostgreSQL before 15 let everyone create tables in `public`.
    statements.append("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    return statements


def adopt_statements(conn: psycopg.Connection[Any], schemas: Iterable[str]) -> list[str]:
    """SQL that hands existing service schemas (migrated by another role, such as the
    superuser of an older install) and everything in them to the owner role."""
    statements: list[str] = []
    owner = _ident(OWNER_ROLE)
    for schema in schemas:
        row = conn.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
        if row is None or row[0] == OWNER_ROLE:
            continue
        s = _ident(schema)
        statements.append(f"ALTER SCHEMA {s} OWNER TO {owner}")
        kinds = {"r": "TABLE", "p": "TABLE", "S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
        for name, kind in conn.execute(
            "SELECT relname, relkind::text FROM pg_class WHERE relnamespace = %s::regnamespace "
            "AND relkind IN ('r', 'p', 'S', 'v', 'm')",
            (s,),
        ):
            statements.append(f"ALTER {kinds[kind]} {s}.{_ident(name)} OWNER TO {owner}")
        for (function,) in conn.execute(
            "SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace = %s::regnamespace",
            (s,),
        ):
            statements.append(f"ALTER FUNCTION {function} OWNER TO {owner}")
    return statements


def provision(admin_url: str, services: Sequence[str], passwords: PasswordFile) -> None:
    """Create the owner and service roles for the database `admin_url` names, with
    passwords from `passwords`, and hand existing service schemas to the owner."""
    database = database_of(admin_url)
    roles = [OWNER_ROLE, *(service_role(name) for name in services)]
    secrets_ = {role: passwords.password(role) for role in roles}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for attempt in (1, 2):
            try:
                for statement in role_statements(database, services, secrets_):
                    conn.execute(statement)
                break
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
                # Another process created the same role at the same moment: now it exists.
                if attempt == 2:
                    raise
        for statement in adopt_statements(conn, services):
            conn.execute(statement)


def sync_grants(connection: Connection, schema: str, role: str) -> None:
    """Give `role` exactly what a service needs on `schema` (see the module docstring).

    Runs in the migration's transaction, as the schema's owner, after its migrations.
    """
    tables = connection.execute(
        text(
            "SELECT c.relname, EXISTS ("
            "  SELECT FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            "  WHERE t.tgrelid = c.oid AND p.proname = 'refuse_change') "
            "FROM pg_class c WHERE c.relnamespace = CAST(:s AS regnamespace) "
            "AND c.relkind IN ('r', 'p')"
        ),
        {"s": _ident(schema)},
    ).all()
    s, r = _ident(schema), _ident(role)
    connection.execute(text(f"GRANT USAGE ON SCHEMA {s} TO {r}"))
    connection.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}"))
    connection.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r}"))
    for table, append_only in tables:
        if table == VERSION_TABLE:
            privileges = "SELECT"
        elif append_only:
            privileges = "SELECT, INSERT"
        elif table in PRUNED_TABLES:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        else:
            privileges = "SELECT, INSERT, UPDATE"
        connection.execute(text(f"GRANT {privileges} ON {s}.{_ident(table)} TO {r}"))


# -- credentials ---------------------------------------------------------------------------


class PasswordFile:
    """Generated role passwords in a libpq password file (mode 0600).

    Connection URLs name the file (`passfile=`) instead of carrying the password, so the
    password appears in no URL, process list, log or state file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def passwords(self) -> dict[str, str]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return {}
        found: dict[str, str] = {}
        for line in lines:
            parts = line.split(":")
            if len(parts) == 5 and not line.startswith("#"):
                found[parts[3]] = parts[4]
        return found

    def password(self, role: str) -> str:
        """The role's password, generated and stored on first use."""
        known = self.passwords()
        if role not in known:
            # URL-safe alphabet: no ':' or '\\', which the file format would need escaped.
            known[role] = secrets.token_urlsafe(32)
            self._write(known)
        return known[role]

    def _write(self, passwords: Mapping[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.touch(mode=0o600)
        tmp.chmod(0o600)
        tmp.write_text("".join(f"*:*:*:{role}:{pw}\n" for role, pw in passwords.items()))
        tmp.replace(self.path)

    def url(self, base_url: str, role: str) -> str:
        """`base_url` (any user) with `role` as the user and this file for its password."""
        self.password(role)
        return with_role(base_url, role, passfile=self.path)


def with_role(base_url: str, role: str, passfile: Path | None = None) -> str:
    """The same server and database as `base_url`, as `role` (without a password)."""
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "passfile"]
    if passfile is not None:
        query.append(("passfile", str(passfile)))
    netloc = f"{quote(role, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def with_database(url: str, database: str) -> str:
    """The same server, user and options as `url`, for another database."""
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query, parts.fragment)
    )


def database_of(url: str) -> str:
    """The database a URL names."""
    return unquote(urlsplit(url).path.lstrip("/"))
