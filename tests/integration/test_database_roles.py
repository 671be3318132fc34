"""Database roles on a real PostgreSQL: what each service's role may and may not do, that
append-only tables refuse change even to their owner, and the limits on service connections.

The roles and schemas are made exactly as `talentledger up` makes them
(`talentledger.stack.database.prepare`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import psycopg.errors
import pytest
from faststream.nats import NatsBroker
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from libs.events.envelope import EventMetadata
from libs.events.migrations import NotMigrated, check_migrated, migrate
from libs.events.migrations.roles import OWNER_ROLE, PasswordFile, provision, service_role
from libs.events.pruning import MARGIN, InboxPruning
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.personal import vault
from libs.platform.database import service_conninfo
from libs.platform.settings import Settings
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.domain.decision_log import verify
from services.promotion.domain.payloads import Appeal, Endorsement, ErasedField, Erasure
from talentledger.cli import app
from talentledger.stack.database import KEY_ERASING_SERVICE, prepare
from talentledger.stack.supervisor import SERVICES
from tests.support.backbone import create_effects_table, effect_counts, start_consumer, wait_until
from tests.support.events import Probe

# Tables documented as never changing, and the schemas that hold them.
APPEND_ONLY = {
    *((name, "events") for name in SERVICES),
    ("framework", "published_versions"),
    ("promotion", "decision_log"),
    ("promotion", "criteria_versions"),
    ("promotion", "calibrations"),
    ("promotion", "calibrated_scores"),
    ("assessment", "frozen_campaigns"),
    ("assessment", "frozen_assignments"),
}
# Tables whose rows never change and are deleted only by an erasure the decision log records
# (docs/privacy.md): UPDATE and TRUNCATE refused like the append-only ones.
ERASABLE = {("promotion", "decision_log_personal")}
# The personal data keys' schema (docs/privacy.md): a key is destroyed, never rewritten, and
# the records of destroyed keys and of people erased never change
# (tests/integration/test_personal_data_keys.py attacks them). It takes the events branch for
# `refuse_change()`; its log stays empty.
DATA_KEYS = {
    ("privacy", "data_keys"),
    ("privacy", "destroyed_keys"),
    ("privacy", "erased_people"),
    ("privacy", "events"),
}
# One row for each append-only table, so that row triggers have something to refuse.
SEED = {
    "events": "INSERT INTO {s}.events (global_position, event_id, event_type, schema_version, "
    "stream_id, stream_version, occurred_at, actor, correlation_id, payload) VALUES "
    "((pg_current_xact_id()::text::bigint << 16) + 1, gen_random_uuid(), 'Seeded', 1, 's', 1, "
    "now(), 'tests', gen_random_uuid(), '{{}}')",
    "published_versions": "INSERT INTO {s}.published_versions VALUES "
    "('f', 1, '1.0', now(), 'tests', gen_random_uuid(), '{{}}')",
    "decision_log": "INSERT INTO {s}.decision_log VALUES (1, gen_random_uuid(), 'decision', "
    "'c', 'e', 'tests', now(), '{{}}', 'h0', 'h1', 'body')",
    "criteria_versions": "INSERT INTO {s}.criteria_versions VALUES (1, '{{}}', 'tests', now())",
    "calibrations": "INSERT INTO {s}.calibrations VALUES ('s1', 'c1', 'f', 1, now())",
    "calibrated_scores": "INSERT INTO {s}.calibrated_scores VALUES "
    "('s1', 'e1', NULL, '{{}}', now())",
    "frozen_campaigns": "INSERT INTO {s}.frozen_campaigns VALUES ('c1', now())",
    "frozen_assignments": "INSERT INTO {s}.frozen_assignments VALUES ('c1', 'e1', 'r1')",
}


@pytest.fixture
def passwords(tmp_path: Path) -> PasswordFile:
    return PasswordFile(tmp_path / "keys" / "postgres.pgpass")


@pytest.fixture
def service_urls(database_url: str, passwords: PasswordFile) -> dict[str, str]:
    return prepare(database_url, SERVICES, passwords)


def connect(url: str, **limits: float) -> psycopg.Connection[Any]:
    """A connection made the way a service makes its own."""
    settings = Settings.model_validate({"DATABASE_URL": url, **limits})
    return psycopg.connect(service_conninfo(settings), autocommit=True)


def refused(conn: psycopg.Connection[Any], statement: str) -> str:
    """Run `statement`; it must be refused for want of privilege. Returns the message."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refusal:
        conn.execute(statement)
    return str(refusal.value)


def refused_changes(conn: psycopg.Connection[Any], table: str, column: str) -> list[str]:
    """UPDATE (of `column`), DELETE and TRUNCATE of `table`, each refused; the messages."""
    return [
        refused(conn, statement)
        for statement in (
            f"UPDATE {table} SET {column} = 'mallory'",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
        )
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_role_cannot_rewrite_its_logs_or_lift_the_guards(
    service: str, service_urls: dict[str, str]
) -> None:
    logs = ["events", "decision_log"] if service == "promotion" else ["events"]
    with connect(service_urls[service]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (service_role(service),)
        for log in logs:
            table = f"{service}.{log}"
            conn.execute(f"SELECT count(*) FROM {table}")
            assert all("permission denied" in m for m in refused_changes(conn, table, "actor"))
            assert "must be owner" in refused(conn, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
            refused(conn, f"ALTER TABLE {table} ADD COLUMN note text")
        refused(conn, "SET session_replication_role = replica")
        refused(conn, f"CREATE TABLE {service}.scratch (n int)")
        refused(conn, "CREATE SCHEMA scratch")
        for other in SERVICES:
            if other != service:
                assert "permission denied for schema" in refused(
                    conn, f"SELECT count(*) FROM {other}.events"
                )


def test_service_roles_delete_only_from_their_inbox_and_never_update_append_only_tables(
    database_url: str, service_urls: dict[str, str]
) -> None:
    with psycopg.connect(database_url) as conn:
        granted = conn.execute(
            "SELECT grantee, table_schema, table_name, privilege_type "
            "FROM information_schema.table_privileges WHERE grantee LIKE 'talentledger\\_%'"
        ).fetchall()
        roles = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname LIKE 'talentledger\\_%'"
        ).fetchall()
    service_grants = [g for g in granted if g[0] != OWNER_ROLE]
    # The personal data keys' schema: its migration version, so that a service can tell it
    # is up to date, and nothing else; its keys only through its functions (docs/privacy.md).
    keys_schema = {g for g in service_grants if g[1] == vault.SCHEMA}
    assert keys_schema == {
        (service_role(s), vault.SCHEMA, "alembic_version", "SELECT") for s in SERVICES
    }
    service_grants = [g for g in service_grants if g not in keys_schema]
    assert {(g[0], g[1]) for g in service_grants} == {(service_role(s), s) for s in SERVICES}, (
        "each service role holds privileges in its own schema only"
    )
    assert not {g for g in service_grants if g[3] in {"TRUNCATE", "REFERENCES"}}
    deletes = {(g[0], g[1], g[2]) for g in service_grants if g[3] == "DELETE"}
    assert deletes == {(service_role(s), s, "inbox") for s in SERVICES}, "to prune it, only"
    unchanging = APPEND_ONLY | ERASABLE
    assert not {g for g in service_grants if g[3] == "UPDATE" and (g[1], g[2]) in unchanging}
    inserts = {(g[1], g[2]) for g in service_grants if g[3] == "INSERT"}
    assert inserts >= unchanging, "the logs are appended to"
    assert {r[0] for r in roles} >= {OWNER_ROLE, *(service_role(s) for s in SERVICES)}
    assert not [r for r in roles if any(r[1:])], "no role is superuser or may create or bypass"


async def test_only_the_cycles_role_destroys_a_persons_data_keys(
    database_url: str, service_urls: dict[str, str]
) -> None:
    """docs/privacy.md, Requests: the erasure workflow's step on the cycles task queue is the
    one place keys are destroyed; every other service role makes and reads keys, no more."""
    settings = Settings.model_validate({"DATABASE_URL": service_urls["assessment"]})
    async with AsyncConnectionPool(service_conninfo(settings), open=False) as pool:
        await vault.PostgresDataKeys(pool, vault.MasterKeys.generate()).for_people(["emp-ada"])
    destroy = f"SELECT {vault.SCHEMA}.destroy_data_keys('emp-ada', 'REQ-1', 'mallory')"
    for service in SERVICES:
        if service != KEY_ERASING_SERVICE:
            with connect(service_urls[service]) as conn:
                assert "permission denied for function" in refused(conn, destroy)
    async with await psycopg.AsyncConnection.connect(service_urls[KEY_ERASING_SERVICE]) as conn:
        assert await vault.destroy_keys(conn, "emp-ada", "REQ-1", "olivia-privacy") == 1
        # A retry reports what the request destroyed.
        assert await vault.destroy_keys(conn, "emp-ada", "REQ-1", "olivia-privacy") == 1
    with psycopg.connect(database_url) as conn:
        recorded = conn.execute(
            f"SELECT person_id, request_ref, actor FROM {vault.SCHEMA}.destroyed_keys"
        ).fetchall()
    assert recorded == [("emp-ada", "REQ-1", "olivia-privacy")]


def test_append_only_tables_refuse_change_even_to_their_owner(
    database_url: str, passwords: PasswordFile, service_urls: dict[str, str]
) -> None:
    with psycopg.connect(database_url) as conn:
        guarded = conn.execute(
            "SELECT n.nspname, c.relname, "
            "bool_or(t.tgtype::int & 24 = 24 AND t.tgtype::int & 1 = 1), "  # row UPDATE, DELETE
            "bool_or(t.tgtype::int & 32 = 32) "  # statement TRUNCATE
            "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE p.proname = 'refuse_change' GROUP BY 1, 2"
        ).fetchall()
    assert {(s, t) for s, t, _, _ in guarded} == APPEND_ONLY | ERASABLE | DATA_KEYS
    assert all(
        update_delete and truncate
        for s, t, update_delete, truncate in guarded
        if (s, t) in APPEND_ONLY
    )
    owner_url = passwords.url(database_url, OWNER_ROLE)
    with psycopg.connect(owner_url, autocommit=True) as owner:
        assert owner.execute("SELECT current_user").fetchone() == (OWNER_ROLE,)
        for schema, table in sorted(APPEND_ONLY):
            owner.execute(SEED[table].format(s=schema))
            for statement in (
                f"UPDATE {schema}.{table} SET {_column(table)} = {_column(table)}",
                f"DELETE FROM {schema}.{table}",
                f"TRUNCATE {schema}.{table}",
            ):
                assert "is append-only" in refused(owner, statement), statement
            assert owner.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone() == (1,)


def _column(table: str) -> str:
    return {
        "events": "actor",
        "published_versions": "actor",
        "decision_log": "actor",
        "frozen_campaigns": "frozen_at",
        "frozen_assignments": "rater",
    }.get(table, "published_by" if table == "criteria_versions" else "completed_at")


def test_service_connections_carry_the_configured_time_limits(
    service_urls: dict[str, str],
) -> None:
    with connect(service_urls["promotion"]) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("2min",)
        assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("1min",)
    limits = {
        "TALENTLEDGER_DB_STATEMENT_TIMEOUT": 0.2,
        "TALENTLEDGER_DB_IDLE_IN_TRANSACTION_TIMEOUT": 0.5,
    }
    with (
        connect(service_urls["promotion"], **limits) as conn,
        pytest.raises(psycopg.errors.QueryCanceled),
    ):
        conn.execute("SELECT pg_sleep(5)")
    idle = connect(service_urls["promotion"], **limits)
    idle.autocommit = False
    pid = idle.execute("SELECT pg_backend_pid()").fetchone()
    with psycopg.connect(service_urls["promotion"]) as watcher:
        deadline = time.monotonic() + 10
        while watcher.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", pid).fetchone():
            assert time.monotonic() < deadline, "the idle transaction was never ended"
            watcher.rollback()
            time.sleep(0.05)
    with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
        idle.execute("SELECT 1")
    idle.close()


def test_a_service_waits_for_its_migrations_and_cannot_run_them(
    database_url: str, passwords: PasswordFile
) -> None:
    provision(database_url, ["framework"], passwords)
    role_url = passwords.url(database_url, service_role("framework"))
    owner_url = passwords.url(database_url, OWNER_ROLE)
    with pytest.raises(NotMigrated, match="talentledger db migrate"):
        check_migrated(role_url, "framework")
    with pytest.raises(Exception, match="permission denied"):
        migrate(role_url, "framework")
    migrate(owner_url, "framework", service_role=service_role("framework"))
    check_migrated(role_url, "framework")


def test_schemas_of_an_install_migrated_as_superuser_pass_to_the_owner(
    database_url: str, passwords: PasswordFile
) -> None:
    """Installs from before the roles migrated as the superuser: their tables change hands,
    and the service then works under its own role."""
    migrate(database_url, "framework")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SEED["events"].format(s="framework"))
    urls = prepare(database_url, ["framework"], passwords)
    with psycopg.connect(database_url) as conn:
        owners = conn.execute(
            "SELECT DISTINCT relowner::regrole::text FROM pg_class "
            "WHERE relnamespace = 'framework'::regnamespace"
        ).fetchall()
    assert owners == [(OWNER_ROLE,)]
    with connect(urls["framework"]) as conn:
        assert conn.execute("SELECT count(*) FROM framework.events").fetchone() == (1,)


def svc_schema(database_url: str, passwords: PasswordFile) -> tuple[str, str]:
    """The `svc` schema with its effects table, made as `talentledger up` makes a service's;
    the owner's URL and the service role's."""
    provision(database_url, ["svc"], passwords)
    owner_url = passwords.url(database_url, OWNER_ROLE)
    migrate(owner_url, "svc", service_role=service_role("svc"))
    create_effects_table(owner_url)
    # A table added after the last run gets its grants at the next migration run.
    migrate(owner_url, "svc", service_role=service_role("svc"))
    return owner_url, passwords.url(database_url, service_role("svc"))


async def test_relay_and_consumers_work_under_the_service_role(
    database_url: str, passwords: PasswordFile, broker: NatsBroker
) -> None:
    """LISTEN, the relay's advisory lock and checkpoint, and the consumers' inbox."""
    owner_url, role_url = svc_schema(database_url, passwords)
    settings = Settings.model_validate({"DATABASE_URL": role_url})
    async with AsyncConnectionPool(service_conninfo(settings), open=False) as pool:
        store = EventStore(pool, "svc")
        start_consumer(broker, store)
        await broker.start()
        stop = asyncio.Event()
        relay = asyncio.create_task(OutboxRelay(store, broker, poll_interval=0.2).run(stop))
        try:
            for n in range(20):
                await store.append(f"probe-{n}", 0, [Probe(n=n)], EventMetadata(actor="tests"))
            await wait_until(lambda: len(effect_counts(owner_url)) == 20, 30, "20 effects")
            assert set(effect_counts(owner_url).values()) == {1}
        finally:
            stop.set()
            await asyncio.wait_for(relay, 20)
            await store.close()
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT position FROM svc.relay_checkpoints")
            checkpoint = await cursor.fetchone()
    assert checkpoint is not None
    assert checkpoint[0] > 0


async def test_a_service_role_prunes_its_inbox_and_may_delete_nothing_else(
    database_url: str, passwords: PasswordFile
) -> None:
    owner_url, role_url = svc_schema(database_url, passwords)
    kept_for = timedelta(days=365) + MARGIN
    with psycopg.connect(owner_url, autocommit=True) as owner:
        owner.execute(SEED["events"].format(s="svc"))
        owner.execute("INSERT INTO svc.effects VALUES (gen_random_uuid(), 0, 0)")
        for age in (kept_for * 2, kept_for / 2):
            owner.execute(
                "INSERT INTO svc.inbox VALUES ('svc-effects', gen_random_uuid(), now() - %s)",
                (age,),
            )
    settings = Settings.model_validate({"DATABASE_URL": role_url})
    async with AsyncConnectionPool(service_conninfo(settings), open=False) as pool:
        assert await InboxPruning(EventStore(pool, "svc"), 365).prune() == 1
    with connect(role_url) as conn:
        for table in ("svc.events", "svc.effects", "svc.relay_checkpoints", "svc.alembic_version"):
            assert "permission denied" in refused(conn, f"DELETE FROM {table}"), table
        for table in ("svc.inbox", "svc.effects"):
            assert "permission denied" in refused(conn, f"TRUNCATE {table}"), table
        inbox = conn.execute(
            "SELECT count(*) FILTER (WHERE handled_at > now() - %s), count(*) FROM svc.inbox",
            (kept_for,),
        ).fetchone()
        assert inbox == (1, 1), "the younger row is kept, and only it"
        for table in ("svc.events", "svc.effects"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,), table


def test_roles_and_migrations_for_an_external_postgresql_from_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    """`db roles --apply` with an administrator's URL, then `db migrate` as the owner."""
    home = {"TALENTLEDGER_HOME": str(tmp_path)}
    runner = CliRunner()
    applied = runner.invoke(app, ["db", "roles", "--apply", database_url], env=home)
    assert applied.exit_code == 0, applied.output
    passwords = PasswordFile(tmp_path / "keys" / "postgres.pgpass")
    assert passwords.path.stat().st_mode & 0o777 == 0o600
    owner_url = passwords.url(database_url, OWNER_ROLE)
    assert passwords.path.name in applied.output
    migrated = runner.invoke(app, ["db", "migrate"], env={**home, "DATABASE_OWNER_URL": owner_url})
    assert migrated.exit_code == 0, migrated.output
    for service in SERVICES:
        role_url = passwords.url(database_url, service_role(service))
        check_migrated(role_url, service)
        check_migrated(role_url, vault.SCHEMA, vault.MIGRATIONS)  # as each service does at start
        with connect(role_url) as conn:
            assert conn.execute(f"SELECT count(*) FROM {service}.events").fetchone() == (0,)


async def test_personal_text_beside_the_decision_log_goes_only_under_an_erasure_entry(
    database_url: str, passwords: PasswordFile, service_urls: dict[str, str]
) -> None:
    """docs/privacy.md, The decision log: the service appends personal text beside the log
    and reads it; neither it nor the owner may change it, or delete it for any purpose but
    an erasure recorded in the log, and then only what that erasure entry names."""
    log = DecisionLog("promotion")
    async with await psycopg.AsyncConnection.connect(service_urls["promotion"]) as conn:
        bound = log.on(conn)
        kept = await bound.append(**_step("endorsement", Endorsement(note="Ready.")))
        erased = await bound.append(**_step("appeal", Appeal(grounds="Misread.")))
        await conn.commit()
    table = "promotion.decision_log_personal"
    with connect(service_urls["promotion"]) as conn:
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (2,)
        assert all("permission denied" in m for m in refused_changes(conn, table, "text"))
        assert "must be owner" in refused(conn, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        # The erasing function wants an intact erasure entry, not any entry of the log.
        erase = "SELECT promotion.erase_decision_log_personal(%s)"
        for entry_id in (kept.entry_id, uuid4()):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="erasure entry"):
                conn.execute(erase, (entry_id,))
    owner_url = passwords.url(database_url, OWNER_ROLE)
    with psycopg.connect(owner_url, autocommit=True) as owner:
        update, delete, truncate = refused_changes(owner, table, "text")
        assert "erasure entry" in delete
        assert "is append-only" in update
        assert "is append-only" in truncate
    async with await psycopg.AsyncConnection.connect(service_urls["promotion"]) as conn:
        bound = log.on(conn)
        named = Erasure(
            request_ref="req-1", erased=(ErasedField(entry_id=erased.entry_id, field="grounds"),)
        )
        erasure = await bound.append(**_step("erasure", named))
        assert await bound.erase(erasure) == 1
        await conn.commit()
    with connect(service_urls["promotion"]) as conn:
        left = conn.execute(f"SELECT entry_id, field FROM {table}").fetchall()
        assert left == [(kept.entry_id, "note")], "only what the erasure entry names"
    with psycopg.connect(owner_url, autocommit=True) as owner:
        assert "erasure entry" in refused(owner, f"DELETE FROM {table}")
    result = verify(log.entries(service_urls["promotion"]))
    assert result.ok, result.failure
    assert [(e.sequence, e.fields, e.request_ref) for e in result.erased] == [
        (2, ("grounds",), "req-1")
    ]


def _step(kind: str, payload: Any) -> dict[str, Any]:
    recorded, personal = payload.sealed()
    return {
        "kind": kind,
        "case_id": "case-1",
        "employee_id": "emp-1",
        "actor": "tests",
        "recorded_at": datetime.now(UTC),
        "payload": recorded,
        "personal": personal,
    }
