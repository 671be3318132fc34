"""The framework service: career frameworks and competency models, versioned."""

from __future__ import annotations

from libs.platform.access import declare
from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from services.framework.adapters import http
from services.framework.adapters.access import ACCESS
from services.framework.adapters.activities import FrameworkActivities
from services.framework.adapters.postgres.anchor_reviews import AnchorReviews
from services.framework.adapters.postgres.published_versions import (
    MIGRATIONS,
    PublishedVersions,
)


def build(runtime: Runtime) -> ServiceParts:
    api = create_api(
        "framework",
        "Career frameworks and competency models: drafts, published versions, as-of queries, "
        "diffs, effective role profiles, import and export.",
    )
    http.install(api)
    declare(api, ACCESS)
    versions = PublishedVersions(runtime.pool, runtime.name)
    api.state.published_versions = versions
    reviews = AnchorReviews(runtime.name)
    api.state.anchor_reviews = reviews
    activities = FrameworkActivities(versions)
    return ServiceParts(
        api=api,
        handlers=reviews.handlers("framework"),
        activities=[activities.resolve_published_version],
    )


definition = ServiceDefinition(name="framework", build=build, migrations=[MIGRATIONS])
