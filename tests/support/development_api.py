"""The development service in-process on PostgreSQL, seeded for its integration tests:
framework eng v1 and an org chart where a manager leads Ann, Ben and Cat (Platform) and
another the expert (Insights)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from services.development.adapters.postgres import MIGRATIONS
from services.development.adapters.postgres.work import Database
from services.development.service import build
from tests.support.calibrations import ANN, BEN, CAT, EXPERT
from tests.support.replica_seeding import hire, hired, publish
from tests.support.sample_frameworks import valid_framework
from tests.support.service_api import ServiceApi, in_process

SCHEMA = "development"
MANAGER, OTHER_MANAGER = "emp-lead", "emp-other"


@asynccontextmanager
async def development_api(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[ServiceApi, Database]]:
    """The service's API, and its unit of work for delivering events as its consumers do."""
    migrations = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, MIGRATIONS]
    async with in_process(ServiceApi, build, SCHEMA, migrations, database_url, tmp_path) as api:
        await publish(api.store, "eng", 1, valid_framework())
        await hire(
            api.store,
            hired(MANAGER, None, "manager", "M2"),
            *(hired(e, MANAGER, "ic", "L3") for e in (ANN, BEN, CAT)),
            hired(OTHER_MANAGER, None, "manager", "M2", department="Insights"),
            hired(EXPERT, OTHER_MANAGER, "ic", "L3", department="Insights"),
        )
        yield api, Database(api.store, OrgChart(SCHEMA), FrameworkVersions(SCHEMA))
