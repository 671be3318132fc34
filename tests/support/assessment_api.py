"""The assessment service's HTTP API in-process, on a real PostgreSQL, with real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.framework import Framework
from libs.events.schemas.hris import EmployeeHired
from libs.personal.vault import MasterKeys
from services.assessment.application import calibration
from services.assessment.service import build, definition
from tests.support import replica_seeding
from tests.support.servers import Nats
from tests.support.service_api import ServiceApi, in_process

SCHEMA = "assessment"


class AssessmentApi(ServiceApi):
    """The service's API, with seeding of its read models."""

    async def hire(self, *people: EmployeeHired) -> None:
        await replica_seeding.hire(self.store, *people)

    async def publish(self, framework_id: str, version: int, framework: Framework) -> None:
        await replica_seeding.publish(self.store, framework_id, version, framework)

    async def completed(self, session_id: str) -> CalibrationCompleted:
        """What completing the session published (its HTTP answer is a summary)."""
        stream = calibration.stream_of(session_id)
        decoded = [await self.store.decode(e) for e in await self.store.read_stream(stream)]
        [event] = [e for e in decoded if isinstance(e, CalibrationCompleted)]
        return event


@asynccontextmanager
async def assessment_api(
    database_url: str, keys_dir: Path, nats: Nats | None = None, master: MasterKeys | None = None
) -> AsyncIterator[AssessmentApi]:
    """`nats`: with the service's consumers and outbox relay (see `in_process`)."""
    migrations = definition.migrations
    async with in_process(
        AssessmentApi, build, SCHEMA, migrations, database_url, keys_dir, nats=nats, master=master
    ) as api:
        yield api
