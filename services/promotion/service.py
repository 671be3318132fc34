"""The promotion service.

Promotion criteria, readiness, decisions and the tamper-evident decision log. So far: the
published framework versions it pins its work to, and the decision log's storage, verified
with `talentledger audit verify`.
"""

from __future__ import annotations

from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.framework_versions import FrameworkVersions
from services.promotion.adapters.postgres import MIGRATIONS

NAME = "promotion"


def build(runtime: Runtime) -> ServiceParts:
    return FrameworkVersions(NAME).install(create_api(NAME, __doc__ or ""), runtime)


definition = ServiceDefinition(
    name=NAME, build=build, migrations=[FRAMEWORK_MIGRATIONS, MIGRATIONS]
)
