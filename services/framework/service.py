"""The framework service: career frameworks and competency models, versioned."""

from __future__ import annotations

from libs.events.consumer import EventHandler
from libs.events.schemas.assessment import AnchorFindingsRecorded, InconsistentAnchorsFound
from libs.platform.access import declare
from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.privacy.parts import privacy_parts
from libs.privacy.requests import MIGRATIONS as ERASURE_MIGRATIONS
from services.framework.adapters import (
    authoring_http,
    cadence_http,
    http,
    prelaunch_http,
    upkeep_http,
)
from services.framework.adapters.access import ACCESS
from services.framework.adapters.activities import FrameworkActivities
from services.framework.adapters.cadence_schedule import check_on_schedule
from services.framework.adapters.postgres.published_versions import MIGRATIONS
from services.framework.adapters.postgres.work import Database
from services.framework.application.authoring import Authoring
from services.framework.application.cadence import FrameworkCadence
from services.framework.application.frameworks import Frameworks
from services.framework.application.personal_data import FrameworkPersonalData
from services.framework.application.prelaunch_calibrations import PrelaunchCalibrations
from services.framework.application.standard_terms import StandardTerms
from services.framework.application.upkeep import Upkeep
from services.framework.domain.cadence import CadencePolicy

NAME = "framework"


def build(runtime: Runtime) -> ServiceParts:
    api = create_api(
        NAME,
        "Career frameworks and competency models: drafts, published versions, as-of queries, "
        "diffs, effective role profiles, import and export, review cadence, standard terms.",
    )
    http.install(api)
    authoring_http.install(api)
    prelaunch_http.install(api)
    cadence_http.install(api)
    upkeep_http.install(api)
    database = Database(runtime.store)
    frameworks = Frameworks(runtime.store, database)
    api.state.frameworks = frameworks
    api.state.authoring = Authoring(runtime.store, frameworks)
    api.state.prelaunch_calibrations = PrelaunchCalibrations(runtime.store)
    upkeep = Upkeep(database)
    api.state.upkeep = upkeep
    settings = runtime.settings
    policy = CadencePolicy(
        review_months=settings.framework_review_months,
        major_revision_months=settings.framework_major_revision_months,
        at_risk_months=settings.framework_at_risk_months,
    )
    cadence = api.state.framework_cadence = FrameworkCadence(runtime.store, database, policy)
    api.state.standard_terms = StandardTerms(database)
    privacy = privacy_parts(NAME, runtime, api, FrameworkPersonalData(database))
    declare(api, ACCESS)
    activities = FrameworkActivities(frameworks)
    return ServiceParts(
        api=api,
        handlers=[
            EventHandler(
                NAME,
                "anchor-reviews",
                InconsistentAnchorsFound,
                database.consumer(frameworks.on_inconsistent_anchors),
            ),
            EventHandler(
                NAME,
                "calibration-findings",
                AnchorFindingsRecorded,
                database.consumer(upkeep.on_anchor_findings),
            ),
            *privacy.handlers,
        ],
        activities=[activities.resolve_published_version, *privacy.activities],
        background=[
            lambda stop: check_on_schedule(cadence, stop, settings.framework_cadence_interval)
        ],
    )


definition = ServiceDefinition(name=NAME, build=build, migrations=[ERASURE_MIGRATIONS, MIGRATIONS])
