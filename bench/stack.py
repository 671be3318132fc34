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
from urllib.parse import urlsplit, urlunsplit

import nats
import psycopg
from psycopg import sql
from rich.console import Console

from talentledger.stack.servers import EmbeddedNats, EmbeddedPostgres


@dataclass(frozen=True)
class Stack:
    """Where a run sends its load: a fresh database and a NATS server."""

    database_url: str
    nats_url: str | None
    """None when the run needs no NATS (`--only framework`)."""
    postgres_origin: str  # "embedded" or "external (DATABASE_URL)"
    nats_origin: str


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@contextlib.contextmanager
def bench_stack(console: Console, *, with_nats: bool = True) -> Iterator[Stack]:
    """Use DATABASE_URL / NATS_URL when set, else embedded servers in a temp dir; without
    `with_nats`, no NATS at all.

    Everything started or created here is stopped, dropped or removed on exit, including
    on errors and Ctrl-C.
    """
    with contextlib.ExitStack() as cleanup:
        admin_url = os.environ.get("DATABASE_URL")
        nats_url = os.environ.get("NATS_URL") if with_nats else None
        base: Path | None = None
        if not admin_url or (with_nats and not nats_url):
            base = Path(tempfile.mkdtemp(prefix="talentledger-bench-"))
            # PostgreSQL runs as its own system user when we are root: it must reach its
            # data dir through this one.
            base.chmod(0o755)
            cleanup.callback(shutil.rmtree, base, ignore_errors=True)
        pg_origin = "external"
        nats_origin = "external" if with_nats else "not used"
        if not admin_url:
            assert base is not None
            postgres = EmbeddedPostgres(base / "postgres", database="postgres")
            with console.status("starting embedded PostgreSQL"):
                admin_url = postgres.start()
            cleanup.callback(_stop, console, "PostgreSQL", postgres.stop)
            pg_origin = "embedded"
        if with_nats and not nats_url:
            assert base is not None
            server = EmbeddedNats(base / "nats")
            with console.status("starting embedded NATS"):
                nats_url = server.start()
            cleanup.callback(_stop, console, "NATS", server.stop)
            nats_origin = "embedded"
        name = f"bench_{secrets.token_hex(6)}"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        cleanup.callback(_drop_database, admin_url, name)
        console.print(
            f"[dim]PostgreSQL: {pg_origin}, database {name}; NATS: {nats_origin} "
            f"{nats_url or ''}[/]"
        )
        yield Stack(with_database(admin_url, name), nats_url, pg_origin, nats_origin)


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


async def machine_info(stack: Stack) -> dict[str, str]:
    """What the figures depend on: cores, CPU, server versions and durability settings."""
    async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
        settings = {}
        for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
            cur = await conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))
            row = await cur.fetchone()
            settings[name] = str(row[0]) if row else "?"
    nats_info = "not used"
    if stack.nats_url is not None:
        client = await nats.connect(stack.nats_url, name="bench-info")
        try:
            version = client.connected_server_version
            nats_version = f"{version.major}.{version.minor}.{version.patch}"
        finally:
            await client.close()
        nats_info = f"{nats_version} ({stack.nats_origin}; JetStream file storage)"
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Cores (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU": _cpu_model(),
        "Memory": _memory(),
        "Load average at start": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "PostgreSQL": (
            f"{settings['server_version']} ({stack.postgres_origin}; synchronous_commit="
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
