"""Benchmark 5: verifying the promotion decision log (`talentledger audit verify`).

A chain of realistic entries (readiness evaluations: a criteria version, a framework
version, scores per competency, each criterion's result) is built with the domain's
`next_entry`, stored with COPY in a schema migrated with the promotion service's migrations,
and verified:

- in memory, `verify(check_columns=False)`: what the chain check costs;
- streamed from PostgreSQL with `DecisionLog.entries` (a server-side cursor), as
  `audit verify` reads it, chain only and, on a sample, with every column checked.

Baselines in the same run: `hashlib.sha256(body).hexdigest()` over the same bodies in memory
(the issue's target: verify at half that rate or better), and a plain psycopg read of the
same rows. Each timing is the best of `repeats` runs.
"""

from __future__ import annotations

import gc
import hashlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from libs.events.migrations import migrate
from services.promotion.adapters.postgres import MIGRATIONS
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.domain.decision_log import LogEntry, next_entry, verify

SCHEMA = "bench_decision_log"
COMPETENCIES = [f"competency-{n}" for n in range(10)]


@dataclass(frozen=True)
class DecisionLogSizes:
    entries: int
    sample: int
    repeats: int


FULL = DecisionLogSizes(entries=1_000_000, sample=100_000, repeats=2)
QUICK = DecisionLogSizes(entries=50_000, sample=10_000, repeats=2)


def _payload(rng: random.Random, n: int) -> dict[str, Any]:
    scores = {c: round(rng.uniform(1, 5), 2) for c in COMPETENCIES}
    return {
        "readiness": {
            "criteria_version": 1 + n % 3,
            "framework_id": "product-engineering",
            "framework_version": 1 + n % 5,
            "session_id": f"cycle-{n % 97}.1.calibration",
            "scores": scores,
            "results": [
                {"name": f"competency_floor:{c}", "met": v >= 3} for c, v in scores.items()
            ],
            "ready": all(v >= 3 for v in scores.values()),
        }
    }


def build(entries: int, advance: Callable[[int], None]) -> list[LogEntry]:
    rng = random.Random(5)
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    chain: list[LogEntry] = []
    previous: LogEntry | None = None
    for n in range(entries):
        previous = next_entry(
            previous,
            kind="readiness_evaluated",
            case_id=f"case-{n // 4}",
            employee_id=f"E{n // 4 % 20_000:05d}",
            actor="service:promotion",
            recorded_at=start + timedelta(seconds=n),
            payload=_payload(rng, n),
        )
        chain.append(previous)
        if n % 10_000 == 9_999:
            advance(10_000)
    return chain


def store(url: str, chain: Iterable[LogEntry]) -> None:
    table = sql.Identifier(SCHEMA, "decision_log")
    columns = (
        "sequence, entry_id, kind, case_id, employee_id, actor, recorded_at, payload, "
        "previous_hash, hash, body"
    )
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(columns))
        with cur.copy(copy_sql) as copy:
            for e in chain:
                assert e.body is not None
                payload = e.body[
                    e.body.index(b'"payload":') + 10 : e.body.index(b',"previous_hash"')
                ]
                copy.write_row(
                    (
                        e.sequence,
                        e.entry_id,
                        e.kind,
                        e.case_id,
                        e.employee_id,
                        e.actor,
                        e.recorded_at,
                        payload.decode(),
                        e.previous_hash,
                        e.hash,
                        e.body,
                    )
                )


def _best(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def _sha(bodies: list[bytes]) -> None:
    for body in bodies:
        hashlib.sha256(body).hexdigest()


def _read(url: str) -> None:
    with psycopg.connect(url) as conn, conn.cursor(name="raw") as cur:
        cur.itersize = 5_000
        cur.execute(
            sql.SQL("SELECT * FROM {} ORDER BY sequence").format(
                sql.Identifier(SCHEMA, "decision_log")
            )
        )
        for _ in cur:
            pass


def _verified(entries: Iterable[LogEntry], check_columns: bool, expected: int) -> None:
    result = verify(entries, check_columns=check_columns)
    if not result.ok or result.entries != expected:
        raise RuntimeError(f"the benchmark's own chain does not verify: {result.failure}")


async def run(database_url: str, console: Console, sizes: DecisionLogSizes) -> str:
    migrate(database_url, SCHEMA, MIGRATIONS)
    log = DecisionLog(SCHEMA)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("building the chain", total=sizes.entries)
        began = time.perf_counter()
        chain = build(sizes.entries, lambda n: progress.advance(task, n))
        built = time.perf_counter() - began
    began = time.perf_counter()
    store(database_url, chain)
    stored = time.perf_counter() - began
    bodies = [e.body for e in chain if e.body is not None]
    size = sum(len(b) for b in bodies)
    n, r = sizes.entries, sizes.repeats
    console.print(f"decision log: {n:,} entries built in {built:.1f} s, stored in {stored:.1f} s")

    sha = _best(lambda: _sha(bodies), r)
    memory = _best(lambda: _verified(chain, False, n), r)
    read = _best(lambda: _read(database_url), r)
    streamed = _best(lambda: _verified(log.entries(database_url), False, n), r)
    sample = chain[: sizes.sample]
    columns_checked = _best(lambda: _verified(sample, True, sizes.sample), r)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)))

    def rate(count: int, seconds: float) -> str:
        return f"{count / seconds:,.0f}"

    rows = [
        ("plain `hashlib.sha256(body).hexdigest()`, in memory (baseline)", sha, n),
        ("`verify(check_columns=False)`, in memory", memory, n),
        ("plain psycopg read of the rows, server-side cursor (baseline)", read, n),
        ("`verify(check_columns=False)` streamed by `DecisionLog.entries`", streamed, n),
        ("`verify(check_columns=True)`, in memory (sample)", columns_checked, sizes.sample),
    ]
    lines = [
        "## 5. Decision log: verifying the chain",
        "",
        f"{n:,} entries of {size / n:,.0f} bytes on average (readiness evaluations with 10 "
        f"scores), built with `next_entry` in {built:.1f} s and stored with COPY in "
        f"{stored:.1f} s. Best of {r} runs each.",
        "",
        "| What | Entries | Seconds | Entries/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {what} | {count:,} | {s:.2f} | **{rate(count, s)}** |" for what, s, count in rows]
    lines += [
        "",
        f"Ratio verify / SHA-256 in memory: **{sha / memory:.2f}** (target 0.5 or better). "
        f"Streamed from PostgreSQL: **{sha / streamed:.2f}** of the hashing rate, "
        f"{read / streamed:.2f} of the plain read's. Checking every column against the "
        f"body: {(sizes.sample / columns_checked) / (n / memory):.3f} of the chain-only rate.",
    ]
    return "\n".join(lines)
