"""The assessment service's HTTP API in-process, on a real PostgreSQL, with real tokens.

The org chart and the framework replica are seeded by calling their event handlers with the
events HRIS and the framework service publish, as the consumers would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from libs.events.schemas.framework import (
    Framework,
    FrameworkPublished,
    RoleProfileChanged,
    TrackKind,
)
from libs.events.schemas.hris import EmployeeHired
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from services.assessment.adapters.postgres import MIGRATIONS
from services.assessment.service import build
from services.framework.domain.profiles import effective_profiles
from tests.support.service_api import ServiceApi, envelope, in_process

SCHEMA = "assessment"


class AssessmentApi(ServiceApi):
    """The service's API, with seeding of its read models."""

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
    job_family: str = "eng",
) -> EmployeeHired:
    return EmployeeHired(
        employee_id=employee_id,
        effective_on=date(2024, 1, 2),
        name=f"Person {employee_id}",
        department=department,
        job_family=job_family,
        track=track,
        level=level,
        manager_id=manager_id,
    )


@asynccontextmanager
async def assessment_api(database_url: str, keys_dir: Path) -> AsyncIterator[AssessmentApi]:
    migrations = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, MIGRATIONS]
    async with in_process(AssessmentApi, build, SCHEMA, migrations, database_url, keys_dir) as api:
        yield api
