"""Event-loop stalls: how late a ticker on the loop wakes.

A service runs its API, consumers, relay and Temporal worker on one event loop
(libs/platform/runtime.py `serve`): whatever holds the loop (a CPU-bound step, a blocking
call, a full garbage collection) delays every request, message and heartbeat of the process
meanwhile. `StallWatch` sleeps `interval` in a loop and measures how much later than due it
wakes: the loop was held at least that long. It keeps the longest stall seen and, given a
threshold, logs a warning for each stall over it, at most one line every `quiet` seconds: the
stalls of a storm are folded into one line naming how many and the longest, so the log
cannot flood. Idle, it costs one wakeup every `interval` (ten a second by default).

Each warning also names how long the garbage collector ran since the tick before: a full
collection walks every object the process holds (caches included) with the loop held, and
tells a stall of the collector from one of the code.

The benchmarks use the same watch with a 1 ms ticker, around the code they measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

INTERVAL = 0.1
"""Seconds a service's watch sleeps between wakeups."""
QUIET = 1.0
"""Seconds at least between two warnings; the stalls in between are folded into the next."""

_STALLED = "event loop stalled %.0f ms (warns over %.0f ms); garbage collection %.0f ms of it"
_FOLDED = (
    "event loop stalled %d times over %.0f ms in the last %.1f s, the longest %.0f ms; "
    "garbage collection %.0f ms of it"
)
_LOGGED = re.compile(
    r"event loop stalled (?:(\d+) times over \d+ ms in the last [\d.]+ s, the longest )?(\d+) ms"
)

_log = logging.getLogger(__name__)


@dataclass
class Stalls:
    """Stalls over a threshold: how many, and the longest (seconds)."""

    count: int = 0
    longest: float = 0.0
    since: float = 0.0
    """When the first of them was seen (time.monotonic)."""
    collecting: float = 0.0
    """Seconds the garbage collector ran around the longest."""

    def add(self, seconds: float, count: int = 1, at: float = 0.0, collecting: float = 0.0) -> None:
        if not self.count:
            self.since = at
        self.count += count
        if seconds >= self.longest:
            self.longest, self.collecting = seconds, collecting


def logged_stalls(lines: Iterable[str]) -> Stalls:
    """The stalls a watch's warnings in `lines` (a service's log) report."""
    stalls = Stalls()
    for line in lines:
        if found := _LOGGED.search(line):
            stalls.add(int(found[2]) / 1000, int(found[1] or 1))
    return stalls


class StallWatch:
    """How late the event loop runs a ticker sleeping `interval`: `longest` is the longest
    stall seen, `over` how many went over `threshold`, each also logged on `log` as a
    warning (rate-limited, see the module) when a threshold is given; `ticks` counts the
    wakeups.

    A service runs it until its stop event (`run`); a measurement runs it around the
    measured code (`async with`), where the stretch since the last tick counts too."""

    def __init__(
        self,
        interval: float = INTERVAL,
        threshold: float | None = None,
        log: logging.Logger = _log,
        quiet: float = QUIET,
    ) -> None:
        self.interval = interval
        self.threshold = threshold
        self.log = log
        self.quiet = quiet
        self.longest = 0.0
        self.over = 0
        self.ticks = 0
        self.collecting = 0.0
        """Seconds the garbage collector ran while the watch did."""
        self._collection_started = 0.0
        self._collecting_seen = 0.0
        self._due = 0.0
        self._pending = Stalls()
        self._warned = float("-inf")
        self._task: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set (noticed within one interval); stalls still folded then
        are logged before it returns."""
        self._due = time.monotonic() + self.interval
        await self._ticks(stop)

    async def _ticks(self, stop: asyncio.Event) -> None:
        gc.callbacks.append(self._collected)
        try:
            while not stop.is_set():
                await asyncio.sleep(max(self._due - time.monotonic(), 0))
                self._lap()
                self._due = time.monotonic() + self.interval
        finally:
            gc.callbacks.remove(self._collected)
        self._warn(time.monotonic())

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._collection_started = now
        elif self._collection_started:  # not one already running when the watch began
            self.collecting += now - self._collection_started
            self._collection_started = 0.0

    def _lap(self) -> None:
        now = time.monotonic()
        late = now - self._due
        total = self.collecting  # read once: a collection in another thread may add to it
        collecting, self._collecting_seen = total - self._collecting_seen, total
        self.ticks += 1
        self.longest = max(self.longest, late)
        if self.threshold is not None and late > self.threshold:
            self.over += 1
            self._pending.add(late, at=now, collecting=collecting)
        if now - self._warned >= self.quiet:
            self._warn(now)

    def _warn(self, now: float) -> None:
        pending = self._pending
        if not pending.count or self.threshold is None:
            return
        if pending.count == 1:
            self.log.warning(
                _STALLED,
                pending.longest * 1000,
                self.threshold * 1000,
                pending.collecting * 1000,
            )
        else:
            self.log.warning(
                _FOLDED,
                pending.count,
                self.threshold * 1000,
                now - pending.since,
                pending.longest * 1000,
                pending.collecting * 1000,
            )
        self._pending = Stalls()
        self._warned = now

    async def __aenter__(self) -> StallWatch:
        # Due from now: code that holds the loop before the ticker first runs counts too.
        self._due = time.monotonic() + self.interval
        self._task = asyncio.create_task(self._ticks(asyncio.Event()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._lap()  # the stretch since the ticker last ran counts too
        self._warn(time.monotonic())
