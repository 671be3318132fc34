"""The promotion use cases' ports on PostgreSQL: every port of one `Transaction` works
through one connection, in one database transaction (docs/architecture.md §3: the log entry
and the integration event commit together)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.events.store import EventStore
from libs.replicas.framework_versions import FrameworkVersions, KnownFrameworkVersion
from libs.replicas.org_chart import OrgChart
from libs.replicas.people import Person
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.adapters.postgres.records import PromotionRecords
from services.promotion.application.ports import Calibrated, PublishedCriteria, Transaction
from services.promotion.domain.criteria import CriteriaSet
from services.promotion.domain.decision_log import EntryKind, LogEntry

# A use case reacting to a consumed event (`services.promotion.application.reactions`).
Reaction = Callable[[Transaction, Envelope, Any], Awaitable[None]]

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))"
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended({}, 0))"


class PostgresUnitOfWork:
    """The ports of the service in `schema`, through the event store's pool."""

    def __init__(self, store: EventStore, schema: str) -> None:
        self.store = store
        self.schema = schema
        self.log = DecisionLog(schema)
        self.records = PromotionRecords(schema)
        self.org_chart = OrgChart(schema)
        self.frameworks = FrameworkVersions(schema)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        async with self.store.pool.connection() as conn, conn.transaction():
            tx = self.on(conn)
            yield tx
        if tx.events.published:
            # As `EventStore.transaction` does: the relay hears of the commit at once.
            self.store.notifier.poke()

    def on(self, conn: AsyncConnection[Any]) -> PostgresTransaction:
        """The ports within a transaction the caller holds (an event consumer's)."""
        return PostgresTransaction(self, conn)

    def within(
        self, reaction: Reaction
    ) -> Callable[[AsyncConnection[Any], Envelope, Any], Awaitable[None]]:
        """An event consumer's effect (`EventHandler.apply`): the reaction, in the transaction
        that records the event in the inbox."""

        async def apply(conn: AsyncConnection[Any], envelope: Envelope, event: Any) -> None:
            await reaction(self.on(conn), envelope, event)

        return apply


class PostgresTransaction:
    def __init__(self, uow: PostgresUnitOfWork, conn: AsyncConnection[Any]) -> None:
        self.conn = conn
        self.schema = uow.schema
        self.log = _Log(uow.log, conn)
        self.records = _Records(uow.records, conn)
        self.org_chart = _OrgChart(uow.org_chart, conn)
        self.frameworks = _Frameworks(uow.frameworks, conn)
        self.events = _Events(uow.store, conn)

    async def lock(self, name: str) -> None:
        await self.conn.execute(sql.SQL(_LOCK).format(sql.Literal(f"{self.schema}.{name}")))

    async def try_lock(self, name: str) -> bool:
        cur = await self.conn.execute(
            sql.SQL(_TRY_LOCK).format(sql.Literal(f"{self.schema}.{name}"))
        )
        row = await cur.fetchone()
        return bool(row and row[0])


class _Log:
    def __init__(self, log: DecisionLog, conn: AsyncConnection[Any]) -> None:
        self._log, self._conn = log, conn

    async def lock(self) -> None:
        await self._log.lock(self._conn)

    async def of_case(self, case_id: str) -> list[LogEntry]:
        return await self._log.of_case(self._conn, case_id)

    async def of_employee(self, employee_id: str) -> list[LogEntry]:
        return await self._log.of_employee(self._conn, employee_id)

    async def of_cycle(self, cycle_id: str) -> list[LogEntry]:
        return await self._log.of_cycle(self._conn, cycle_id)

    async def decisions(self) -> list[LogEntry]:
        return await self._log.decisions(self._conn)

    async def append(
        self,
        *,
        kind: EntryKind,
        case_id: str,
        employee_id: str,
        actor: str,
        recorded_at: datetime,
        payload: Mapping[str, Any],
    ) -> LogEntry:
        return await self._log.append(
            self._conn,
            kind=kind,
            case_id=case_id,
            employee_id=employee_id,
            actor=actor,
            recorded_at=recorded_at,
            payload=payload,
        )

    def batches(self) -> AsyncGenerator[list[LogEntry], None]:
        return self._log.batches(self._conn)


class _Records:
    def __init__(self, records: PromotionRecords, conn: AsyncConnection[Any]) -> None:
        self._records, self._conn = records, conn

    async def record_calibration(self, event: CalibrationCompleted, at: datetime) -> bool:
        return await self._records.record_calibration(self._conn, event, at)

    async def latest_calibration(
        self, employee_id: str, framework_id: str | None = None
    ) -> Calibrated | None:
        return await self._records.latest_calibration(self._conn, employee_id, framework_id)

    async def calibration_of(self, session_id: str, employee_id: str) -> Calibrated | None:
        return await self._records.calibration_of(self._conn, session_id, employee_id)

    async def criteria(self, version: int | None = None) -> PublishedCriteria | None:
        return await self._records.criteria(self._conn, version)

    async def publish_criteria(self, draft: dict[str, Any], by: str, at: datetime) -> CriteriaSet:
        return await self._records.publish_criteria(self._conn, draft, by, at)

    async def record_attribute(self, envelope: Envelope, event: ProtectedAttributeRecorded) -> None:
        await self._records.record_attribute(self._conn, envelope, event)

    async def attribute(self, attribute: str) -> dict[str, str | None]:
        return await self._records.attribute(self._conn, attribute)


class _OrgChart:
    def __init__(self, org_chart: OrgChart, conn: AsyncConnection[Any]) -> None:
        self._org_chart, self._conn = org_chart, conn

    async def person(self, employee_id: str) -> Person | None:
        return await self._org_chart.person(self._conn, employee_id)

    async def managers_of(self, employee_id: str) -> list[str]:
        return await self._org_chart.managers_of(self._conn, employee_id)


class _Frameworks:
    def __init__(self, frameworks: FrameworkVersions, conn: AsyncConnection[Any]) -> None:
        self._frameworks, self._conn = frameworks, conn

    async def framework(self, framework_id: str, version: int) -> Framework | None:
        return await self._frameworks.framework(self._conn, framework_id, version)

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None:
        return await self._frameworks.role_profile(self._conn, framework_id, version, position)

    async def all(self) -> list[KnownFrameworkVersion]:
        return await self._frameworks.all(self._conn)


class _Events:
    def __init__(self, store: EventStore, conn: AsyncConnection[Any]) -> None:
        self._store, self._conn = store, conn
        self.published = 0

    async def publish(
        self, stream: str, expected: int, event: IntegrationEvent, actor: str
    ) -> None:
        await self._store.append(
            stream, expected, [event], EventMetadata(actor=actor), conn=self._conn
        )
        self.published += 1
