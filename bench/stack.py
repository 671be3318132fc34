"""Servers and a throwaway database for one benchmark run, and what machine it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import psycopg
from nats.aio.client import Client as NatsClient
from psycopg import sql
from rich.console import Console

from libs.events.identities import Credentials, inbox_prefix
from libs.events.migrations import migrate
from libs.events.migrations.roles import OWNER_ROLE, PasswordFile, provision, service_role
from libs.platform.settings import Settings
from talentledger.stack.broker_identities import (
    OPERATOR_IDENTITY,
    credentials_file,
    server_authorization,
)
from talentledger.stack.servers import EmbeddedNats, EmbeddedPostgres
from talentledger.stack.supervisor import SERVICES


@dataclass(frozen=True)
class Roles:
    """The database's roles, made as the stack makes them: an owner that migrates, and one
    least-privileged login role per benchmark log, which appends and reads as a service does.

    `admin_url` names the fresh database as the role of DATABASE_URL (or the embedded
    superuser): it creates the roles and the database, nothing else.
    """

    admin_url: str
    passwords: PasswordFile

    @property
    def owner_url(self) -> str:
        return self.passwords.url(self.admin_url, OWNER_ROLE)

    def migrate(self, schema: str, *migrations: Path) -> str:
        """Create the owner and `schema`'s role, migrate `schema` as the owner with the
        event log's and `migrations`' revisions, and return the role's URL."""
        provision(self.admin_url, [schema], self.passwords)
        migrate(self.owner_url, schema, *migrations, service_role=service_role(schema))
        return self.passwords.url(self.admin_url, service_role(schema))


@dataclass(frozen=True)
class Stack:
    """Where a run sends its load: a fresh database and a NATS server."""

    database_url: str
    """The fresh database as DATABASE_URL's role (or the embedded superuser)."""
    roles: Roles
    nats_url: str | None
    """None when the run needs no NATS (`--only framework`)."""
    nats_credentials: Path | None
    """The identity every benchmark connection to NATS uses; None for a server without
    authentication."""
    postgres_origin: str  # "embedded" or "external (DATABASE_URL)"
    nats_origin: str


async def connect_nats(url: str, credentials: Path | None, name: str) -> NatsClient:
    """A plain nats-py client with the same identity and reply inbox as `make_broker`'s."""
    options: dict[str, Any] = {}
    if credentials is not None:
        given = Credentials(credentials)
        options["user_credentials" if given.is_creds_file else "nkeys_seed"] = str(credentials)
        options["inbox_prefix"] = inbox_prefix(given.public_key)
    return await nats.connect(url, name=name, **options)


def nats_env(url: str, credentials: Path | None) -> dict[str, str]:
    """What a helper process needs to connect as the run's identity (see `nats_from_env`)."""
    return {"BENCH_NATS_URL": url} | (
        {"BENCH_NATS_CREDENTIALS": str(credentials)} if credentials is not None else {}
    )


def nats_from_env() -> tuple[str, Path | None]:
    """The NATS URL and credentials a helper process was given by `nats_env`."""
    credentials = os.environ.get("BENCH_NATS_CREDENTIALS")
    return os.environ["BENCH_NATS_URL"], Path(credentials) if credentials else None


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@contextlib.contextmanager
def bench_stack(console: Console, *, with_nats: bool = True) -> Iterator[Stack]:
    """Use DATABASE_URL / NATS_URL (with NATS_CREDENTIALS) when set, else embedded servers
    in a temp dir, the NATS one with the stack's authorization; without `with_nats`, no NATS
    at all.

    Everything started or created here is stopped, dropped or removed on exit, including
    on errors and Ctrl-C; database roles, which belong to the whole server, stay.
    """
    with contextlib.ExitStack() as cleanup:
        admin_url = os.environ.get("DATABASE_URL")
        nats_url = os.environ.get("NATS_URL") if with_nats else None
        given = os.environ.get("NATS_CREDENTIALS")
        nats_credentials = Path(given) if with_nats and nats_url and given else None
        base = Path(tempfile.mkdtemp(prefix="talentledger-bench-"))
        # PostgreSQL runs as its own system user when we are root: it must reach its
        # data dir through this one. The keys below stay owner-only.
        base.chmod(0o755)
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)
        pg_origin = "external"
        nats_origin = "external" if with_nats else "not used"
        if not admin_url:
            postgres = EmbeddedPostgres(base / "postgres", database="postgres")
            with console.status("starting embedded PostgreSQL"):
                admin_url = postgres.start()
            cleanup.callback(_stop, console, "PostgreSQL", postgres.stop)
            pg_origin = "embedded"
        if with_nats and not nats_url:
            # The stack's own authorization: every service, integration and the operator,
            # each an NKey user with its permissions. The benchmark connects as the operator
            # (see "Servers" in bench/README.md for why).
            home = base / "stack-home"
            with console.status("starting embedded NATS"):
                authorization = server_authorization(home, SERVICES, Settings())
                server = EmbeddedNats(base / "nats", authorization=authorization)
                nats_url = server.start()
            nats_credentials = credentials_file(home, OPERATOR_IDENTITY)
            cleanup.callback(_stop, console, "NATS", server.stop)
            nats_origin = "embedded"
        name = f"bench_{secrets.token_hex(6)}"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        cleanup.callback(_drop_database, admin_url, name)
        identity = f" as {nats_credentials.stem}" if nats_credentials else ""
        console.print(
            f"[dim]PostgreSQL: {pg_origin}, database {name}; NATS: {nats_origin} "
            f"{nats_url or ''}{identity}[/]"
        )
        database_url = with_database(admin_url, name)
        roles = Roles(database_url, PasswordFile(base / "keys" / "postgres.pgpass"))
        yield Stack(database_url, roles, nats_url, nats_credentials, pg_origin, nats_origin)


def _stop(console: Console, what: str, stop: Callable[[], None]) -> None:
    with console.status(f"stopping embedded {what}"):
        stop()


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        # FORCE: a connection left open by an interrupted run must not keep it alive.
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    return platform.processor() or "unknown"


async def machine_info(
    database_url: str,
    postgres_origin: str,
    nats_url: str | None,
    nats_origin: str,
    nats_credentials: Path | None,
) -> dict[str, str]:
    """What the figures depend on: cores, CPU, server versions and durability settings."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        settings = {}
        for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
            cur = await conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))
            row = await cur.fetchone()
            settings[name] = str(row[0]) if row else "?"
    nats_info = "not used"
    if nats_url is not None:
        client = await connect_nats(nats_url, nats_credentials, "bench-info")
        try:
            version = client.connected_server_version
            nats_version = f"{version.major}.{version.minor}.{version.patch}"
        finally:
            await client.close()
        identity = f"; as {nats_credentials.stem}" if nats_credentials else "; no authentication"
        nats_info = f"{nats_version} ({nats_origin}; JetStream file storage{identity})"
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Cores (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU": _cpu_model(),
        "Memory": _memory(),
        "Load average at start": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "PostgreSQL": (
            f"{settings['server_version']} ({postgres_origin}; synchronous_commit="
            f"{settings['synchronous_commit']}, fsync={settings['fsync']}, "
            f"shared_buffers={settings['shared_buffers']})"
        ),
        "NATS": nats_info,
    }


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.0f} GiB"
    return "unknown"
