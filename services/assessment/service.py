"""The assessment service.

360 campaigns, raters, submissions, anonymity, aggregation and calibration.

Thin slice so far: it keeps the published framework versions it will pin its work to.
"""

from __future__ import annotations

from libs.platform.runtime import Runtime, ServiceDefinition, ServiceParts, create_api
from libs.replicas.framework_versions import MIGRATIONS, FrameworkVersions


def build(runtime: Runtime) -> ServiceParts:
    framework_versions = FrameworkVersions("assessment")
    api = create_api("assessment", __doc__ or "")
    return framework_versions.install(api, runtime)


definition = ServiceDefinition(name="assessment", build=build, migrations=[MIGRATIONS])
