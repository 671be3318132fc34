"""The development service's unit of work on PostgreSQL: every port a use case needs
(services/development/application/ports.py), bound to one connection and its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.store import EventStore, StoreTransaction
from libs.events.work import PostgresUnitOfWork
from libs.replicas import framework_versions, org_chart
from libs.replicas.people import Person
from services.development.adapters.postgres.records import DevelopmentRecords


@dataclass(frozen=True)
class BoundOrgChart:
    chart: org_chart.OrgChart
    conn: AsyncConnection[Any]

    async def person(self, employee_id: str) -> Person | None:
        return await self.chart.person(self.conn, employee_id)

    async def everyone(self) -> list[Person]:
        return await self.chart.everyone(self.conn)

    async def managers_of(self, employee_id: str) -> list[str]:
        return await self.chart.managers_of(self.conn, employee_id)


@dataclass(frozen=True)
class BoundFrameworkVersions:
    replica: framework_versions.FrameworkVersions
    conn: AsyncConnection[Any]

    async def framework(self, framework_id: str, version: int) -> Framework | None:
        return await self.replica.framework(self.conn, framework_id, version)

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None:
        return await self.replica.role_profile(self.conn, framework_id, version, position)


@dataclass(frozen=True)
class PostgresWork:
    records: DevelopmentRecords
    org_chart: BoundOrgChart
    frameworks: BoundFrameworkVersions
    events: StoreTransaction


class Database(PostgresUnitOfWork[PostgresWork]):
    """The `UnitOfWork` port: the service's schema, its replicas and its event log."""

    def __init__(
        self,
        store: EventStore,
        chart: org_chart.OrgChart,
        replica: framework_versions.FrameworkVersions,
    ) -> None:
        super().__init__(store)
        self.chart = chart
        self.replica = replica

    def bind(self, conn: AsyncConnection[Any]) -> PostgresWork:
        return PostgresWork(
            DevelopmentRecords(conn, self.store.schema),
            BoundOrgChart(self.chart, conn),
            BoundFrameworkVersions(self.replica, conn),
            StoreTransaction(self.store, conn),
        )
