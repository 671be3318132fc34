"""Helper processes of a benchmark run (a consumer, a NOTIFY listener)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@asynccontextmanager
async def child(
    module: str, *args: str, env: Mapping[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `python -m module args` for the duration of the block.

    The child writes "ready" as its first line on stdout once it is serving; closing its
    stdin tells it to stop. It is killed if it does not stop within STOP_TIMEOUT.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    # Both exist: they were asked for as pipes.
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        ready = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)
        if ready.strip() != b"ready":
            raise RuntimeError(f"{module} did not start (its first line: {ready!r})")
        yield process
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
