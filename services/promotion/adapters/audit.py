"""The audit commands (`talentledger audit ...`) on a stored decision log: verify it where it
is kept, and sign a checkpoint of its head now, as the service does after each stage."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from psycopg_pool import AsyncConnectionPool

from libs.events.store import EventStore
from libs.platform.settings import Settings
from services.promotion.adapters.checkpoints import CheckpointDirectory, KeyFile
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.adapters.postgres.work import Database
from services.promotion.application.audit import LogAudit, verify_log
from services.promotion.application.checkpoints import Checkpoints
from services.promotion.domain.decision_log import Checkpoint, LogEntry

# Entries verified between two progress reports.
PROGRESS_EVERY = 1000


def count_entries(conninfo: str, schema: str) -> int:
    return DecisionLog(schema).count(conninfo)


def verify_stored_log(
    conninfo: str,
    schema: str,
    checkpoint: Checkpoint | None = None,
    pinned: str = "",
    progress: Callable[[int], None] | None = None,
) -> LogAudit:
    """Every stored entry verified in sequence order (streamed), and the log against the
    checkpoint when one is given (`verify_log`); `progress(n)` every `PROGRESS_EVERY`."""

    def counted() -> Iterator[LogEntry]:
        for n, entry in enumerate(DecisionLog(schema).entries(conninfo), 1):
            if progress is not None and n % PROGRESS_EVERY == 0:
                progress(n)
            yield entry

    return verify_log(counted(), checkpoint, pinned)


async def sign_now(conninfo: str, schema: str, settings: Settings) -> Checkpoint | None:
    """Sign the head of the verified log into the configured sink (`Checkpoints.sign`)."""
    async with AsyncConnectionPool(conninfo, min_size=1, max_size=1, open=False) as pool:
        checkpoints = Checkpoints(
            Database(EventStore(pool, schema)),
            KeyFile(settings.checkpoint_key),
            CheckpointDirectory(settings.checkpoints),
        )
        return await checkpoints.sign()
