"""The development service.

Gaps, 70/20/10 development plans, the L&D catalog and re-assessment.

Thin slice so far: it keeps the published framework versions it will pin its work to.
"""

from __future__ import annotations

from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.replicas.framework_versions import MIGRATIONS, FrameworkVersions


def build(runtime: Runtime) -> ServiceParts:
    framework_versions = FrameworkVersions("development")
    api = create_api("development", __doc__ or "")
    return framework_versions.install(api, runtime)


definition = ServiceDefinition(name="development", build=build, migrations=[MIGRATIONS])
