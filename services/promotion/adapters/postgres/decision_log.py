"""The decision log in PostgreSQL: appended in the transaction of the step it records,
read back in order for verification, audit queries and exports."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.promotion.domain.decision_log import (
    EntryKind,
    LogEntry,
    PersonalText,
    TamperedEntry,
    next_entry,
    parse_body,
)

_COLUMNS = (
    "sequence, entry_id, kind, case_id, employee_id, actor, recorded_at, payload, "
    "previous_hash, hash, body"
)
# Each entry with the personal text held beside it (docs/privacy.md): `d` is the log.
_WITH_PERSONAL = (
    "SELECT d.sequence, d.entry_id, d.kind, d.case_id, d.employee_id, d.actor, "
    "d.recorded_at, d.payload, d.previous_hash, d.hash, d.body, p.fields, p.salts, p.texts "
    "FROM {} d LEFT JOIN LATERAL (SELECT array_agg(field) AS fields, array_agg(salt) AS salts, "
    "array_agg(text) AS texts FROM {} WHERE entry_id = d.entry_id) p ON true "
)
# Entries read per round trip when streaming the whole log.
FETCH = 5_000


class DecisionLog:
    def __init__(self, schema: str) -> None:
        table = sql.Identifier(schema, "decision_log")
        self._lock = sql.SQL("SELECT pg_advisory_xact_lock(hashtextextended({}, 0))").format(
            sql.Literal(f"{schema}.decision_log")
        )
        self._head = sql.SQL("SELECT {} FROM {} ORDER BY sequence DESC LIMIT 1").format(
            sql.SQL(_COLUMNS), table
        )
        self._insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table, sql.SQL(_COLUMNS), sql.SQL(", ".join(["%s"] * 11))
        )
        personal = sql.Identifier(schema, "decision_log_personal")
        self._all = sql.SQL("SELECT {} FROM {} ORDER BY sequence").format(sql.SQL(_COLUMNS), table)
        self._count = sql.SQL("SELECT count(*) FROM {}").format(table)
        select = sql.SQL(_WITH_PERSONAL).format(table, personal)
        self._all_with_personal = select + sql.SQL("ORDER BY d.sequence")
        self._where = {
            "case": select + sql.SQL("WHERE d.case_id = %s ORDER BY d.sequence"),
            "employee": select + sql.SQL("WHERE d.employee_id = %s ORDER BY d.sequence"),
            # A cycle's cases are those nominated for it; then every entry of theirs.
            "cycle": select
            + sql.SQL(
                "WHERE d.case_id IN (SELECT case_id FROM {} WHERE kind = 'nomination' "
                "AND payload->>'cycle_id' = %s) ORDER BY d.sequence"
            ).format(table),
            "decisions": select
            + sql.SQL("WHERE d.kind IN ('decision', 'appeal_outcome') ORDER BY d.sequence"),
            "hold": select
            + sql.SQL(
                "WHERE d.kind IN ('legal_hold', 'legal_hold_lifted') "
                "AND d.payload->>'hold_id' = %s ORDER BY d.sequence"
            ),
            "actor": select + sql.SQL("WHERE d.actor = %s ORDER BY d.sequence"),
        }
        self._hold = sql.SQL("INSERT INTO {} (entry_id, field, salt, text) VALUES ").format(
            personal
        )
        self._erase = sql.SQL("SELECT {}(%s)").format(
            sql.Identifier(schema, "erase_decision_log_personal")
        )

    def on(self, conn: AsyncConnection[Any]) -> BoundDecisionLog:
        """The log read and appended through `conn`, in its transaction."""
        return BoundDecisionLog(self, conn)

    def count(self, conninfo: str) -> int:
        """How many entries the log holds."""
        with psycopg.connect(conninfo) as conn:
            row = conn.execute(self._count).fetchone()
        return row[0] if row else 0

    def entries(self, conninfo: str) -> Iterator[LogEntry]:
        """Every entry in sequence order with the personal text held beside it, streamed
        through a server-side cursor."""
        with (
            psycopg.connect(conninfo) as conn,
            conn.cursor(name="decision_log_stream", row_factory=dict_row) as cur,
        ):
            cur.itersize = FETCH
            cur.execute(self._all_with_personal)
            for row in cur:
                yield _entry(row)


@dataclass(frozen=True)
class BoundDecisionLog:
    """The `DecisionLogEntries` port: the log on one connection, in its transaction."""

    log: DecisionLog
    conn: AsyncConnection[Any]

    async def lock(self) -> None:
        """Hold the log's append lock until the transaction ends: a command that reads a
        case, checks it and appends to it must not interleave with another on that case."""
        await self.conn.execute(self.log._lock)

    async def _select(self, which: str, *params: Any) -> list[LogEntry]:
        """The entries a query finds, each read from its hash-checked body: the columns only
        select rows. A row whose body says it does not belong to what was asked for had a
        selecting column edited: refused like an edited body."""
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self.log._where[which], params)
            return [replace(_checked(row), personal=_personal(row)) for row in await cur.fetchall()]

    async def of_case(self, case_id: str) -> list[LogEntry]:
        return _belonging(await self._select("case", case_id), "case_id", case_id)

    async def of_employee(self, employee_id: str) -> list[LogEntry]:
        found = await self._select("employee", employee_id)
        return _belonging(found, "employee_id", employee_id)

    async def of_cycle(self, cycle_id: str) -> list[LogEntry]:
        found = await self._select("cycle", cycle_id)
        nominated = {e.case_id for e in found if e.kind == "nomination"}
        for entry in found:
            if entry.case_id not in nominated or (
                entry.kind == "nomination" and entry.payload.get("cycle_id") != cycle_id
            ):
                raise _moved(entry, "cycle_id", cycle_id)
        return found

    async def decisions(self) -> list[LogEntry]:
        """Every decision and appeal outcome, in order."""
        found = await self._select("decisions")
        for entry in found:
            if entry.kind not in ("decision", "appeal_outcome"):
                raise _moved(entry, "kind", "decision")
        return found

    async def of_hold(self, hold_id: str) -> list[LogEntry]:
        found = await self._select("hold", hold_id)
        for entry in found:
            if entry.kind not in ("legal_hold", "legal_hold_lifted"):
                raise _moved(entry, "kind", "legal_hold")
            if entry.payload.get("hold_id") != hold_id:
                raise _moved(entry, "hold_id", hold_id)
        return found

    async def by_actor(self, subject: str) -> list[LogEntry]:
        return _belonging(await self._select("actor", subject), "actor", subject)

    async def append(
        self,
        *,
        kind: EntryKind,
        case_id: str,
        employee_id: str,
        actor: str,
        recorded_at: datetime,
        payload: Mapping[str, Any],
        personal: Mapping[str, PersonalText] | None = None,
    ) -> LogEntry:
        """Append one entry after the current head, in the caller's transaction, and hold
        `personal` (the text its payload commits to) beside it.

        Appends are serialised (an advisory lock until commit): a chain has one head, and two
        entries claiming the same predecessor would fork it.
        """
        await self.lock()
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self.log._head)
            row = await cur.fetchone()
        previous = _checked(row) if row else None
        entry = next_entry(
            previous,
            kind=kind,
            case_id=case_id,
            employee_id=employee_id,
            actor=actor,
            recorded_at=recorded_at,
            payload=payload,
        )
        assert entry.body is not None
        await self.conn.execute(
            self.log._insert,
            (
                entry.sequence,
                entry.entry_id,
                entry.kind,
                entry.case_id,
                entry.employee_id,
                entry.actor,
                entry.recorded_at,
                # From the body, so the column says exactly what was hashed.
                Jsonb(parse_body(entry.body)["payload"]),
                entry.previous_hash,
                entry.hash,
                entry.body,
            ),
        )
        held = dict(personal or {})
        if held:
            values = sql.SQL(", ").join([sql.SQL("(%s, %s, %s, %s)")] * len(held))
            params = [
                value
                for field, text in held.items()
                for value in (entry.entry_id, field, text.salt, text.text)
            ]
            await self.conn.execute(self.log._hold + values, params)
        return replace(entry, personal=held)

    async def erase(self, erasure: LogEntry) -> int:
        """Remove the personal text the erasure entry names, through the schema's function
        (the service's role holds no DELETE)."""
        cur = await self.conn.execute(self.log._erase, (erasure.entry_id,))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def batches(self) -> AsyncGenerator[list[LogEntry], None]:
        """Every entry in sequence order, `FETCH` at a time, through a server-side cursor
        (so inside the caller's transaction)."""
        async with self.conn.cursor(name="decision_log_batches", row_factory=dict_row) as cur:
            await cur.execute(self.log._all)
            while rows := await cur.fetchmany(FETCH):
                yield [_entry(row) for row in rows]


def _entry(row: Mapping[str, Any]) -> LogEntry:
    return LogEntry(
        sequence=row["sequence"],
        entry_id=row["entry_id"],
        kind=row["kind"],
        case_id=row["case_id"],
        employee_id=row["employee_id"],
        actor=row["actor"],
        recorded_at=row["recorded_at"],
        payload=row["payload"],
        previous_hash=row["previous_hash"],
        hash=row["hash"],
        body=bytes(row["body"]),
        personal=_personal(row) if "fields" in row else None,
    )


def _personal(row: Mapping[str, Any]) -> dict[str, PersonalText]:
    """The personal text a row was read with, by field."""
    if row["fields"] is None:
        return {}
    return {
        field: PersonalText(bytes(salt), text)
        for field, salt, text in zip(row["fields"], row["salts"], row["texts"], strict=True)
    }


def _checked(row: Mapping[str, Any]) -> LogEntry:
    return LogEntry.checked(row["sequence"], bytes(row["body"]), row["hash"])


def _belonging(entries: list[LogEntry], name: str, value: str) -> list[LogEntry]:
    for entry in entries:
        if getattr(entry, name) != value:
            raise _moved(entry, name, value)
    return entries


def _moved(entry: LogEntry, name: str, value: str) -> TamperedEntry:
    return TamperedEntry(
        f"decision-log entry {entry.sequence} was found for {name} {value!r} but records "
        f"another: a column was edited in the database; `talentledger audit verify` names it"
    )
