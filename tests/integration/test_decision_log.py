"""The decision log on PostgreSQL (docs/domain.md §6): append-only for real, and tamper-evident
even against someone who can switch the protection off.

"The decision log is append-only and tamper-evident: entries ... can never be edited or
deleted, only followed by new entries. Anyone can verify the log has not been altered."
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from libs.events.migrations import migrate
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.domain.decision_log import (
    build_chain,
    generate_private_key,
    sign_checkpoint,
    verify,
    verify_checkpoint,
)

SCHEMA = "promotion"
START = datetime(2026, 3, 2, 9, tzinfo=UTC)
KINDS = ["nomination", "endorsement", "readiness_evaluated", "decision"]


def step(n: int) -> dict[str, Any]:
    return {
        "kind": KINDS[n % len(KINDS)],
        "case_id": f"case-{n // 4}",
        "employee_id": f"emp-{n // 4}",
        "actor": "mgr-1" if n % 4 < 2 else "hr-1",
        "recorded_at": START + timedelta(minutes=n),
        "payload": {
            "framework_version": 2,
            "criteria_version": 1,
            "scores": {"coding": 3.5, "design": 4.0},
            "rationale": f"step {n}: met every criterion",
        },
    }


@pytest.fixture
async def log(database_url: str) -> DecisionLog:
    migrate(database_url, SCHEMA, MIGRATIONS)
    decision_log = DecisionLog(SCHEMA)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for n in range(12):
            await decision_log.append(conn, **step(n))
        await conn.commit()
    return decision_log


def as_superuser(database_url: str, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """What an administrator can do: switch the triggers off, change rows, switch them on."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE promotion.decision_log DISABLE TRIGGER USER")
        try:
            for statement, params in statements:
                conn.execute(statement, params)
        finally:
            conn.execute("ALTER TABLE promotion.decision_log ENABLE TRIGGER USER")


async def test_the_database_refuses_changes_and_the_log_verifies(
    log: DecisionLog, database_url: str
) -> None:
    result = verify(log.entries(database_url))
    assert result.ok, result.failure
    assert result.entries == 12
    with psycopg.connect(database_url) as conn:
        for statement in (
            "UPDATE promotion.decision_log SET actor = 'someone' WHERE sequence = 3",
            "DELETE FROM promotion.decision_log WHERE sequence = 12",
            "TRUNCATE promotion.decision_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
            conn.rollback()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kind", "decision"),
        ("case_id", "case-9"),
        ("employee_id", "emp-9"),
        ("actor", "someone-else"),
        ("recorded_at", START - timedelta(days=1)),
        ("payload", Jsonb({"framework_version": 3})),
        ("previous_hash", "0" * 64),
        ("hash", "f" * 64),
        ("body", b"{}"),
        ("entry_id", "00000000-0000-0000-0000-000000000005"),
    ],
)
async def test_editing_any_column_of_a_row_is_named_by_verify(
    log: DecisionLog, database_url: str, column: str, value: Any
) -> None:
    """Editing any column of any decision-log row directly in PostgreSQL, after disabling
    the trigger as a superuser would, makes verify fail and name that entry."""
    statement = f"UPDATE promotion.decision_log SET {column} = %s WHERE sequence = 6"
    as_superuser(database_url, (statement, (value,)))
    result = verify(log.entries(database_url))
    assert not result.ok
    assert result.failure is not None
    assert result.failure.sequence == 6, result.failure


async def test_a_chain_rewritten_consistently_is_caught_by_an_exported_checkpoint(
    log: DecisionLog, database_url: str
) -> None:
    """Rewriting the whole chain consistently (every hash recomputed) passes verify, but not
    a checkpoint of the head signed before."""
    key = generate_private_key()
    entries = list(log.entries(database_url))
    checkpoint = sign_checkpoint(key, entries[-1], created_at=START + timedelta(hours=1))

    steps = [step(n) for n in range(12)]
    steps[4]["payload"] = {**steps[4]["payload"], "rationale": "rewritten afterwards"}
    forged = build_chain(steps)
    rows = [
        (
            "INSERT INTO promotion.decision_log (sequence, entry_id, kind, case_id, "
            "employee_id, actor, recorded_at, payload, previous_hash, hash, body) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                e.sequence,
                e.entry_id,
                e.kind,
                e.case_id,
                e.employee_id,
                e.actor,
                e.recorded_at,
                Jsonb(dict(e.payload)),
                e.previous_hash,
                e.hash,
                e.body,
            ),
        )
        for e in forged
    ]
    as_superuser(database_url, ("DELETE FROM promotion.decision_log", ()), *rows)

    assert verify(log.entries(database_url)).ok, "a consistent rewrite fools the chain alone"
    against = verify_checkpoint(key.public_key(), checkpoint, log.entries(database_url))
    assert not against.ok
    assert against.problem == "rewritten"


def audit(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "talentledger.cli", "audit", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


async def test_audit_verify_names_the_entry_and_checks_exported_checkpoints(
    log: DecisionLog, database_url: str, tmp_path: Path
) -> None:
    """`talentledger audit verify` checks the whole chain and names the first entry that
    fails; `audit checkpoint` exports a signed head that a later rewrite cannot match."""
    key, out = tmp_path / "checkpoint-key.pem", tmp_path / "checkpoint.json"
    signed = await asyncio.to_thread(
        audit, database_url, "checkpoint", "--key", str(key), "--out", str(out)
    )
    assert signed.returncode == 0, signed.stderr
    public = tmp_path / "checkpoint-key.pub.pem"
    assert public.exists()
    fine = await asyncio.to_thread(
        audit, database_url, "verify", "--checkpoint", str(out), "--public-key", str(public)
    )
    assert fine.returncode == 0, fine.stderr
    assert "verified 12 entries" in fine.stdout

    statement = "UPDATE promotion.decision_log SET actor = 'someone-else' WHERE sequence = 9"
    as_superuser(database_url, (statement, ()))
    failed = await asyncio.to_thread(audit, database_url, "verify")
    assert failed.returncode == 1
    assert "entry 9" in failed.stderr
    assert "Traceback" not in failed.stderr
