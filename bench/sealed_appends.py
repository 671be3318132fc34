"""Benchmark 8: appends of an event with a personal field, sealed under real data keys, against
appends of the same event shape without one, on the same log, in the same run.

The event is shaped like an assessment submission: ten answers, one with a 300-character
comment belonging to the rater and the subject, both drawn from a population of 1,000 people.
The store seals it with `PostgresDataKeys` in the `privacy` schema, migrated and granted as
the stack does, on the writers' own pool (as a service's store shares its pool with its keys).
Appends run as benchmark 1's (`bench.appends`: the same writers, turns and runs); a third way
appends for owners nobody has sealed for yet, so that every append first makes two keys.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from rich.console import Console

from bench.appends import (
    TARGET_RATIO,
    WRITER_COUNTS,
    Append,
    Runner,
    Throughput,
    listening,
    paired_ratio,
    warmup_events,
    writer_pool,
)
from bench.events import (
    METADATA,
    SEALED_SCHEMA,
    PlainAnswer,
    PlainSubmission,
    SealedAnswer,
    SealedSubmission,
)
from bench.report import table
from bench.stack import Roles
from libs.events.migrations.roles import service_role
from libs.events.store import EventStore
from libs.personal.vault import CACHE_SECONDS, MasterKeys, PostgresDataKeys
from talentledger.stack.database import migrate_personal_data_keys

POPULATION = 1_000
ITEMS = 10
COMMENT_CHARS = 300
CAMPAIGN = "bench-campaign"
_COMMENT = (
    "Took over the payments migration when its lead left, kept the cut-over date and wrote "
    "the runbook the on-call team now uses; could delegate more of the review load and say "
    "earlier when a deadline is at risk. "
)
COMMENT = (_COMMENT * 3)[:COMMENT_CHARS]

Owners = Callable[[int], tuple[str, str]]
"""The (rater, subject) of the n-th event of a run."""


class CountedDataKeys(PostgresDataKeys):
    """`PostgresDataKeys` counting the people whose keys it asked the database for: a key
    made, or one read again once its cache entry expired."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claimed = 0

    async def _call(self, function: str, *arrays: list[Any]) -> list[tuple[Any, ...]]:
        if function == "claim_data_keys":
            self.claimed += len(arrays[0])
        return await super()._call(function, *arrays)


@dataclass
class Config:
    """One writer count: the three ways of appending, measured in turns."""

    plain: Throughput
    sealed: Throughput
    """Owners from the population, their keys cached."""
    new_owners: Throughput
    """Both owners new: two keys made before each append."""
    primed_s: float = 0.0
    """One call making (or, after the first writer count, reading) the population's keys."""
    read_again: int = 0
    """Keys asked of the database again during the cached runs (cache expiry)."""

    @property
    def ratio(self) -> float:
        return paired_ratio(self.sealed, self.plain)

    @property
    def new_owners_ratio(self) -> float:
        return paired_ratio(self.new_owners, self.plain)


@dataclass
class SealedResults:
    events_per_run: int
    repeats: int
    payload_bytes: tuple[int, int] = (0, 0)
    """The payload as stored, compact JSON: plain, sealed."""
    check: str = ""
    configs: list[Config] = field(default_factory=list)


# -- the events ---------------------------------------------------------------------------------


Submission = PlainSubmission | SealedSubmission


def _answers(answer: type[PlainAnswer] | type[SealedAnswer]) -> list[Any]:
    """Ten answers, the first with the comment; built once, reused by every event (frozen)."""
    return [
        answer(item=f"competency-{i}", value=1 + i % 5, comment=COMMENT if i == 0 else None)
        for i in range(ITEMS)
    ]


ANSWERS: dict[type[Submission], list[Any]] = {
    PlainSubmission: _answers(PlainAnswer),
    SealedSubmission: _answers(SealedAnswer),
}


def submission(
    event: type[Submission], rater: str, subject: str, n: int = 0, writer: int = 0
) -> Submission:
    return event(
        campaign=CAMPAIGN,
        subject=subject,
        rater=rater,
        final=True,
        n=n,
        writer=writer,
        answers=ANSWERS[event],
    )


def population_owners(people: Sequence[str], events: int, seed: int = 8) -> Owners:
    """A rater and a different subject for each n, drawn (seeded) from `people`."""
    rng = random.Random(seed)
    pairs = [(a, b) for a, b in (rng.sample(people, 2) for _ in range(events))]
    return lambda n: pairs[n % len(pairs)]


def new_owners() -> Owners:
    """Two people nobody has sealed for yet, for every event."""
    token, counter = secrets.token_hex(3), itertools.count()
    return lambda _: (f"new-{token}-{next(counter)}", f"new-{token}-{next(counter)}")


def submitting(store: EventStore, event: type[Submission], owners: Owners) -> Append:
    """`EventStore.append` of one submission, its own transaction (as `store_append`)."""

    async def append(writer: int, stream_id: str, expected: int, n: int) -> None:
        rater, subject = owners(n)
        made = submission(event, rater, subject, n, writer)
        await store.append(stream_id, expected, [made], METADATA)

    return append


# -- running ------------------------------------------------------------------------------------


async def prepare_schemas(roles: Roles) -> str:
    """The log, migrated like a service's, and the personal data keys' schema with the log's
    role allowed to make and read keys (never to destroy one); return the role's URL."""
    url = await asyncio.to_thread(roles.migrate, SEALED_SCHEMA)
    await asyncio.to_thread(
        migrate_personal_data_keys, roles.owner_url, [service_role(SEALED_SCHEMA)]
    )
    return url


async def run(roles: Roles, console: Console, *, events: int, repeats: int) -> str:
    """Benchmark 8, as the log's own role; the markdown section."""
    results = SealedResults(events_per_run=events, repeats=repeats)
    runner = Runner(console)
    master = MasterKeys.generate()
    people = [f"emp-{i:05d}" for i in range(POPULATION)]
    owners = population_owners(people, events)
    with console.status("migrating the log and the personal data keys' schema"):
        database_url = await prepare_schemas(roles)
    async with listening(database_url, SEALED_SCHEMA):
        for writers in WRITER_COUNTS:
            console.print(f"[bold]Sealed appends, {writers} writer(s)[/]")
            async with writer_pool(database_url, writers) as pool:
                # A fresh cache per writer count, as a process starting up has.
                keys = CountedDataKeys(pool, master)
                store = EventStore(pool, SEALED_SCHEMA, keys=keys)
                making = EventStore(pool, SEALED_SCHEMA, keys=CountedDataKeys(pool, master))
                try:
                    if not results.check:
                        results.payload_bytes, results.check = await _check(store, owners)
                    config = await _measure(runner, results, store, making, people, owners, writers)
                finally:
                    await store.close()
                    await making.close()
            results.configs.append(config)
            console.print(
                f"  ratio sealed/plain at {writers} writer(s): [bold]{config.ratio:.2f}[/] "
                f"(both owners new: {config.new_owners_ratio:.2f})"
            )
    return section(results)


async def _measure(
    runner: Runner,
    results: SealedResults,
    store: EventStore,
    making: EventStore,
    people: Sequence[str],
    owners: Owners,
    writers: int,
) -> Config:
    """Plain, sealed and both owners new, in turns, after making the population's keys."""
    events = results.events_per_run
    keys = store.keys
    assert isinstance(keys, CountedDataKeys)
    config = Config(
        Throughput("plain comment", writers, events),
        Throughput("sealed comment, keys cached", writers, events),
        Throughput("sealed comment, both owners new", writers, events),
    )
    began = time.perf_counter()
    await keys.for_people(people)
    config.primed_s = time.perf_counter() - began
    primed = keys.claimed
    await runner.interleaved(
        [
            (config.plain, submitting(store, PlainSubmission, owners)),
            (config.sealed, submitting(store, SealedSubmission, owners)),
            (config.new_owners, submitting(making, SealedSubmission, new_owners())),
        ],
        results.repeats,
        warmup_events(events),
    )
    config.read_again = keys.claimed - primed
    return config


async def _check(store: EventStore, owners: Owners) -> tuple[tuple[int, int], str]:
    """The sizes of both payloads as stored, and proof that what is measured seals: the
    comment is absent from the stored row and decodes back."""
    rater, subject = owners(0)
    event = submission(SealedSubmission, rater, subject)
    [appended] = await store.append(f"check-{secrets.token_hex(3)}", 0, [event], METADATA)
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            sql.SQL("SELECT payload::text FROM {} WHERE event_id = %s").format(
                sql.Identifier(SEALED_SCHEMA, "events")
            ),
            (appended.event_id,),
        )
        row = await cur.fetchone()
    stored = row[0] if row else ""
    [read] = await store.read_stream(appended.stream_id)
    decoded = await store.decode(read)
    ok = COMMENT[:40] not in stored and decoded == event
    verdict = (
        "✅ the comment is not in the stored payload, and the store decodes it back"
        if ok
        else "❌ the stored payload holds the comment in clear, or does not decode back"
    )
    plain_json = submission(PlainSubmission, rater, subject).model_dump_json()
    sealed_json = json.dumps(read.payload, ensure_ascii=False, separators=(",", ":"))
    return (len(plain_json.encode()), len(sealed_json.encode())), verdict


# -- the report ---------------------------------------------------------------------------------


def _cpu(result: Throughput) -> str:
    best = result.best_run
    return f"{best.client_cpu_us:,.0f}" if best and best.client_cpu_us is not None else "-"


def _busy(result: Throughput) -> str:
    best = result.best_run
    return f"{best.machine_busy:.0%}" if best else "-"


def _runs(result: Throughput) -> str:
    return ", ".join(f"{r:,.0f}" for r in result.rates)


def section(results: SealedResults) -> str:
    rows = []
    for c in results.configs:
        met = "met" if c.ratio >= TARGET_RATIO else "**not met**"
        rows.append(
            [
                str(c.plain.writers),
                f"{c.plain.best:,.0f}",
                f"{c.sealed.best:,.0f}",
                f"**{c.ratio:.2f}**",
                f"≥ {TARGET_RATIO}: {met}",
                f"{_cpu(c.plain)} / {_cpu(c.sealed)}",
                f"{_busy(c.plain)} / {_busy(c.sealed)}",
                f"{c.new_owners.best:,.0f} ({c.new_owners_ratio:.2f}; {_cpu(c.new_owners)} µs)",
            ]
        )
    plain_bytes, sealed_bytes = results.payload_bytes
    parts = [
        "## 8. Sealed appends: a personal field against none",
        "",
        f"{results.events_per_run:,} events per run; {results.repeats} rounds of runs of each, "
        "in turns, after a warm-up; writers, runs and ratios as in benchmark 1 (rates: the "
        "best run). The event: a "
        f"submission of {ITEMS} answers, one with a {COMMENT_CHARS}-character comment "
        f"belonging to its rater and subject, drawn from {POPULATION:,} people; sealed under "
        "both owners' keys (`PostgresDataKeys`, `privacy` schema, same pool), or the same "
        "shape with the comment not personal. Payload as stored: "
        f"{plain_bytes:,} bytes plain, {sealed_bytes:,} sealed. The population's keys are "
        f"made (or read) in one call before the runs, then cached ({CACHE_SECONDS:.0f} s). "
        "Both owners new: every append first makes two keys. Everything writes as "
        f"`{service_role(SEALED_SCHEMA)}`.",
        "",
        table(
            [
                "Writers",
                "Plain (events/s)",
                "Sealed, keys cached (events/s)",
                "Ratio",
                "Target",
                "Client CPU µs/event (plain / sealed)",
                "Machine busy (plain / sealed)",
                "Sealed, both owners new (events/s; ratio; client CPU)",
            ],
            rows,
            "rrrrlrrr",
        ),
        "",
        "All runs (events/s):",
        "",
    ]
    for c in results.configs:
        parts.append(
            f"- {c.plain.writers} writer(s): plain {_runs(c.plain)}; sealed {_runs(c.sealed)}; "
            f"both owners new {_runs(c.new_owners)}; the population's {POPULATION:,} keys in "
            f"one call {c.primed_s * 1000:,.0f} ms; keys read again during the cached runs "
            f"{c.read_again:,}"
        )
    parts += ["", f"Check: {results.check}"]
    return "\n".join(parts)
