"""The cycle orchestrator: Temporal workflows for whole review cycles. Owns no business data:
its event log holds only the cycles' stage transitions, published for integrators."""

from __future__ import annotations

from libs.platform.access import declare
from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from services.cycles.adapters import http
from services.cycles.adapters.access import ACCESS
from services.cycles.adapters.activities import stage_activity
from services.cycles.adapters.signals import CycleSignals
from services.cycles.workflows.review_cycle import ReviewCycleWorkflow

NAME = "cycles"


def build(runtime: Runtime) -> ServiceParts:
    api = create_api(NAME, __doc__ or "")
    api.include_router(http.router)
    declare(api, ACCESS)
    return ServiceParts(
        api=api,
        handlers=CycleSignals(runtime.temporal, NAME).handlers(),
        activities=[stage_activity(runtime.store, f"service:{NAME}")],
        workflows=[ReviewCycleWorkflow],
    )


definition = ServiceDefinition(name=NAME, build=build)
