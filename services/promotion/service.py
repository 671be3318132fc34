"""The promotion service.

Promotion criteria, readiness, decisions and the tamper-evident decision log.

Thin slice so far: it keeps the published framework versions it will pin its work to.
"""

from __future__ import annotations

from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.replicas.framework_versions import MIGRATIONS, FrameworkVersions


def build(runtime: Runtime) -> ServiceParts:
    framework_versions = FrameworkVersions("promotion")
    api = create_api("promotion", __doc__ or "")
    return framework_versions.install(api, runtime)


definition = ServiceDefinition(name="promotion", build=build, migrations=[MIGRATIONS])
