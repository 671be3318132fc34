"""The framework service's unit of work on PostgreSQL: its event log and read models
(services/framework/application/ports.py), bound to one connection and its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from libs.events.store import StoreTransaction
from libs.events.work import PostgresUnitOfWork
from services.framework.adapters.postgres.anchor_reviews import AnchorReviews
from services.framework.adapters.postgres.calibration_findings import CalibrationFindings
from services.framework.adapters.postgres.changes import FrameworkChanges
from services.framework.adapters.postgres.published_versions import PublishedVersions


@dataclass(frozen=True)
class PostgresWork:
    events: StoreTransaction
    versions: PublishedVersions
    anchor_reviews: AnchorReviews
    changes: FrameworkChanges
    findings: CalibrationFindings


class Database(PostgresUnitOfWork[PostgresWork]):
    """The `UnitOfWork` port: the service's event log and the read models in its schema."""

    def bind(self, conn: AsyncConnection[Any]) -> PostgresWork:
        schema = self.store.schema
        return PostgresWork(
            StoreTransaction(self.store, conn),
            PublishedVersions(conn, schema),
            AnchorReviews(conn, schema),
            FrameworkChanges(conn, schema),
            CalibrationFindings(conn, schema),
        )
