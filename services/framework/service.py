"""The framework service: career frameworks and competency models, versioned."""

from __future__ import annotations

from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from services.framework.adapters import http
from services.framework.adapters.activities import FrameworkActivities


def build(runtime: Runtime) -> ServiceParts:
    api = create_api("framework", "Career frameworks and competency models, versioned.")
    api.include_router(http.router)
    activities = FrameworkActivities(runtime.store)
    return ServiceParts(api=api, activities=[activities.resolve_published_version])


definition = ServiceDefinition(name="framework", build=build)
