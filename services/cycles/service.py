"""The cycle orchestrator: Temporal workflows for whole review cycles. Owns no business data."""

from __future__ import annotations

from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from services.cycles.adapters import http
from services.cycles.workflows.review_cycle import ReviewCycleWorkflow


def build(runtime: Runtime) -> ServiceParts:
    api = create_api("cycles", __doc__ or "")
    api.include_router(http.router)
    return ServiceParts(api=api, workflows=[ReviewCycleWorkflow])


definition = ServiceDefinition(name="cycles", build=build)
