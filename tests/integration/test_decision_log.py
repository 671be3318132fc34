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
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from libs.events.migrations import migrate
from libs.events.store import EventStore
from libs.platform.settings import Settings
from services.promotion.adapters.checkpoints import (
    CheckpointDirectory,
    KeyFile,
    ensure_checkpoint_key,
    generate_private_key,
    sign_on_schedule,
)
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.adapters.postgres.work import Database
from services.promotion.application.checkpoints import CheckpointRefused, Checkpoints
from services.promotion.domain.decision_log import (
    LogEntry,
    build_chain,
    key_fingerprint,
    next_entry,
    sign_checkpoint,
    verify,
    verify_checkpoint,
)
from tests.support.backbone import wait_until
from tests.support.superuser import as_superuser

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
            await decision_log.on(conn).append(**step(n))
        await conn.commit()
    return decision_log


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
            _row(e),
        )
        for e in forged
    ]
    as_superuser(database_url, ("DELETE FROM promotion.decision_log", ()), *rows)

    assert verify(log.entries(database_url)).ok, "a consistent rewrite fools the chain alone"
    against = verify_checkpoint(key.public_key(), checkpoint, log.entries(database_url))
    assert not against.ok
    assert against.problem == "rewritten"


def audit(
    database_url: str, home: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "TALENTLEDGER_HOME": str(home)}
    for name in ("TALENTLEDGER_CHECKPOINT_KEY_FINGERPRINT", "TALENTLEDGER_CHECKPOINT_KEY_FILE"):
        env.pop(name, None)
    env.update(settings)
    command = [sys.executable, "-m", "talentledger.cli", "audit", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    # What the command said, without the console's line wrapping.
    done.stdout, done.stderr = " ".join(done.stdout.split()), " ".join(done.stderr.split())
    return done


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with a checkpoint key and its pinned fingerprint, as `talentledger up` leaves."""
    ensure_checkpoint_key(tmp_path / "keys" / "checkpoint-signing-key.pem")
    return tmp_path


@pytest.fixture
async def checkpoints(
    log: DecisionLog, database_url: str, home: Path
) -> AsyncIterator[Checkpoints]:
    """The promotion service's signer, on the home's key and sink."""
    settings = Settings.model_validate({"TALENTLEDGER_HOME": str(home)})
    async with AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False) as pool:
        yield Checkpoints(
            Database(EventStore(pool, SCHEMA)),
            KeyFile(settings.checkpoint_key),
            CheckpointDirectory(settings.checkpoints),
        )


def rewrite_last(database_url: str, count: int, rationale: str) -> None:
    """A superuser's rewrite of the last `count` entries, every hash recomputed so the chain
    verifies on its own."""
    steps = [step(n) for n in range(12)]
    for n in range(12 - count, 12):
        steps[n]["payload"] = {**steps[n]["payload"], "rationale": rationale}
    with psycopg.connect(database_url) as conn:
        kept = conn.execute(
            "SELECT sequence, hash FROM promotion.decision_log WHERE sequence = %s",
            (12 - count,),
        ).fetchone()
    assert kept is not None
    forged = _chain_after(kept, steps[12 - count :])
    statements: list[tuple[str, tuple[Any, ...]]] = [
        ("DELETE FROM promotion.decision_log WHERE sequence > %s", (12 - count,))
    ]
    statements += [(INSERT, _row(e)) for e in forged]
    as_superuser(database_url, *statements)


def _chain_after(head: tuple[int, str], steps: list[dict[str, Any]]) -> list[LogEntry]:
    entries: list[LogEntry] = []
    previous: Any = HeadAt(*head)
    for one in steps:
        entries.append(next_entry(previous, **one))
        previous = entries[-1]
    return entries


class HeadAt(NamedTuple):
    sequence: int
    hash: str


INSERT = (
    "INSERT INTO promotion.decision_log (sequence, entry_id, kind, case_id, employee_id, "
    "actor, recorded_at, payload, previous_hash, hash, body) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _row(e: LogEntry) -> tuple[Any, ...]:
    return (
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
    )


async def test_audit_verify_names_the_entry_and_checks_the_latest_checkpoint(
    log: DecisionLog, database_url: str, home: Path
) -> None:
    """`talentledger audit verify` checks the whole chain and names the first entry that
    fails; against the latest checkpoint signed with the pinned key it says how many entries
    come after it; `audit checkpoint` signs one into the sink, as the service does."""
    unanchored = await asyncio.to_thread(audit, database_url, home, "verify")
    assert unanchored.returncode == 1
    assert "no checkpoint in" in unanchored.stderr
    assert "none of the 12 entries" in unanchored.stderr

    signed = await asyncio.to_thread(audit, database_url, home, "checkpoint")
    assert signed.returncode == 0, signed.stderr
    assert "signed entry 12" in signed.stdout
    [written] = (home / "checkpoints").iterdir()
    assert written.stat().st_mode & 0o222 == 0, "checkpoint files are read-only"
    key = home / "keys" / "checkpoint-signing-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await log.on(conn).append(**step(12))
        await conn.commit()
    fine = await asyncio.to_thread(audit, database_url, home, "verify")
    assert fine.returncode == 0, fine.stderr
    assert "verified 13 entries" in fine.stdout
    assert "1 entries after the last checkpoint" in fine.stdout
    fingerprint = await asyncio.to_thread(audit, database_url, home, "fingerprint")
    assert fingerprint.stdout.strip() in fine.stdout, "verified with the pinned key"
    # A configured key is pinned by configuration, never by a file beside it.
    configured = {"TALENTLEDGER_CHECKPOINT_KEY_FILE": str(key)}
    unpinned = await asyncio.to_thread(audit, database_url, home, "verify", **configured)
    assert unpinned.returncode == 1
    assert "no checkpoint key is pinned: set TALENTLEDGER_CHECKPOINT_KEY_FINGERPRINT" in (
        unpinned.stderr
    )
    pin = {"TALENTLEDGER_CHECKPOINT_KEY_FINGERPRINT": fingerprint.stdout.strip()}
    pinned = await asyncio.to_thread(audit, database_url, home, "verify", **configured, **pin)
    assert pinned.returncode == 0, pinned.stderr

    statement = "UPDATE promotion.decision_log SET actor = 'someone-else' WHERE sequence = 9"
    as_superuser(database_url, (statement, ()))
    failed = await asyncio.to_thread(audit, database_url, home, "verify", "--chain-only")
    assert failed.returncode == 1
    assert "entry 9" in failed.stderr
    assert "Traceback" not in failed.stderr


@pytest.mark.parametrize("attack", ["rewrite", "truncate"])
async def test_a_rewrite_or_a_truncation_is_caught_against_the_automatic_checkpoint(
    log: DecisionLog, database_url: str, home: Path, checkpoints: Checkpoints, attack: str
) -> None:
    """A superuser switches the triggers off and rewrites the last entries with recomputed
    hashes, or removes them: the chain alone still verifies, the checkpoint the service
    signed does not match, and the service refuses to sign over the changed log."""
    signed = await checkpoints.sign()
    assert signed is not None
    assert signed.sequence == 12
    if attack == "rewrite":
        rewrite_last(database_url, 3, "rewritten afterwards")
    else:
        as_superuser(database_url, ("DELETE FROM promotion.decision_log WHERE sequence > %s", (9,)))
    assert verify(log.entries(database_url)).ok, "the chain alone is fooled"

    caught = await asyncio.to_thread(audit, database_url, home, "verify")
    assert caught.returncode == 1, caught.stdout
    problem = "rewritten" if attack == "rewrite" else "truncated"
    assert f"does not match the checkpoint: {problem}" in caught.stderr
    assert "Traceback" not in caught.stderr
    with pytest.raises(CheckpointRefused, match=problem):
        await checkpoints.sign()
    assert len(list((home / "checkpoints").iterdir())) == 1, "nothing signed over it"


async def test_a_checkpoint_signed_with_another_key_is_refused(
    log: DecisionLog, database_url: str, home: Path, checkpoints: Checkpoints
) -> None:
    """Whoever can write to the sink but does not hold the key cannot vouch for a log they
    rewrote: their checkpoint names another key than the pinned one, and is refused."""
    await checkpoints.sign()
    rewrite_last(database_url, 2, "rewritten afterwards")
    intruder = generate_private_key()
    head = verify(log.entries(database_url)).head
    assert head is not None
    forged = sign_checkpoint(intruder, head, created_at=datetime.now(UTC))
    CheckpointDirectory(home / "checkpoints").append(forged)

    refused = await asyncio.to_thread(audit, database_url, home, "verify")
    assert refused.returncode == 1
    assert "wrong_key" in refused.stderr
    assert key_fingerprint(intruder) in refused.stderr
    assert "not with the pinned key" in refused.stderr
    with pytest.raises(CheckpointRefused, match="wrong_key"):
        await checkpoints.sign()


async def test_one_signer_at_a_time_and_on_a_schedule(
    log: DecisionLog, database_url: str, home: Path, checkpoints: Checkpoints
) -> None:
    """Two replicas signing at once write one checkpoint; the schedule signs new entries as
    they come and nothing while the head stays where it is."""
    both = await asyncio.gather(checkpoints.sign(), checkpoints.sign())
    assert sorted(c is None for c in both) == [False, True]
    sink = home / "checkpoints"
    assert len(list(sink.iterdir())) == 1

    stop = asyncio.Event()
    # Interval 0: no schedule, and the task runs until the service stops.
    idle = asyncio.create_task(sign_on_schedule(checkpoints, stop, interval=0))
    task = asyncio.create_task(sign_on_schedule(checkpoints, stop, interval=0.05))
    try:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await log.on(conn).append(**step(12))
            await conn.commit()

        def covered() -> bool:
            latest = checkpoints.sink.latest()
            return latest is not None and latest.sequence == 13

        await wait_until(covered, 30, "the scheduled checkpoint of entry 13")
        assert not idle.done()
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(task, idle), 30)
    assert len(list(sink.iterdir())) == 2, "one more for entry 13, none for an unchanged head"
