"""The assessment service's unit of work on PostgreSQL: every port a use case needs
(services/assessment/application/ports.py), bound to one connection and its transaction,
with the campaign's lock held on that transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from libs.events.store import EventStore, StoreTransaction
from libs.events.work import PostgresUnitOfWork
from libs.replicas.framework_versions import BoundFrameworkVersions, FrameworkVersions
from libs.replicas.org_chart import BoundOrgChart, OrgChart
from services.assessment.adapters.postgres.campaign_records import CampaignRecords, CampaignTables
from services.assessment.application.campaigns import stream_of

_HOLD_SHARED = "SELECT pg_advisory_xact_lock_shared(hashtextextended(%s, 0))"
_HOLD = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


@dataclass(frozen=True)
class PostgresWork:
    events: StoreTransaction
    records: CampaignRecords
    org_chart: BoundOrgChart
    frameworks: BoundFrameworkVersions

    async def hold_campaign(self, campaign_id: str, *, exclusive: bool) -> None:
        # Keyed by the campaign's stream: one key per campaign, whatever holds it.
        await self.events.conn.execute(
            _HOLD if exclusive else _HOLD_SHARED, (stream_of(campaign_id),)
        )


class Database(PostgresUnitOfWork[PostgresWork]):
    """The `UnitOfWork` port: the service's event log, campaign records and replicas."""

    def __init__(
        self,
        store: EventStore,
        chart: OrgChart,
        replica: FrameworkVersions,
        tables: CampaignTables,
    ) -> None:
        super().__init__(store)
        self.chart = chart
        self.replica = replica
        self.tables = tables

    def bind(self, conn: AsyncConnection[Any]) -> PostgresWork:
        return PostgresWork(
            StoreTransaction(self.store, conn),
            CampaignRecords(self.tables, conn),
            self.chart.on(conn),
            self.replica.on(conn),
        )
