"""The cycle orchestrator: Temporal workflows for whole review cycles, and for requests about
a person's data. Owns no business data: its event log holds the cycles' stage transitions and
the privacy requests' records, published for integrators, and the events outside systems
(HRIS, LMS) publish on the intake, which it admits as they were given, their personal fields
sealed, for its relay to publish to the services (libs/events/intake.py)."""

from __future__ import annotations

from libs.events.intake import OUTSIDE_CONTEXTS
from libs.platform.access import declare
from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.privacy.requests import MIGRATIONS as ERASURE_REQUESTS
from libs.privacy.requests import KnownErasures
from libs.workflows.messages import erasure_workflow_id
from services.cycles.adapters import http, privacy_http
from services.cycles.adapters.access import ACCESS
from services.cycles.adapters.activities import cycle_stream, stage_activity
from services.cycles.adapters.privacy_activities import erasure_activities
from services.cycles.adapters.privacy_http import ACCESS_REQUEST_STREAM
from services.cycles.adapters.signals import CycleSignals
from services.cycles.workflows.person_erasure import PersonErasureWorkflow
from services.cycles.workflows.review_cycle import ReviewCycleWorkflow

NAME = "cycles"


def build(runtime: Runtime) -> ServiceParts:
    api = create_api(NAME, __doc__ or "")
    api.include_router(http.router)
    api.include_router(privacy_http.router)
    declare(api, ACCESS)
    erasures = KnownErasures(NAME)
    return ServiceParts(
        api=api,
        handlers=[*CycleSignals(runtime.temporal, NAME).handlers(), *erasures.handlers()],
        activities=[
            stage_activity(runtime.store, f"service:{NAME}"),
            *erasure_activities(runtime.store, runtime.pool, erasures, runtime.store.keys.forget),
        ],
        workflows=[ReviewCycleWorkflow, PersonErasureWorkflow],
        admits=OUTSIDE_CONTEXTS,
        own_streams=(cycle_stream(""), erasure_workflow_id(""), ACCESS_REQUEST_STREAM),
    )


definition = ServiceDefinition(name=NAME, build=build, migrations=(ERASURE_REQUESTS,))
