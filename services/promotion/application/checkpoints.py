"""Signed checkpoints of the decision log, taken by the service itself.

After every promotion stage of a cycle and on a schedule, the service verifies the log and
signs its head with a key held outside the database, then appends the checkpoint to a sink
outside it. A checkpoint is only signed over a log that still matches the latest one signed
with the same key: a rewritten or truncated log stops the signing (and says why) instead of
being blessed by the next checkpoint. One signer at a time, whatever the number of replicas:
a lock held while verifying and signing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

from libs.events.ports import UnitOfWork
from services.promotion.application.ports import CheckpointSink, SigningKey, Work
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
        uow: UnitOfWork[Work],
        key: SigningKey,
        sink: CheckpointSink,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.uow = uow
        self.key = key
        self.sink = sink
        self.clock = clock

    async def sign(self) -> Checkpoint | None:
        """Verify the log, then sign its head into the sink; None when the head is already
        checkpointed or the log is empty."""
        key = self.key.load()
        async with self.uow.transaction() as tx:
            await tx.lock("decision_log.checkpoints")
            latest = await asyncio.to_thread(self.sink.latest)
            if latest is None:
                chain = await _in_thread(_verify_chain, tx.log.batches())
                if not chain.ok:
                    raise CheckpointRefused(f"the decision log fails verification: {chain.failure}")
                head = chain.head
            else:
                own = key_fingerprint(key)
                against = await _in_thread(
                    lambda rows: verify_pinned(own, latest, rows, check_columns=False),
                    tx.log.batches(),
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
