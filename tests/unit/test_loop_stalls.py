"""The event-loop watch every service runs (libs/platform/stalls.py): a call that holds the
loop longer than the threshold is logged with its length, a short one is not, the longest
stall is kept, a storm is folded into few lines, and the watch ends on its stop event."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from libs.platform.stalls import StallWatch, logged_stalls
from tests.support.progress import Stall

LOGGER = "tests.loop-stalls"


def hold_the_loop(seconds: float) -> None:
    """What a service must never do: block the event loop (a blocking call in a handler)."""
    time.sleep(seconds)


async def until(predicate: Callable[[], bool], what: str) -> None:
    stalled = Stall(10, what)
    while not predicate():
        stalled.watch()
        await asyncio.sleep(0.005)


class Running:
    """A watch running on the test's loop until its stop event."""

    def __init__(self, watch: StallWatch) -> None:
        self.watch = watch
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(watch.run(self.stop))

    async def next_tick(self) -> None:
        """Until the watch woke again: it has measured what held the loop before."""
        seen = self.watch.ticks
        await until(lambda: self.watch.ticks > seen, "the watch to wake")

    async def stopped(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


@contextlib.asynccontextmanager
async def running(watch: StallWatch) -> AsyncIterator[Running]:
    """The watch running; cancelled if the test fails before it stopped it, so that it never
    outlives the test on the shared loop."""
    run = Running(watch)
    try:
        yield run
    finally:
        run.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run.task


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """The watch's warnings so far."""
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        yield lambda: [r.getMessage() for r in caplog.records if r.name == LOGGER]


def watch(quiet: float = 1.0) -> StallWatch:
    return StallWatch(interval=0.01, threshold=0.2, log=logging.getLogger(LOGGER), quiet=quiet)


async def test_a_call_holding_the_loop_over_the_threshold_is_logged_with_its_length(
    warnings: Callable[[], list[str]],
) -> None:
    async with running(watch()) as run:
        await run.next_tick()
        hold_the_loop(0.02)  # holds the loop well under the threshold
        await run.next_tick()
        assert run.watch.longest > 0.005, "a short stall is measured"
        assert not warnings(), "but not logged"

        hold_the_loop(0.3)
        await run.next_tick()
        [message] = warnings()
        assert "event loop stalled" in message
        stalls = logged_stalls([message])
        assert stalls.count == 1
        # At least the hold less one interval; as measured, to the millisecond.
        assert 0.285 <= stalls.longest == pytest.approx(run.watch.longest, abs=0.001)
        assert run.watch.over == 1
        await run.stopped()


async def test_the_longest_stall_is_kept_and_a_storm_folds_into_one_line(
    warnings: Callable[[], list[str]],
) -> None:
    async with running(watch(quiet=3600)) as run:
        await run.next_tick()
        for hold in (0.4, 0.25, 0.25):
            hold_the_loop(hold)
            await run.next_tick()
        assert run.watch.longest >= 0.385, "the longest is kept after shorter ones"
        assert run.watch.over == 3
        assert len(warnings()) == 1, "the first is logged at once, the others wait for quiet"
        await run.stopped()
    messages = warnings()
    assert len(messages) == 2, "the folded ones are logged on stopping"
    assert "2 times over 200 ms" in messages[1]
    stalls = logged_stalls(messages)
    assert stalls.count == 3
    assert stalls.longest == pytest.approx(run.watch.longest, abs=0.001)


class Node:
    """Objects in reference cycles: only the collector frees them."""

    def __init__(self) -> None:
        self.me = self


async def test_a_stall_of_the_garbage_collector_is_told_from_one_of_the_code(
    warnings: Callable[[], list[str]],
) -> None:
    # What the test process already holds out of the collector's sight: a full collection
    # of a large heap, run by allocation at any moment, must not blur the two stalls.
    gc.freeze()
    try:
        await _two_stalls(warnings)
    finally:
        gc.unfreeze()


async def _two_stalls(warnings: Callable[[], list[str]]) -> None:
    async with running(watch(quiet=0)) as run:
        garbage = [Node() for _ in range(200_000)]
        del garbage
        await run.next_tick()
        before = len(warnings())
        hold_the_loop(0.3)
        await run.next_tick()
        started = time.perf_counter()
        gc.collect()  # a full collection, with the loop held, as one triggered by allocation
        took = time.perf_counter() - started
        hold_the_loop(max(0.25 - took, 0))  # over the threshold whatever the machine
        await run.next_tick()
        await run.stopped()
    code, collector = warnings()[before:]
    assert code.endswith("garbage collection 0 ms of it"), code
    collected = float(collector.rsplit("garbage collection ", 1)[1].split(" ms")[0]) / 1000
    assert collected == pytest.approx(took, abs=0.002), collector


async def test_the_watch_ends_on_its_stop_event() -> None:
    async with running(StallWatch(interval=0.05)) as run:
        await run.next_tick()
        await run.stopped()
        assert run.task.done()
        assert run.task.exception() is None


async def test_around_measured_code_a_hold_before_the_first_tick_counts() -> None:
    async with StallWatch(interval=0.001) as measured:
        hold_the_loop(0.05)
    assert measured.longest >= 0.045
