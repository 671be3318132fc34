"""CPU time of the processes a measurement involves, to tell what saturates first."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil
from psycopg import AsyncConnection

_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def machine_times() -> tuple[float, float]:
    """All cores' time so far, and the idle part of it."""
    times = psutil.cpu_times()
    return sum(times), times.idle + times.iowait


def machine_busy(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Share of all cores' time between two `machine_times()` that was not idle."""
    total, idle = after[0] - before[0], after[1] - before[1]
    return 1 - idle / total if total > 0 else 0.0


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in _LOCAL_HOSTS or host.startswith("/")


def _cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        # A process that has ended by now no longer counts.
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


async def postgres_processes(conn: AsyncConnection, database_url: str) -> list[psutil.Process]:
    """The postmaster and all its children, when the server runs on this machine."""
    if not _is_local(database_url):
        return []
    row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
    try:
        postmaster = psutil.Process(int(row[0])).parent() if row else None
        if postmaster is None or "postgres" not in postmaster.name():
            return []
        return [postmaster, *postmaster.children()]
    except psutil.Error:
        return []


def nats_processes(nats_url: str) -> list[psutil.Process]:
    """The process listening on the NATS port, when it runs on this machine."""
    if not _is_local(nats_url):
        return []
    port = urlsplit(nats_url).port or 4222
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return [psutil.Process(conn.pid)]
    return []


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds per group of processes over an interval, and how busy the machine was."""

    seconds: Mapping[str, float | None]
    """None: that group's processes could not be observed (e.g. a remote server)."""
    machine_busy: float


class CpuProbe:
    """CPU time of named groups of processes between `start()` and `stop()`.

    Processes that end in between are not counted; the groups measured here (servers,
    pooled connections, the benchmark's own processes) live through the interval.
    """

    def __init__(self, groups: Mapping[str, Sequence[psutil.Process]]) -> None:
        self.groups = groups
        self._start: dict[str, float] = {}
        self._machine = machine_times()

    def start(self) -> None:
        self._start = {name: _cpu_seconds(procs) for name, procs in self.groups.items()}
        self._machine = machine_times()

    def stop(self) -> CpuUse:
        busy = machine_busy(self._machine, machine_times())
        seconds = {
            name: (_cpu_seconds(procs) - self._start[name]) if procs else None
            for name, procs in self.groups.items()
        }
        return CpuUse(seconds, busy)
