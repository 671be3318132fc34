"""The application's storage ports on PostgreSQL: the event store, the campaign records and
the org chart and framework replicas, all on one connection per unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection

from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.store import EventStore
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import OrgChart
from libs.replicas.people import Person
from services.assessment.adapters.postgres.campaign_records import CampaignRecords, CampaignTables
from services.assessment.application.campaigns import stream_of

_HOLD_SHARED = "SELECT pg_advisory_xact_lock_shared(hashtextextended(%s, 0))"
_HOLD = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


class PostgresStorage:
    """The application's `Storage`: the event store on its own, and units of work each on a
    pooled connection."""

    def __init__(
        self,
        store: EventStore,
        org_chart: OrgChart,
        frameworks: FrameworkVersions,
        tables: CampaignTables,
    ) -> None:
        self.store = store
        self.org_chart = org_chart
        self.frameworks = frameworks
        self.tables = tables

    @property
    def events(self) -> EventStore:
        return self.store

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Work]:
        async with self.store.pool.connection() as conn:
            yield Work(self, conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Work]:
        # The store's transaction, so that its commit is announced to the relay.
        async with self.store.transaction() as conn:
            yield Work(self, conn)


class Work:
    """One unit of work: every port on the same connection."""

    def __init__(self, storage: PostgresStorage, conn: AsyncConnection[Any]) -> None:
        self._conn = conn
        self.events = _Log(storage.store, conn)
        self.records = CampaignRecords(storage.tables, conn)
        self.org_chart = _OrgChart(storage.org_chart, conn)
        self.frameworks = _Frameworks(storage.frameworks, conn)

    async def hold_campaign(self, campaign_id: str, *, exclusive: bool) -> None:
        # Keyed by the campaign's stream: one key per campaign, whatever holds it.
        await self._conn.execute(_HOLD if exclusive else _HOLD_SHARED, (stream_of(campaign_id),))


class _Log:
    def __init__(self, store: EventStore, conn: AsyncConnection[Any]) -> None:
        self._store = store
        self._conn = conn

    async def read_stream(self, stream_id: str, *, after_version: int = 0) -> list[Envelope]:
        return await self._store.read_stream(
            stream_id, after_version=after_version, conn=self._conn
        )

    def decode(self, envelope: Envelope) -> IntegrationEvent:
        return self._store.decode(envelope)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[IntegrationEvent],
        metadata: EventMetadata,
    ) -> list[Envelope]:
        return await self._store.append(
            stream_id, expected_version, events, metadata, conn=self._conn
        )

    async def last_version_of(self, stream_id: str, event_types: Sequence[str]) -> int:
        return await self._store.last_version_of(stream_id, event_types, conn=self._conn)


class _OrgChart:
    def __init__(self, org_chart: OrgChart, conn: AsyncConnection[Any]) -> None:
        self._org_chart = org_chart
        self._conn = conn

    async def person(self, employee_id: str) -> Person | None:
        return await self._org_chart.person(self._conn, employee_id)

    async def everyone(self) -> list[Person]:
        return await self._org_chart.everyone(self._conn)

    async def around(self, subject: str, also: Iterable[str] = ()) -> list[Person]:
        return await self._org_chart.around(self._conn, subject, also)


class _Frameworks:
    def __init__(self, frameworks: FrameworkVersions, conn: AsyncConnection[Any]) -> None:
        self._frameworks = frameworks
        self._conn = conn

    async def framework(self, framework_id: str, version: int) -> Framework | None:
        return await self._frameworks.framework(self._conn, framework_id, version)

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None:
        return await self._frameworks.role_profile(self._conn, framework_id, version, position)
