"""LISTENs on the NOTIFY channels given as arguments and drains them until stdin closes.

Started by `bench.appends` with BENCH_DATABASE_URL set; writes "ready" to stdout once
listening.
"""

from __future__ import annotations

import os
import sys
import threading

import psycopg
from psycopg import sql


def _until_stdin_closes(stop: threading.Event) -> None:
    sys.stdin.read()
    stop.set()


def main(channels: list[str]) -> None:
    stop = threading.Event()
    with psycopg.connect(os.environ["BENCH_DATABASE_URL"], autocommit=True) as conn:
        for channel in channels:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        print("ready", flush=True)
        # The parent closes our stdin to stop us.
        threading.Thread(target=_until_stdin_closes, args=(stop,), daemon=True).start()
        while not stop.is_set():
            for _ in conn.notifies(timeout=0.2):
                pass


if __name__ == "__main__":
    main(sys.argv[1:])
