"""The development service.

Gaps, 70/20/10 development plans, the L&D catalog from the LMS, and re-assessment: whether
people's scores moved between cycles, and which courses did not move them.
"""

from __future__ import annotations

from dataclasses import replace

from libs.events.consumer import EventHandler
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.lms import CourseCatalogUpdated, CourseCompleted
from libs.platform.access import declare
from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.privacy.parts import privacy_parts
from libs.privacy.requests import MIGRATIONS as ERASURE_MIGRATIONS
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from services.development.adapters import http
from services.development.adapters.access import ACCESS
from services.development.adapters.activities import DevelopmentActivities
from services.development.adapters.postgres import MIGRATIONS
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development
from services.development.application.goals import Goals
from services.development.application.personal_data import DevelopmentPersonalData

NAME = "development"


def build(runtime: Runtime) -> ServiceParts:
    api = create_api(NAME, __doc__ or "")
    http.install(api)
    org_chart = OrgChart(runtime.name)
    replica = FrameworkVersions(NAME)
    database = Database(runtime.store, org_chart, replica)
    development = Development(database)
    api.state.development = development
    api.state.goals = Goals(database)
    privacy = privacy_parts(NAME, runtime, api, DevelopmentPersonalData(database))
    parts = replica.install(api, runtime)
    declare(api, ACCESS)
    handlers = [
        EventHandler(
            NAME,
            "calibrations",
            CalibrationCompleted,
            database.consumer(development.on_calibration),
        ),
        EventHandler(
            NAME, "course-catalog", CourseCatalogUpdated, database.consumer(development.on_catalog)
        ),
        EventHandler(
            NAME,
            "course-completions",
            CourseCompleted,
            database.consumer(development.on_completion),
        ),
    ]
    return replace(
        parts,
        handlers=[*parts.handlers, *org_chart.handlers(NAME), *privacy.handlers, *handlers],
        activities=[
            *parts.activities,
            *DevelopmentActivities(development).all(),
            *privacy.activities,
        ],
    )


definition = ServiceDefinition(
    name=NAME,
    build=build,
    migrations=[FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, ERASURE_MIGRATIONS, MIGRATIONS],
)
