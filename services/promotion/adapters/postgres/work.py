"""The promotion service's unit of work on PostgreSQL: every port a use case needs
(services/promotion/application/ports.py), bound to one connection and its transaction, so
that a step's log entry and its integration event commit together (docs/architecture.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from libs.events.store import EventStore, StoreTransaction
from libs.events.work import PostgresUnitOfWork
from libs.privacy.requests import KnownErasures
from libs.replicas.framework_versions import BoundFrameworkVersions, FrameworkVersions
from libs.replicas.org_chart import BoundOrgChart, OrgChart
from services.promotion.adapters.postgres.decision_log import BoundDecisionLog, DecisionLog
from services.promotion.adapters.postgres.records import PromotionRecords

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))"
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended({}, 0))"


@dataclass(frozen=True)
class BoundErasures:
    """The `ErasureRequests` port: the service's replica of them, on the transaction."""

    requests: KnownErasures
    conn: AsyncConnection[Any]

    async def ended(self, request_ref: str) -> bool:
        known = await self.requests.known(self.conn, request_ref)
        return known is not None and known.outcome is not None


@dataclass(frozen=True)
class PostgresWork:
    log: BoundDecisionLog
    records: PromotionRecords
    org_chart: BoundOrgChart
    frameworks: BoundFrameworkVersions
    erasures: BoundErasures
    events: StoreTransaction

    async def lock(self, name: str) -> None:
        await self.events.conn.execute(sql.SQL(_LOCK).format(self._key(name)))

    async def try_lock(self, name: str) -> bool:
        cur = await self.events.conn.execute(sql.SQL(_TRY_LOCK).format(self._key(name)))
        row = await cur.fetchone()
        return bool(row and row[0])

    def _key(self, name: str) -> sql.Literal:
        # Service-wide: keyed by the schema, so that two services' locks never collide.
        return sql.Literal(f"{self.events.store.schema}.{name}")


class Database(PostgresUnitOfWork[PostgresWork]):
    """The `UnitOfWork` port: the decision log, the read models and replicas in the
    service's schema, and its event log."""

    def __init__(self, store: EventStore) -> None:
        super().__init__(store)
        schema = store.schema
        self.log = DecisionLog(schema)
        self.org_chart = OrgChart(schema)
        self.frameworks = FrameworkVersions(schema)
        self.erasures = KnownErasures(schema)

    def bind(self, conn: AsyncConnection[Any]) -> PostgresWork:
        return PostgresWork(
            self.log.on(conn),
            PromotionRecords(conn, self.store.schema),
            self.org_chart.on(conn),
            self.frameworks.on(conn),
            BoundErasures(self.erasures, conn),
            StoreTransaction(self.store, conn),
        )
