"""Servers given by environment variables are used instead of embedded ones.

Runs against this machine's own PostgreSQL and NATS when they answer on their standard
ports (`EXTERNAL_DATABASE_URL` and `EXTERNAL_NATS_URL` name others), and skips, saying
so, when they do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import nats
import nats.js.errors
import psycopg
import pytest

from libs.events.subjects import DEAD_LETTER_STREAM, EVENT_STREAM, INTAKE_STREAM
from tests.support.servers import answers
from tests.support.stack import ROOT, running_stack

EXTERNAL_DATABASE_URL = os.environ.get(
    "EXTERNAL_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
EXTERNAL_NATS_URL = os.environ.get("EXTERNAL_NATS_URL", "nats://127.0.0.1:4222")

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("TALENTLEDGER_EXTERNAL_RUN") == "1", reason="already the external run"
    ),
    pytest.mark.skipif(
        not (answers(EXTERNAL_DATABASE_URL, 5432) and answers(EXTERNAL_NATS_URL, 4222)),
        reason=f"no external PostgreSQL and NATS answer at {EXTERNAL_DATABASE_URL} and "
        f"{EXTERNAL_NATS_URL}",
    ),
]


@pytest.fixture
def external_nats() -> Iterator[str]:
    """The external NATS without TalentLedger's streams and durable consumers, before the
    test and after it: the intake is a work queue, on which a durable left by an earlier run
    would keep the cycles service from making its own."""

    async def delete_streams() -> None:
        client = await nats.connect(EXTERNAL_NATS_URL)
        for stream in (EVENT_STREAM, DEAD_LETTER_STREAM, INTAKE_STREAM):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await client.jetstream().delete_stream(stream)
        await client.close()

    asyncio.run(delete_streams())
    yield EXTERNAL_NATS_URL
    asyncio.run(delete_streams())


@pytest.fixture
def external_database() -> Iterator[str]:
    name = f"tl_external_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(EXTERNAL_DATABASE_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield EXTERNAL_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(EXTERNAL_DATABASE_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backbone_tests_pass_against_external_servers(external_nats: str) -> None:
    """The event store, relay and inbox tests, rerun with DATABASE_URL and NATS_URL set;
    those that stop or cluster servers of their own would not be running on these."""
    env = {
        **os.environ,
        "DATABASE_URL": EXTERNAL_DATABASE_URL,
        "NATS_URL": external_nats,
        "TALENTLEDGER_EXTERNAL_RUN": "1",
    }
    run = subprocess.run(
        # One process: workers would share the external NATS's streams.
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "backbone and not own_servers",
            "-n",
            "0",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]


def test_stack_runs_on_external_servers(external_database: str, external_nats: str) -> None:
    with running_stack(DATABASE_URL=external_database, NATS_URL=external_nats) as stack:
        status = stack.cli("status")
        assert "external" in status
        assert not (stack.home / "postgres").exists(), "no embedded PostgreSQL was started"
        assert not (stack.home / "nats").exists(), "no embedded NATS was started"
        hr = stack.token("hr_admin", "alice")
        sample = ROOT / "talentledger" / "samples" / "engineering-framework.yaml"
        published = stack.cli(
            "framework", "import", str(sample), "--id", "external", "--publish", "--as", "alice"
        )
        assert "-> external v1 (initial)" in published
        stack.wait_for(
            lambda: stack.get("promotion", "/framework-versions", hr).json()["items"],
            30,
            "the replica",
        )
    with psycopg.connect(external_database) as conn:
        types = conn.execute("SELECT event_type FROM framework.events").fetchall()
    assert ("FrameworkPublished",) in types, "the framework's event log is in that database"
