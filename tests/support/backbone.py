"""A consumer whose effect can be counted, for proving exactly-once application."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import psycopg
from faststream.nats import NatsBroker
from nats.js.errors import NotFoundError
from psycopg import AsyncConnection

from libs.events.consumer import EventHandler, subscribe
from libs.events.envelope import Envelope, EventMetadata
from libs.events.store import EventStore
from libs.events.subjects import DEAD_LETTER_STREAM
from tests.support.events import Probe
from tests.support.progress import Stall

ACTOR = EventMetadata(actor="tests")


async def append_probes(store: EventStore, numbers: range, *, delay: float = 0.0) -> None:
    """Append a probe numbered n for each n, each on a stream of its own."""
    for n in numbers:
        await store.append(f"probe-{n}", 0, [Probe(n=n)], ACTOR)
        if delay:
            await asyncio.sleep(delay)


def create_effects_table(database_url: str) -> None:
    """No unique key on purpose: a second application of an event shows as a second row."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS svc.effects (event_id uuid NOT NULL, writer int, n int)"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS svc.failures (n int PRIMARY KEY)")


async def record_effect(conn: AsyncConnection[Any], envelope: Envelope, event: Probe) -> None:
    failing = await (
        await conn.execute("SELECT 1 FROM svc.failures WHERE n = %s", (event.n,))
    ).fetchone()
    if failing:
        raise RuntimeError(f"probe {event.n} is set to fail")
    await conn.execute(
        "INSERT INTO svc.effects (event_id, writer, n) VALUES (%s, %s, %s)",
        (envelope.event_id, event.writer, event.n),
    )


HANDLER = EventHandler(service="svc", name="effects", event=Probe, apply=record_effect)


def start_consumer(broker: NatsBroker, store: EventStore, **options: Any) -> None:
    subscribe(broker, store, HANDLER, **options)


def effect_counts(database_url: str) -> dict[int, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT n, count(*) FROM svc.effects GROUP BY n").fetchall()
    return {n: count for n, count in rows}


def effect_counts_or_none(database_url: str) -> dict[int, int] | None:
    """None while the database does not answer."""
    try:
        return effect_counts(database_url)
    except psycopg.OperationalError:
        return None


async def wait_until(
    predicate: Callable[[], Any],
    stall: float,
    what: str,
    progress: Callable[[], object] = lambda: None,
) -> None:
    """Poll `predicate` until it holds; fails after `stall` seconds in which `progress`
    (say, a count that grows towards the goal) did not change (tests/support/progress.py)."""
    stalled = Stall(stall, what)
    while not predicate():
        stalled.watch(progress())
        await asyncio.sleep(0.1)


async def eventually(
    check: Callable[[], Awaitable[Any]],
    stall: float,
    what: str,
    progress: Callable[[], object] = lambda: None,
) -> Any:
    """Await `check` until it returns something truthy, and return that; fails after `stall`
    seconds in which neither its answer nor `progress` changed."""
    stalled = Stall(stall, what)
    while not (result := await check()):
        stalled.watch(result, progress())
        await asyncio.sleep(0.1)
    return result


async def stored(broker: NatsBroker, stream: str) -> list[Any]:
    """Every message `stream` holds now, in sequence order, with its subject, headers and
    raw body."""
    js = broker.connection.jetstream()
    state = (await js.stream_info(stream)).state
    found = []
    for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
        with suppress(NotFoundError):  # deleted: a work queue's acknowledged message
            found.append(await js.get_msg(stream, seq=seq))
    return found


async def dead_letters(broker: NatsBroker, count: int) -> list[Any]:
    """The first `count` dead letters, once there are that many."""
    js = broker.connection.jetstream()

    async def enough() -> bool:
        return bool((await js.stream_info(DEAD_LETTER_STREAM)).state.messages >= count)

    await eventually(enough, 30, f"{count} dead letter(s)")
    subscription = await js.pull_subscribe("deadletter.>", stream=DEAD_LETTER_STREAM)
    return list(await subscription.fetch(count, timeout=5))
