"""Signed checkpoints of the decision log, taken by the service itself.

After every promotion stage of a cycle and on a schedule, the service verifies the log and
signs its head with a key held outside the database, then appends the checkpoint to a sink
outside it. A checkpoint is only signed over a log that still matches the latest one signed
with the same key: a rewritten or truncated log stops the signing (and says why) instead of
being blessed by the next checkpoint. One signer at a time, whatever the number of replicas:
a PostgreSQL advisory lock held while verifying and signing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg_pool import AsyncConnectionPool

from services.promotion.adapters.checkpoints import (
    CheckpointDirectory,
    CheckpointSetupError,
    load_signing_key,
)
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.domain.decision_log import (
    Checkpoint,
    LogEntry,
    Verification,
    key_fingerprint,
    sign_checkpoint,
    verify,
    verify_pinned,
)

log = logging.getLogger(__name__)
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
T = TypeVar("T")


class CheckpointRefused(RuntimeError):
    """The log no longer verifies, or no longer matches the latest checkpoint: nothing was
    signed. The message names the entry or the checkpoint; `talentledger audit verify` says
    the same."""


def _now() -> datetime:
    return datetime.now(UTC)


class Checkpoints:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        log: DecisionLog,
        schema: str,
        key_file: Path,
        sink: CheckpointDirectory,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.pool = pool
        self.log = log
        self.schema = schema
        self.key_file = key_file
        self.sink = sink
        self.clock = clock
        self._key: Ed25519PrivateKey | None = None

    def key(self) -> Ed25519PrivateKey:
        """The signing key, read once (CheckpointSetupError when it is missing)."""
        if self._key is None:
            self._key = load_signing_key(self.key_file)
        return self._key

    async def sign(self) -> Checkpoint | None:
        """Verify the log, then sign its head into the sink; None when the head is already
        checkpointed or the log is empty."""
        key = self.key()
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(_LOCK, (f"{self.schema}.decision_log.checkpoints",))
            latest = await asyncio.to_thread(self.sink.latest)
            if latest is None:
                chain = await _in_thread(_verify_chain, self.log.batches(conn))
                if not chain.ok:
                    raise CheckpointRefused(f"the decision log fails verification: {chain.failure}")
                head = chain.head
            else:
                own = key_fingerprint(key)
                against = await _in_thread(
                    lambda rows: verify_pinned(own, latest, rows, check_columns=False),
                    self.log.batches(conn),
                )
                if not against.ok or against.chain is None:
                    raise CheckpointRefused(
                        f"not signing: the log does not match the checkpoint at sequence "
                        f"{latest.sequence} in {self.sink.path}: {against.problem}: "
                        f"{against.detail}"
                    )
                head = against.chain.head
                if head is not None and head.sequence == latest.sequence:
                    return None
            if head is None:
                return None
            checkpoint = sign_checkpoint(key, head, created_at=self.clock())
            await asyncio.to_thread(self.sink.append, checkpoint)
        log.info("checkpoint of entry %d signed into %s", checkpoint.sequence, self.sink.path)
        return checkpoint

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Sign now and then every `interval` seconds until `stop`; `interval` 0 only checks
        the key. A missing key stops the service (raised); a refused or failed round is
        logged and tried again at the next one."""
        self.key()
        if interval <= 0:
            await stop.wait()  # returning early would stop the service
            return
        while not stop.is_set():
            try:
                await self.sign()
            except CheckpointRefused as error:
                log.error("decision-log checkpoint refused: %s", error)
            except (psycopg.Error, OSError, CheckpointSetupError) as error:
                log.warning("decision-log checkpoint failed, next try in %ss: %s", interval, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _verify_chain(rows: Iterator[LogEntry]) -> Verification:
    return verify(rows, check_columns=False)


async def _in_thread(
    check: Callable[[Iterator[LogEntry]], T], batches: AsyncGenerator[list[LogEntry], None]
) -> T:
    """Run `check` (CPU-bound: one SHA-256 per entry) off the event loop over entries the
    loop fetches batch by batch, so a long log is neither held in memory nor blocks it."""
    loop = asyncio.get_running_loop()

    def rows() -> Iterator[LogEntry]:
        while True:
            batch = asyncio.run_coroutine_threadsafe(_next(batches), loop).result()
            if batch is None:
                return
            yield from batch

    try:
        return await asyncio.to_thread(check, rows())
    finally:
        await batches.aclose()


async def _next(batches: AsyncGenerator[list[LogEntry], None]) -> list[LogEntry] | None:
    try:
        return await anext(batches)
    except StopAsyncIteration:
        return None
