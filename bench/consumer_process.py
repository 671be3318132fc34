"""The latency benchmark's consumer in a process of its own, as a consuming service runs.

Started by `bench.latency` with BENCH_DATABASE_URL, BENCH_NATS_URL, BENCH_CONSUMER and, on a
server with authentication, BENCH_NATS_CREDENTIALS set.
It writes "ready" to stdout once subscribed, then "<event id> <time.perf_counter()>" for
every effect committed, and stops when its stdin is closed. On Linux perf_counter reads
CLOCK_MONOTONIC, one clock for all processes, so the parent can compare the readings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import TextIO
from uuid import UUID

from bench.latency import quiet_faststream, running_consumer
from bench.stack import nats_from_env


async def serve(out: TextIO) -> None:
    database_url = os.environ["BENCH_DATABASE_URL"]
    nats_url, nats_credentials = nats_from_env()
    name = os.environ["BENCH_CONSUMER"]

    def committed(event_id: UUID, at: float) -> None:
        out.write(f"{event_id} {at!r}\n")

    async with running_consumer(database_url, nats_url, nats_credentials, name, committed):
        out.write("ready\n")
        # Returns when the parent closes our stdin.
        await asyncio.to_thread(sys.stdin.readline)


def main() -> None:
    # stdout carries the protocol alone: whatever else writes to it (FastStream's access
    # logger does) goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(
        level=logging.WARNING, format="consumer %(levelname)s %(name)s: %(message)s"
    )
    quiet_faststream()
    with out:
        asyncio.run(serve(out))


if __name__ == "__main__":
    main()
