"""Which framework versions have been published, kept from `FrameworkPublished` events.

Consumers pin their work (campaigns, gaps, criteria) to a version they hold; a cycle starts
only once every service confirms it holds the version (`confirm_framework` activity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from psycopg import AsyncConnection, sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.events.consumer import EventHandler
from libs.events.envelope import Envelope
from libs.events.schemas.framework import (
    EffectiveRoleProfile,
    Framework,
    FrameworkPublished,
    RoleProfileChanged,
)
from libs.platform.pagination import Page, Paged
from libs.platform.runtime import Runtime, ServiceParts
from libs.workflows.contracts import (
    confirm_framework,
)
from libs.workflows.messages import (
    FrameworkConfirmation,
    FrameworkRef,
)

MIGRATIONS = Path(__file__).parent / "migrations" / "framework_versions"


class KnownFrameworkVersion(BaseModel):
    framework_id: str
    version: int
    name: str
    revision: str
    published_at: datetime
    levels: int
    competencies: int


class FrameworkVersions:
    """The replica in one service's schema."""

    def __init__(self, service: str) -> None:
        self.service = service
        table = sql.Identifier(service, "framework_versions")
        self._insert = sql.SQL(
            "INSERT INTO {} (framework_id, version, name, revision, published_at, levels, "
            "competencies, event_id, framework, role_changes) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (framework_id, version) DO NOTHING"
        ).format(table)
        roles = sql.Identifier(service, "role_profiles")
        self._insert_role = sql.SQL(
            "INSERT INTO {} (framework_id, role, version, change, family, track, level, "
            "profile, event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (framework_id, role, version) DO NOTHING"
        ).format(roles)
        self._role_at = sql.SQL(
            "SELECT change, profile FROM {} WHERE framework_id = %s AND family = %s "
            "AND track = %s AND level = %s AND version <= %s "
            # a role renamed in a version is removed and added there: the addition wins
            "ORDER BY version DESC, change = 'removed' LIMIT 1"
        ).format(roles)
        # Role profiles travel as events of their own, on another durable: a version is held
        # whole only once every change it announced has arrived, and only then is it read.
        whole = sql.SQL(
            "(f.role_changes IS NULL OR f.role_changes <= (SELECT count(*) FROM {} r "
            "WHERE r.framework_id = f.framework_id AND r.version = f.version))"
        ).format(roles)
        self._document = sql.SQL(
            "SELECT framework FROM {} f WHERE framework_id = %s AND version = %s AND {}"
        ).format(table, whole)
        self._select = sql.SQL(
            "SELECT framework_id, version, name, revision, published_at, levels, competencies "
            "FROM {} ORDER BY framework_id, version"
        ).format(table)
        # The version asked for (the latest when none), and whether it is held whole.
        self._select_one = sql.SQL(
            "SELECT version, {} FROM {} f "
            "WHERE framework_id = %s AND (%s::int IS NULL OR version = %s) "
            "ORDER BY version DESC LIMIT 1"
        ).format(whole, table)

    async def apply(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: FrameworkPublished
    ) -> None:
        await conn.execute(
            self._insert,
            (
                event.framework_id,
                event.version,
                event.framework.name,
                event.revision,
                event.published_at,
                sum(len(t.levels) for f in event.framework.families for t in f.tracks),
                len(event.framework.competencies),
                envelope.event_id,
                Jsonb(event.framework.model_dump(mode="json")),
                event.role_changes,
            ),
        )

    async def apply_role(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: RoleProfileChanged
    ) -> None:
        role = event.role
        await conn.execute(
            self._insert_role,
            (
                event.framework_id,
                role.key,
                event.version,
                event.change,
                role.family,
                role.track,
                role.level,
                Jsonb(role.model_dump(mode="json")),
                envelope.event_id,
            ),
        )

    def handlers(self) -> list[EventHandler]:
        return [
            EventHandler(self.service, "framework-versions", FrameworkPublished, self.apply),
            EventHandler(self.service, "role-profiles", RoleProfileChanged, self.apply_role),
        ]

    async def framework(
        self, conn: AsyncConnection[Any], framework_id: str, version: int
    ) -> Framework | None:
        """The framework exactly as that version published it, once this replica holds the
        version whole (every role profile change it announced arrived); None until then."""
        row = await (await conn.execute(self._document, (framework_id, version))).fetchone()
        return Framework.model_validate(row[0]) if row and row[0] is not None else None

    async def role_profile(
        self,
        conn: AsyncConnection[Any],
        framework_id: str,
        version: int,
        position: tuple[str, str, str],
    ) -> EffectiveRoleProfile | None:
        """The effective role profile at a (family, track, level) as of that version."""
        family, track, level = position
        cur = await conn.execute(self._role_at, (framework_id, family, track, level, version))
        row = await cur.fetchone()
        if row is None or row[0] == "removed":
            return None
        return EffectiveRoleProfile.model_validate(row[1])

    def on(self, conn: AsyncConnection[Any]) -> BoundFrameworkVersions:
        """The replica read through `conn`, in its transaction (a unit of work's)."""
        return BoundFrameworkVersions(self, conn)

    async def all(self, conn: AsyncConnection[Any]) -> list[KnownFrameworkVersion]:
        async with conn.cursor(row_factory=class_row(KnownFrameworkVersion)) as cur:
            await cur.execute(self._select)
            return await cur.fetchall()

    async def holds(self, conn: AsyncConnection[Any], ref: FrameworkRef) -> int | None:
        """The version held whole (the framework and every role profile change it
        announced), or None."""
        cur = await conn.execute(self._select_one, (ref.framework_id, ref.version, ref.version))
        row = await cur.fetchone()
        return row[0] if row and row[1] else None

    def router(self) -> APIRouter:
        router = APIRouter(tags=["framework versions"])

        @router.get("/framework-versions", response_model=Page[KnownFrameworkVersion])
        async def known_versions(page: Paged, request: Request) -> Page[KnownFrameworkVersion]:
            """Framework versions this service has received."""
            async with request.app.state.runtime.pool.connection() as conn:
                known = await self.all(conn)
            return page.of(known, key=lambda v: (v.framework_id, v.version))

        return router

    def install(self, api: FastAPI, runtime: Runtime) -> ServiceParts:
        """Everything a service needs to keep and serve the replica."""
        api.include_router(self.router())
        return ServiceParts(
            api=api, handlers=self.handlers(), activities=[self.confirm_activity(runtime.pool)]
        )

    def confirm_activity(self, pool: AsyncConnectionPool) -> Callable[..., Any]:
        service = self.service

        @activity.defn(name=confirm_framework(service).name)
        async def confirm(ref: FrameworkRef) -> FrameworkConfirmation:
            """Retried by Temporal until the FrameworkPublished event has arrived here."""
            async with pool.connection() as conn:
                version = await self.holds(conn, ref)
            if version is None:
                raise ApplicationError(
                    f"{service} has not received framework {ref.framework_id!r} "
                    f"version {ref.version} and all its role profiles yet",
                    type="FrameworkNotReplicated",
                )
            return FrameworkConfirmation(
                service=service, framework_id=ref.framework_id, version=version
            )

        return confirm


@dataclass(frozen=True)
class BoundFrameworkVersions:
    """The replica's queries on one connection: the framework versions port a unit of work
    hands its use cases (docs/architecture.md §1, Inside a service)."""

    replica: FrameworkVersions
    conn: AsyncConnection[Any]

    async def framework(self, framework_id: str, version: int) -> Framework | None:
        return await self.replica.framework(self.conn, framework_id, version)

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None:
        return await self.replica.role_profile(self.conn, framework_id, version, position)

    async def all(self) -> list[KnownFrameworkVersion]:
        return await self.replica.all(self.conn)
