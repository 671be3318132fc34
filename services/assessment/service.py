"""The assessment service.

360 campaigns, raters, submissions, anonymity, aggregation and calibration, on the published
framework versions it pins its work to and the org chart it keeps from HRIS events.
"""

from __future__ import annotations

from dataclasses import replace

from libs.platform.access import declare
from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.privacy.parts import privacy_parts
from libs.privacy.requests import MIGRATIONS as ERASURE_MIGRATIONS
from libs.replicas.cycles import MIGRATIONS as CYCLE_MIGRATIONS
from libs.replicas.cycles import KnownCycles
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from services.assessment.adapters import http, http_calibration, http_campaigns
from services.assessment.adapters.access import ACCESS
from services.assessment.adapters.activities import AssessmentActivities
from services.assessment.adapters.postgres import MIGRATIONS
from services.assessment.adapters.postgres.campaign_records import CampaignTables
from services.assessment.adapters.postgres.work import Database
from services.assessment.application.campaigns import Campaigns
from services.assessment.application.personal_data import AssessmentPersonalData

NAME = "assessment"


def build(runtime: Runtime) -> ServiceParts:
    api = create_api(NAME, __doc__ or "")
    api.include_router(http.router)
    http_campaigns.install(api)
    http_calibration.install(api)
    org_chart = OrgChart(runtime.name)
    api.state.org_chart = org_chart
    replica = FrameworkVersions(NAME)
    database = Database(runtime.store, org_chart, replica, CampaignTables(runtime.name))
    campaigns = Campaigns(runtime.store, database)
    api.state.campaigns = campaigns
    privacy = privacy_parts(NAME, runtime, api, AssessmentPersonalData(campaigns))
    parts = replica.install(api, runtime)
    declare(api, ACCESS)
    cycles = KnownCycles(NAME)
    activities = AssessmentActivities(campaigns, cycles, runtime.pool)
    return replace(
        parts,
        handlers=[
            *parts.handlers,
            *org_chart.handlers(NAME),
            *cycles.handlers(),
            *privacy.handlers,
        ],
        activities=[*parts.activities, *activities.all(), *privacy.activities],
    )


definition = ServiceDefinition(
    name=NAME,
    build=build,
    migrations=[
        FRAMEWORK_MIGRATIONS,
        ORG_CHART_MIGRATIONS,
        CYCLE_MIGRATIONS,
        ERASURE_MIGRATIONS,
        MIGRATIONS,
    ],
)
