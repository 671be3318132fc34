"""The assessment service's HTTP API in-process, on a real PostgreSQL, with real tokens.

The org chart and the framework replica are seeded by calling their event handlers with the
events HRIS and the framework service publish, as the consumers would.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from libs.events.envelope import Envelope
from libs.events.migrations import migrate
from libs.events.registry import IntegrationEvent
from libs.events.schemas.framework import (
    Framework,
    FrameworkPublished,
    RoleProfileChanged,
    TrackKind,
)
from libs.events.schemas.hris import EmployeeHired
from libs.events.store import EventStore
from libs.platform.auth import TokenVerifier, ensure_dev_keypair, mint_token
from libs.platform.runtime import Runtime
from libs.platform.settings import Settings
from libs.replicas.framework_versions import MIGRATIONS as REPLICA_MIGRATIONS
from libs.replicas.framework_versions import FrameworkVersions
from services.assessment.adapters.postgres.org_chart import MIGRATIONS, OrgChart
from services.assessment.service import build
from services.framework.domain.profiles import effective_profiles

SCHEMA = "assessment"


def envelope(event: IntegrationEvent, stream_id: str, version: int = 1) -> Envelope:
    now = datetime.now(UTC)
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=event.event_type,
        schema_version=event.schema_version,
        source=event.context,
        stream_id=stream_id,
        stream_version=version,
        global_position=0,
        occurred_at=now,
        recorded_at=now,
        actor="tests",
        correlation_id=uuid.uuid4(),
        payload=event.model_dump(mode="json"),
    )


class AssessmentApi:
    """An HTTP client for the service, tokens for any subject, and seeding of its read models."""

    def __init__(self, client: httpx.AsyncClient, private_key: Path, store: EventStore) -> None:
        self.client = client
        self.private_key = private_key
        self.store = store

    def as_(self, sub: str, *roles: str) -> dict[str, str]:
        settings = Settings()
        token = mint_token(
            self.private_key,
            sub,
            list(roles),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def hr(self) -> dict[str, str]:
        return self.as_("hannah-hr", "hr_admin")

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """Send as HR unless headers are given; assert the status; return the JSON body."""
        kwargs.setdefault("headers", self.hr)
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json()

    async def hire(self, *people: EmployeeHired) -> None:
        org_chart = OrgChart(SCHEMA)
        async with self.store.transaction() as conn:
            for person in people:
                await org_chart.hired(
                    conn, envelope(person, f"employee-{person.employee_id}"), person
                )

    async def publish(self, framework_id: str, version: int, framework: Framework) -> None:
        """What the framework service's FrameworkPublished and RoleProfileChanged deliver."""
        replica = FrameworkVersions(SCHEMA)
        stream = f"framework-{framework_id}"
        published = FrameworkPublished(
            framework_id=framework_id,
            version=version,
            revision="initial" if version == 1 else "minor",
            published_at=datetime.now(UTC),
            framework=framework,
        )
        async with self.store.transaction() as conn:
            await replica.apply(conn, envelope(published, stream), published)
            for role in effective_profiles(framework).values():
                changed = RoleProfileChanged(
                    framework_id=framework_id, version=version, change="added", role=role
                )
                await replica.apply_role(conn, envelope(changed, stream), changed)


def hired(
    employee_id: str,
    manager_id: str | None,
    track: TrackKind,
    level: str,
    department: str = "Platform",
) -> EmployeeHired:
    return EmployeeHired(
        employee_id=employee_id,
        effective_on=date(2024, 1, 2),
        name=f"Person {employee_id}",
        department=department,
        job_family="eng",
        track=track,
        level=level,
        manager_id=manager_id,
    )


@asynccontextmanager
async def assessment_api(database_url: str, keys_dir: Path) -> AsyncIterator[AssessmentApi]:
    migrate(database_url, SCHEMA, REPLICA_MIGRATIONS, MIGRATIONS)
    private, public = ensure_dev_keypair(keys_dir)
    settings = Settings.model_validate({"TALENTLEDGER_JWT_PUBLIC_KEY_FILE": public})
    async with AsyncConnectionPool(database_url, min_size=1, max_size=8, open=False) as pool:
        store = EventStore(pool, SCHEMA)
        # The HTTP API uses neither the broker nor Temporal.
        runtime = Runtime(SCHEMA, settings, pool, store, broker=None, temporal=None)  # type: ignore[arg-type]
        api = build(runtime).api
        api.state.runtime = runtime
        api.state.token_verifier = TokenVerifier(settings)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://assessment") as client:
            yield AssessmentApi(client, private, store)
        await store.close()
