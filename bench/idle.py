"""Benchmark 9: what an idle embedded stack costs in CPU.

A fresh stack is started as `talentledger up` starts it (PostgreSQL, NATS, the Temporal dev
server and the five services as processes) in a temporary `TALENTLEDGER_HOME`, as the cycle
benchmark starts one (bench/cycle.py). Nothing is asked of it: once it has settled, the CPU
seconds of every one of its processes (each server with all its children, each service) are
measured over a window. Then the services are stopped and the bare servers measured over a
window of the same length: the baseline, what the stack costs before any service of ours
runs. The stack is stopped and its home removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from psycopg import AsyncConnection
from rich.console import Console

from bench.cpu import machine_busy, machine_times, postgres_processes
from bench.cycle import embedded_settings, processes
from bench.report import table
from bench.stack import machine_info
from talentledger.stack.broker_identities import OPERATOR_IDENTITY, credentials_file
from talentledger.stack.supervisor import SERVICES, Stack

TARGET_PERCENT = 5.0
"""The whole idle stack, all processes, at most this share of one core."""
SERVERS = ("PostgreSQL (all processes)", "NATS server", "Temporal server")


@dataclass(frozen=True)
class IdleSizes:
    seconds: float
    """Length of each measured window."""
    settle: float
    """Seconds left to the stack after it is up (or its services stopped) before measuring."""


FULL = IdleSizes(seconds=60.0, settle=30.0)
QUICK = IdleSizes(seconds=20.0, settle=10.0)


@dataclass(frozen=True)
class Window:
    """CPU seconds by process over one measured window."""

    seconds: float
    cpu: Mapping[str, float | None]
    machine_busy: float
    load: tuple[float, float, float]
    """The load average (1, 5, 15 minutes) at the window's start."""

    def percent(self, name: str) -> float | None:
        used = self.cpu.get(name)
        return None if used is None else 100 * used / self.seconds

    @property
    def total_percent(self) -> float:
        return 100 * sum(s for s in self.cpu.values() if s is not None) / self.seconds


@dataclass
class IdleResult:
    sizes: IdleSizes
    stack: Window | None = None
    servers: Window | None = None
    setup: dict[str, float] = field(default_factory=dict)
    failure: str | None = None


def _tree(pid: int | None) -> dict[int, float]:
    """CPU seconds so far of the process `pid` and of every descendant, by pid."""
    if pid is None:
        return {}
    found: dict[int, float] = {}
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                found[process.pid] = times.user + times.system
    return found


async def measure(roots: Mapping[str, int | None], seconds: float) -> Window:
    """CPU seconds of each named process and its descendants over `seconds`. A descendant
    started during the window counts in full; one that ended during it is not counted (an
    idle stack's connections live through it)."""
    load = os.getloadavg()
    before = {name: _tree(pid) for name, pid in roots.items()}
    machine = machine_times()
    await asyncio.sleep(seconds)
    after = {name: _tree(pid) for name, pid in roots.items()}
    busy = machine_busy(machine, machine_times())
    cpu: dict[str, float | None] = {}
    for name, now in after.items():
        then = before[name]
        cpu[name] = sum(s - then.get(pid, 0.0) for pid, s in now.items()) if now else None
    return Window(seconds, cpu, busy, load)


def _home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="talentledger-bench-idle-"))
    # PostgreSQL runs as its own system user when we are root: it must reach its data.
    home.chmod(0o755)
    return home


async def run(console: Console, sizes: IdleSizes) -> tuple[dict[str, str], str]:
    """Measure an idle stack, then its servers alone; the machine's description and the
    report's section."""
    home = _home()
    settings = embedded_settings(home)
    stack = Stack(settings)
    result = IdleResult(sizes)
    machine: dict[str, str] = {}
    try:
        with console.status("starting the stack (talentledger up)"):
            started = time.perf_counter()
            state = await asyncio.to_thread(stack.up)
            result.setup["stack up"] = time.perf_counter() - started
        origin = "embedded (talentledger up)"
        machine = await machine_info(
            state.database_url,
            origin,
            state.nats_url,
            origin,
            credentials_file(home, OPERATOR_IDENTITY),
        )
        async with await AsyncConnection.connect(state.database_url) as conn:
            postgres = await postgres_processes(conn, state.database_url)
        roots: dict[str, int | None] = {
            **processes(stack, state),
            SERVERS[0]: postgres[0].pid if postgres else None,
        }
        with console.status(f"letting the stack settle ({sizes.settle:.0f} s)"):
            await asyncio.sleep(sizes.settle)
        with console.status(f"measuring the idle stack ({sizes.seconds:.0f} s)"):
            result.stack = await measure(roots, sizes.seconds)
        with console.status("stopping the services"):
            await asyncio.to_thread(stack.stop_services, list(reversed(SERVICES)))
        with console.status(f"letting the servers settle ({sizes.settle:.0f} s)"):
            await asyncio.sleep(sizes.settle)
        with console.status(f"measuring the servers alone ({sizes.seconds:.0f} s)"):
            result.servers = await measure(
                {name: pid for name, pid in roots.items() if name in SERVERS}, sizes.seconds
            )
    except RuntimeError as error:
        result.failure = f"{type(error).__name__}: {error}"
        console.print(f"[red]idle stack: {result.failure}[/]")
    finally:
        with console.status("stopping the stack (talentledger down)"):
            await asyncio.to_thread(stack.down)
        if result.failure:
            console.print(f"the failed run's logs are kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    if result.stack is not None:
        console.print(f"idle stack: {result.stack.total_percent:.1f}% of one core")
    return machine, render(result)


# -- the report ------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _conditions(label: str, window: Window) -> str:
    load = " / ".join(f"{x:.2f}" for x in window.load)
    return f"{label}: load average {load} at the start, machine {window.machine_busy:.0%} busy"


def render(result: IdleResult) -> str:
    parts = [
        "## 9. Idle stack",
        "",
        f"A fresh embedded stack (`talentledger up`: PostgreSQL, NATS, the Temporal dev "
        f"server, {len(SERVICES)} services) doing nothing, measured over "
        f"{result.sizes.seconds:.0f} s after {result.sizes.settle:.0f} s to settle: CPU "
        "seconds of each process with all its children, as a share of one core. Baseline: "
        "the same servers with every service stopped, over a window as long.",
    ]
    if result.failure:
        parts += ["", f"**The run did not complete:** {result.failure}"]
    stack, servers = result.stack, result.servers
    if stack is None:
        return "\n".join(parts) + "\n"
    rows = []
    for name in stack.cpu:
        alone = servers.percent(name) if servers and name in SERVERS else None
        rows.append(
            [
                name,
                _s(stack.cpu[name]),
                _pct(stack.percent(name)),
                _pct(alone) if name in SERVERS else "",
            ]
        )
    total = stack.total_percent
    alone_total = servers.total_percent if servers else None
    rows.append(
        [
            "**total**",
            _s(sum(s for s in stack.cpu.values() if s is not None)),
            f"**{total:.2f}**",
            f"**{_pct(alone_total)}**",
        ]
    )
    met = "met" if total <= TARGET_PERCENT else "**not met**"
    ratio = (
        f"**{total / alone_total:.1f}**"
        if alone_total
        else "- (the servers alone used no measurable CPU)"
    )
    parts += [
        "",
        table(
            ["Process", "CPU s (stack)", "% of one core (stack)", "% of one core (servers alone)"],
            rows,
            "lrrr",
        ),
        "",
        f"Target ≤ {TARGET_PERCENT:g}% of one core for the whole idle stack: {met} "
        f"({total:.2f}%). Ratio to the servers alone: {ratio}.",
        "",
        _conditions("Stack window", stack),
        *(["", _conditions("Servers-alone window", servers)] if servers else []),
        "",
        f"Stack up in {result.setup.get('stack up', 0):.0f} s (not measured).",
    ]
    return "\n".join(parts) + "\n"
