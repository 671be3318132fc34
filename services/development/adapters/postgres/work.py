"""The development service's unit of work on PostgreSQL: every port a use case needs
(services/development/application/ports.py), bound to one connection and its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from libs.events.store import EventStore, StoreTransaction
from libs.events.work import PostgresUnitOfWork
from libs.replicas.framework_versions import BoundFrameworkVersions, FrameworkVersions
from libs.replicas.org_chart import BoundOrgChart, OrgChart
from services.development.adapters.postgres.records import DevelopmentRecords


@dataclass(frozen=True)
class PostgresWork:
    records: DevelopmentRecords
    org_chart: BoundOrgChart
    frameworks: BoundFrameworkVersions
    events: StoreTransaction


class Database(PostgresUnitOfWork[PostgresWork]):
    """The `UnitOfWork` port: the service's schema, its replicas and its event log."""

    def __init__(self, store: EventStore, chart: OrgChart, replica: FrameworkVersions) -> None:
        super().__init__(store)
        self.chart = chart
        self.replica = replica

    def bind(self, conn: AsyncConnection[Any]) -> PostgresWork:
        return PostgresWork(
            DevelopmentRecords(conn, self.store.schema),
            self.chart.on(conn),
            self.replica.on(conn),
            StoreTransaction(self.store, conn),
        )
